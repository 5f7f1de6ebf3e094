// Webhooks against a real HTTP receiver on loopback that is down (connection refused, then HTTP
// 500) for a while and comes back: it must get every event, in order per call, correctly signed.
// The retry backoff is shortened (50 ms doubling to 200 ms) so the outage lasts seconds, not the
// ten minutes the product is specified for; the mechanism (durable outbox, per-lane order) is the same.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/events.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { playCall, startApp, waitFor, type App } from './appHarness.js';

const SECRET = 'whsec_integration';
const apps: App[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const a of apps) {
    await a.endpoint.stop();
  }
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await stopAll();
});

interface Received {
  event: CallEvent;
  signatureOk: boolean;
  delivery: string;
}

/** A webhook receiver that answers 500 to its first `failFirst` requests, then 200. */
async function receiver(
  port: number,
  failFirst: number,
): Promise<{ received: Received[]; requests: () => number }> {
  const received: Received[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (requests <= failFirst) {
        res.writeHead(500).end('not today');
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      // Verify the way a receiver would: HMAC-SHA256 over "<t>.<raw body>".
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['x-sipscribe-signature']));
      const mac = m ? createHmac('sha256', SECRET).update(`${m[1]}.${body}`).digest() : Buffer.alloc(32);
      const signatureOk = m !== null && timingSafeEqual(mac, Buffer.from(m[2] ?? '', 'hex'));
      received.push({
        event: JSON.parse(body) as CallEvent,
        signatureOk,
        delivery: String(req.headers['x-sipscribe-delivery']),
      });
      res.writeHead(204).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { received, requests: () => requests };
}

/** The events of a call a webhook subscribed to the default types must get, from its JSONL file. */
function expectedFor(app: App, callId: string): [number, string][] {
  return readFileSync(join(app.storageDir, 'calls', `${callId}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CallEvent)
    .filter((e) => ['call.started', 'transcript.utterance', 'call.ended'].includes(e.type))
    .map((e) => [e.seq, e.type]);
}

async function errorsCounted(app: App): Promise<number> {
  const text = await app.endpoint.metrics.registry.getSingleMetricAsString(
    'sipscribe_webhook_deliveries_total',
  );
  return Number(/result="error"} (\d+)/.exec(text)?.[1] ?? 0);
}

const hookConfig = (port: number): Record<string, unknown> => ({
  webhooks: [
    {
      url: `http://127.0.0.1:${port}/hook`,
      secret: SECRET,
      retry: { minDelayMs: 50, maxDelayMs: 200 },
    },
  ],
});

describe('webhooks', () => {
  it('a receiver that is refused, then fails, then recovers gets every event in order', async () => {
    const hookPort = await freePort();
    const app = await startApp('webhooks', hookConfig(hookPort));
    apps.push(app);
    const a = playCall(app.endpoint, ['hello this is alice', 'please call me back']);
    const b = playCall(app.endpoint, ['second call'], { meta: { from: 'sip:bob@127.0.0.1' } });
    // Connection refused for a while: several failed attempts per lane.
    await waitFor(async () => (await errorsCounted(app)) >= 6, 'failed attempts while the receiver is down');
    // Then the receiver is up but answers 500 five times, then accepts.
    const rx = await receiver(hookPort, 5);
    const total = expectedFor(app, a).length + expectedFor(app, b).length;
    await waitFor(() => rx.received.length >= total, 'every event at the receiver');
    await waitFor(
      () =>
        app.endpoint.metrics.registry
          .getSingleMetricAsString('sipscribe_webhook_backlog')
          .then((t) => !/sipscribe_webhook_backlog\{[^}]*\} [1-9]/.test(t)),
      'an empty backlog',
    );

    const got = (id: string): [number, string][] =>
      rx.received.filter((r) => r.event.callId === id).map((r) => [r.event.seq, r.event.type]);
    expect(got(a)).toEqual(expectedFor(app, a));
    expect(got(b)).toEqual(expectedFor(app, b));
    expect(expectedFor(app, a).map(([, t]) => t)).toEqual([
      'call.started',
      'transcript.utterance',
      'transcript.utterance',
      'call.ended',
    ]);
    expect(rx.received.every((r) => r.signatureOk)).toBe(true);
    expect(new Set(rx.received.map((r) => r.delivery)).size).toBe(total);
    const ended = rx.received.find((r) => r.event.callId === a && r.event.type === 'call.ended')?.event;
    expect(ended).toMatchObject({
      reason: 'bye-remote',
      transcript: [{ text: 'hello this is alice' }, { text: 'please call me back' }],
    });
    expect(rx.requests()).toBe(total + 5);
  });

  it('the outbox survives a restart: events queued while down are delivered by the next process', async () => {
    const hookPort = await freePort();
    const first = await startApp('webhooks-restart', hookConfig(hookPort));
    const id = playCall(first.endpoint, ['before the restart']);
    await waitFor(async () => (await errorsCounted(first)) >= 2, 'failed attempts');
    const expected = expectedFor(first, id);
    await first.endpoint.stop();

    const rx = await receiver(hookPort, 0);
    const second = await startApp(
      'webhooks-restart',
      hookConfig(hookPort),
      {},
      {
        dir: first.dir,
        port: Number(new URL(first.base).port),
      },
    );
    apps.push(second);
    await waitFor(() => rx.received.length >= expected.length, 'the queued events after restart');
    expect(rx.received.map((r) => [r.event.seq, r.event.type])).toEqual(expected);
    expect(rx.received.every((r) => r.event.callId === id && r.signatureOk)).toBe(true);
  });

  it('a stop while the receiver holds a request open lets it finish: every event arrives once, none again after the restart', async () => {
    const hookPort = await freePort();
    // The receiver records each delivery as it arrives and holds the first one open.
    const got: string[] = [];
    let held: ServerResponse | null = null;
    let cut = false;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        got.push(
          `${String(req.headers['x-sipscribe-delivery'])} ${String(req.headers['x-sipscribe-event'])}`,
        );
        if (held === null) {
          held = res;
          res.on('close', () => (cut = !res.writableFinished));
          return;
        }
        res.writeHead(204).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(hookPort, '127.0.0.1', resolve));

    const first = await startApp('webhooks-stop', hookConfig(hookPort));
    const id = playCall(first.endpoint, ['held while the instance stops']);
    const request = (await waitFor(() => held, 'the request the receiver holds')) as ServerResponse;
    const stopping = first.endpoint.stop();
    await waitFor(
      () =>
        cut ||
        readFileSync(join(first.dir, 'sipscribe.log'), 'utf8').includes(
          'stopping: waiting for the webhook requests in flight',
        ),
      'the stop waiting for the request in flight (or cutting it)',
    );
    expect(cut).toBe(false);
    request.writeHead(204).end();
    await stopping;
    const expected = expectedFor(first, id).map(([seq, type]) => `${id}:${seq} ${type}`);
    expect(got).toEqual(expected.slice(0, 1));

    const second = await startApp(
      'webhooks-stop',
      hookConfig(hookPort),
      {},
      { dir: first.dir, port: Number(new URL(first.base).port) },
    );
    apps.push(second);
    await waitFor(() => got.length >= expected.length, 'the rest of the events after the restart');
    await waitFor(
      () =>
        second.endpoint.metrics.registry
          .getSingleMetricAsString('sipscribe_webhook_backlog')
          .then((t) => !/sipscribe_webhook_backlog\{[^}]*\} [1-9]/.test(t)),
      'an empty backlog',
    );
    expect(got).toEqual(expected);
  });
});
