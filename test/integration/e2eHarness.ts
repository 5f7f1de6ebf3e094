// End-to-end setup: the whole product (SIP + RTP + STT + storage + webhooks + HTTP) started in this
// process on free loopback ports, the fake moshi-server, a webhook receiver and a live-feed client.
import { createHmac } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { WebSocket } from 'ws';
import { startAppliance, type Appliance } from '../../src/appliance.js';
import { parseConfig } from '../../src/config.js';
import type { CallEvent } from '../../src/events.js';
import {
  FakeMoshiServer,
  synthesizeSpeech,
  type FakeMoshiOptions,
  type FakeStream,
} from '../helpers/fakeMoshiServer.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { run } from '../helpers/processes.js';

export const WEBHOOK_SECRET = 'whsec_e2e';

export interface Hook {
  event: CallEvent;
  signatureOk: boolean;
}

export interface E2e {
  app: Appliance;
  fake: FakeMoshiServer;
  dir: string;
  storageDir: string;
  base: string;
  sipPort: number;
  rtpMin: number;
  rtpMax: number;
  hooks: Hook[];
  /** The URL of this environment's webhook receiver (null with `webhook: false`). */
  hookUrl: string | null;
  live: CallEvent[];
  liveSocket: WebSocket | null;
  /** Stops the appliance (if not yet), the receiver, the live client and the fake. */
  close(): Promise<void>;
}

/** Recomputes the HMAC the way a receiver does (README, "Webhooks"). */
function signatureOk(header: string | undefined, body: string): boolean {
  const m = /t=(\d+),v1=([0-9a-f]{64})/.exec(header ?? '');
  if (!m) {
    return false;
  }
  const mac = createHmac('sha256', WEBHOOK_SECRET).update(`${m[1]}.${body}`).digest('hex');
  return mac === m[2];
}

export async function startE2e(
  name: string,
  overrides: Record<string, unknown> = {},
  opts: { fake?: FakeMoshiOptions; live?: boolean; webhook?: boolean; rtpPorts?: number } = {},
): Promise<E2e> {
  const dir = runDir(name);
  const storageDir = join(dir, 'data');
  const fake = await FakeMoshiServer.start(opts.fake ?? {});
  const hooks: Hook[] = [];
  let receiver: Server | null = null;
  let hookPort = 0;
  if (opts.webhook ?? true) {
    hookPort = await freePort();
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const sig = req.headers['x-sipscribe-signature'];
        hooks.push({
          event: JSON.parse(body) as CallEvent,
          signatureOk: signatureOk(typeof sig === 'string' ? sig : undefined, body),
        });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver!.listen(hookPort, '127.0.0.1', r));
  }
  const sipPort = await freePort();
  const httpPort = await freePort();
  const rtpSpan = opts.rtpPorts ?? 64;
  const rtpMin = await freePort('127.0.0.1', rtpSpan);
  const rtpMax = rtpMin + rtpSpan - 1;
  const config = parseConfig({
    sip: {
      listen: [
        { transport: 'udp', host: '127.0.0.1', port: sipPort },
        { transport: 'tcp', host: '127.0.0.1', port: sipPort },
      ],
      ...(overrides['sip'] as object | undefined),
    },
    rtp: {
      host: '127.0.0.1',
      portMin: rtpMin,
      portMax: rtpMax,
      ...(overrides['rtp'] as object | undefined),
    },
    stt: {
      servers: [{ url: fake.url, apiKey: 'public_token' }],
      // No warm connections: the tests count the fake's slots and streams per call.
      warm: { perServer: 0 },
      ...(overrides['stt'] as object | undefined),
    },
    storage: { dir: storageDir, ...(overrides['storage'] as object | undefined) },
    webhooks:
      overrides['webhooks'] ??
      (receiver
        ? [
            {
              url: `http://127.0.0.1:${hookPort}/hook`,
              secret: WEBHOOK_SECRET,
              retry: { minDelayMs: 50, maxDelayMs: 200 },
            },
          ]
        : []),
    http: { host: '127.0.0.1', port: httpPort },
    ...(overrides['ingress'] ? { ingress: overrides['ingress'] } : {}),
    ...(overrides['shutdown'] ? { shutdown: overrides['shutdown'] } : {}),
    log: { level: 'debug' },
  });
  const logger = pino({ level: 'debug' }, createWriteStream(join(dir, 'sipscribe.log'), { flags: 'a' }));
  const app = await startAppliance(config, logger, { consoleOut: { write: () => true, isTTY: false } });
  const base = `http://127.0.0.1:${httpPort}`;
  const live: CallEvent[] = [];
  let liveSocket: WebSocket | null = null;
  if (opts.live ?? true) {
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/api/live`);
    liveSocket = ws;
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as { type?: string };
      if (typeof msg.type === 'string' && msg.type.includes('.')) {
        live.push(msg as CallEvent);
      } else if (msg.type === 'dtmf') {
        live.push(msg as CallEvent);
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
  }
  let closed = false;
  return {
    app,
    fake,
    dir,
    storageDir,
    base,
    sipPort,
    rtpMin,
    rtpMax,
    hooks,
    hookUrl: receiver ? `http://127.0.0.1:${hookPort}/hook` : null,
    live,
    liveSocket,
    async close(): Promise<void> {
      if (closed) {
        return;
      }
      closed = true;
      liveSocket?.terminate();
      await app.stop(5000);
      if (receiver) {
        receiver.closeAllConnections();
        await new Promise((r) => receiver.close(r));
      }
      await fake.stop();
    },
  };
}

