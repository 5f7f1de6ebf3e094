// Shared setup for the appliance's integration tests: an endpoint started in this process on a
// free loopback port with its own storage folder, and a way to play a call through it.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../src/config.js';
import { startEndpoint, type Endpoint, type EndpointDeps } from '../../src/endpoint.js';
import type { CallMeta } from '../../src/events.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';

export const META: CallMeta = {
  sipCallId: '9e1f2c3d@127.0.0.1',
  from: '"Alice" <sip:alice@127.0.0.1>',
  to: 'sip:transcribe@127.0.0.1',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '127.0.0.1:5062',
};

export interface App {
  endpoint: Endpoint;
  base: string;
  dir: string;
  storageDir: string;
}

/** Starts an endpoint (HTTP on a free port, storage in a fresh run folder) with config overrides. */
export async function startApp(
  name: string,
  overrides: Record<string, unknown> = {},
  deps: EndpointDeps = {},
  reuse?: { dir: string; port: number },
): Promise<App> {
  const dir = reuse?.dir ?? runDir(name);
  const port = reuse?.port ?? (await freePort());
  const storageDir = join(dir, 'data');
  const config = parseConfig({
    ...overrides,
    http: { host: '127.0.0.1', port, ...(overrides['http'] as object | undefined) },
    storage: { ...(overrides['storage'] as object | undefined), dir: storageDir },
  });
  const logger = pino({ level: 'debug' }, createWriteStream(join(dir, 'sipscribe.log'), { flags: 'a' }));
  const endpoint = await startEndpoint(config, logger, {
    consoleOut: { write: () => true, isTTY: false },
    ...deps,
  });
  return { endpoint, base: `http://127.0.0.1:${port}`, dir, storageDir };
}

/** Plays a short answered call through the registry and bus; returns its id. */
export function playCall(
  endpoint: Endpoint,
  utterances: readonly string[],
  opts: { meta?: Partial<CallMeta>; end?: boolean } = {},
): string {
  const { calls, bus } = endpoint;
  const { id } = calls.create({ ...META, ...opts.meta });
  calls.transition(id, 'ringing');
  calls.transition(id, 'answered');
  calls.transition(id, 'streaming');
  let t = 200;
  for (const text of utterances) {
    const words = text.split(' ').map((w) => {
      const word = { text: w, startMs: t, endMs: t + 300 };
      t += 320;
      return word;
    });
    for (const w of words) {
      bus.publish(id, { type: 'transcript.word', text: w.text, startMs: w.startMs, channel: 'caller' });
    }
    bus.publish(id, {
      type: 'transcript.utterance',
      text,
      startMs: words[0]?.startMs ?? t,
      endMs: words[words.length - 1]?.endMs ?? t,
      words,
      channel: 'caller',
      final: true,
    });
    t += 500;
  }
  if (opts.end ?? true) {
    endCall(endpoint, id);
  }
  return id;
}

export function endCall(endpoint: Endpoint, id: string): void {
  endpoint.calls.transition(id, 'ending', { reason: 'bye-remote' });
  endpoint.calls.transition(id, 'ended');
}

/** Polls `fn` until it returns a truthy value (no timing assertions: only a generous deadline). */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