/**
 * Another start of the product on an environment's storage (a restart after `e2e.app.stop()`), on
 * fresh ports, logging to `<e2e.dir>/<name>.log`; UDP SIP only. The caller stops the appliance.
 */
export async function startAgain(
  e2e: Pick<E2e, 'dir' | 'storageDir'>,
  name: string,
  overrides: { stt: Record<string, unknown>; storage?: Record<string, unknown> },
): Promise<{ app: Appliance; sipPort: number }> {
  const sipPort = await freePort();
  const httpPort = await freePort();
  const rtpMin = await freePort('127.0.0.1', 16);
  const config = parseConfig({
    sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort }] },
    rtp: { host: '127.0.0.1', portMin: rtpMin, portMax: rtpMin + 15 },
    stt: { warm: { perServer: 0 }, ...overrides.stt },
    storage: { dir: e2e.storageDir, ...overrides.storage },
    http: { host: '127.0.0.1', port: httpPort },
    log: { level: 'debug' },
  });
  const logger = pino({ level: 'debug' }, createWriteStream(join(e2e.dir, `${name}.log`), { flags: 'a' }));
  const app = await startAppliance(config, logger, { consoleOut: { write: () => true, isTTY: false } });
  return { app, sipPort };
}

/** The non-empty words the fake server sent on `stream`, in order: what the product must deliver. */
export function wordsSentBy(stream: FakeStream): string[] {
  return stream.sent
    .filter((m) => m['type'] === 'Word' && typeof m['text'] === 'string' && m['text'] !== '')
    .map((m) => m['text'] as string);
}

/** Rows of the product's SQLite database (read-only). */
export function dbRows<T>(storageDir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(storageDir, 'sipscribe.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export function jsonlEvents(storageDir: string, callId: string): CallEvent[] {
  const file = join(storageDir, 'calls', `${callId}.jsonl`);
  if (!existsSync(file)) {
    return [];
  }
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CallEvent);
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) {
    throw new Error(`${url}: HTTP ${res.status}`);
  }
  return (await res.json()) as T;
}

/** Number of 80 ms frames with audible signal (RMS ≥ 0.01) in `pcm` (24 kHz). */
export function audibleFrames(pcm: Float32Array): number {
  let n = 0;
  for (let f = 0; f + 1920 <= pcm.length; f += 1920) {
    let e = 0;
    for (let i = f; i < f + 1920; i++) {
      e += (pcm[i] ?? 0) ** 2;
    }
    if (Math.sqrt(e / 1920) >= 0.01) {
      n++;
    }
  }
  return n;
}

/** Polls `fn` until it returns a value (not undefined/null/false); a generous deadline, no timing assertion. */
export async function until<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** UDP ports this process has bound within [min, max] (from `ss`, outside the code under test). */
export async function boundUdpPorts(min: number, max: number): Promise<number[]> {
  // Only this process's sockets: other programs on the machine (peers of other test files, other
  // engineers' tests) may take an ephemeral port inside the range after it was chosen.
  const { output } = await run('ss', 'ss', ['-lunpH'], { timeoutMs: 5000 });
  const ports: number[] = [];
  for (const line of output.split('\n')) {
    const m = /\S+:(\d+)\s+\S+:\*/.exec(line);
    const p = Number(m?.[1]);
    if (p >= min && p <= max && line.includes(`pid=${process.pid},`)) {
      ports.push(p);
    }
  }
  return ports;
}

/** The RTP port range the e2e config uses. */
export function rtpRange(e2e: E2e): { min: number; max: number } {
  return { min: e2e.rtpMin, max: e2e.rtpMax };
}

/** A 16-bit mono WAV file, written by hand (RIFF header, little-endian samples). */
export function writeWav16(path: string, rate: number, samples: Float32Array): void {
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((v, i) =>
    data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32767))), i * 2),
  );
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([h, data]));
}

/** Whether `sub` appears in `seq` in order (other words may sit between). */
export function isSubsequence(sub: readonly string[], seq: readonly string[]): boolean {
  let i = 0;
  for (const w of seq) {
    if (w === sub[i]) {
      i++;
    }
  }
  return i === sub.length;
}

/**
 * The fake STT's tone "speech" for `words` (6 frames each, 4 frames of silence around), written
 * at 24 kHz and converted by sox to a 16-bit mono 8 kHz WAV (the phone-line form); returns its path.
 */
export async function scriptWav8k(dir: string, words: readonly string[]): Promise<string> {
  const frames = synthesizeSpeech([
    { silence: 4 },
    ...words.flatMap((word) => [{ word, frames: 6 }, { silence: 4 }]),
  ]);
  const pcm = new Float32Array(frames.length * 1920);
  frames.forEach((f, i) => pcm.set(f, i * 1920));
  const wav24k = join(dir, 'script_24k.wav');
  const wav8k = join(dir, 'script_8k.wav');
  writeWav16(wav24k, 24_000, pcm);
  const sox = await run('sox', 'sox', [wav24k, '-r', '8000', wav8k], { timeoutMs: 20_000 });
  if (sox.code !== 0) {
    throw new Error(`sox failed: ${sox.output}`);
  }
  return wav8k;
}
