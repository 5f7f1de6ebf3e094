/**
 * The webhook outbox shared through PostgreSQL: instances claiming rows together deliver each
 * exactly once and each call's rows in order; a claim of an instance that died passes to another
 * after its lease; an instance stopped while a request is out finishes it (no repeat).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent, CallMeta } from '../../src/events.js';
import { openPostgres, type PgPool } from '../../src/storage/postgres.js';
import { PgOutbox } from '../../src/webhooks/PgOutbox.js';
import { WebhookDispatcher, type HttpPost } from '../../src/webhooks/WebhookDispatcher.js';
import { wallClock } from '../../lib/clock.js';
import pino from 'pino';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.js';
import { stopAll } from '../helpers/processes.js';

const META: CallMeta = {
  sipCallId: 'a84b4c76e66710@192.0.2.4',
  from: 'sip:alice@example.com',
  to: 'sip:1001@192.0.2.10',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '192.0.2.4:5060',
};
const URL_A = 'https://crm.example.com/hook';
const URL_B = 'https://audit.example.com/hook';

function utterance(callId: string, seq: number): CallEvent {
  return {
    type: 'transcript.utterance',
    text: `utterance ${seq}`,
    startMs: seq * 1000,
    endMs: seq * 1000 + 500,
    words: [],
    channel: 'caller',
    final: true,
    seq,
    callId,
    at: '2026-03-01T10:00:00.000Z',
    offsetMs: seq * 1000,
    call: META,
  };
}

let cluster: PostgresCluster;
const pools: PgPool[] = [];

beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await cluster?.stop();
  await stopAll();
});

async function instances(db: string, n: number, leaseMs = 30_000): Promise<PgOutbox[]> {
  const url = await cluster.createDatabase(db);
  const out: PgOutbox[] = [];
  for (let i = 0; i < n; i++) {
    const pool = await openPostgres(url, { max: 4 });
    pools.push(pool);
    out.push(new PgOutbox(pool, `instance-${i + 1}`, leaseMs));
  }
  return out;
}

describe('PgOutbox', () => {
  it('three instances delivering together send every row once, each call in order', async () => {
    const [one, two, three] = await instances('outbox_race', 3);
    const now = Date.UTC(2026, 2, 1);
    for (let seq = 1; seq <= 20; seq++) {
      for (const call of ['c1', 'c2', 'c3', 'c4']) {
        await one!.enqueueAll([URL_A, URL_B], utterance(call, seq), now);
      }
    }
    const received: { url: string; callId: string; seq: number; by: string }[] = [];
    async function deliverLoop(outbox: PgOutbox, by: string): Promise<void> {
      for (;;) {
        const [a, b] = await Promise.all([outbox.claim(URL_A, now, 3), outbox.claim(URL_B, now, 3)]);
        const rows = [...a, ...b];
        if (rows.length === 0) {
          const backlog = await outbox.backlog();
          if (Object.keys(backlog).length === 0) {
            return;
          }
          // Other instances hold the heads: ask again once they had a turn.
          await new Promise((r) => setImmediate(r));
          continue;
        }
        for (const row of rows) {
          received.push({ url: row.url, callId: row.call_id, seq: row.seq, by });
          expect(await outbox.delivered(row.id)).toBe(true);
        }
      }
    }
    await Promise.all([deliverLoop(one!, 'one'), deliverLoop(two!, 'two'), deliverLoop(three!, 'three')]);
    expect(received).toHaveLength(20 * 4 * 2);
    for (const url of [URL_A, URL_B]) {
      for (const call of ['c1', 'c2', 'c3', 'c4']) {
        const seqs = received.filter((r) => r.url === url && r.callId === call).map((r) => r.seq);
        expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      }
    }
    // The work was shared (not one instance doing everything while the others idled).
    expect(new Set(received.map((r) => r.by)).size).toBeGreaterThan(1);
  });

  it('a claim held by an instance that died passes to another after the lease; the lane waits till then', async () => {
    const [dying, alive] = await instances('outbox_lease', 2, 10_000);
    const now = Date.UTC(2026, 2, 1);
    await alive!.enqueueAll([URL_A], utterance('c1', 1), now);
    await alive!.enqueueAll([URL_A], utterance('c1', 2), now);
    const [held] = await dying!.claim(URL_A, now, 10);
    expect(held).toMatchObject({ call_id: 'c1', seq: 1 });
    // Within the lease neither the held head nor the row after it is offered.
    expect(await alive!.claim(URL_A, now + 9_999, 10)).toEqual([]);
    expect(await alive!.nextDueAt(URL_A)).toBe(now + 10_000);
    const [taken] = await alive!.claim(URL_A, now + 10_000, 10);
    expect(taken).toMatchObject({ id: held!.id, seq: 1 });
    // The instance that lost its claim cannot delete the row (it is someone else's now).
    expect(await dying!.delivered(held!.id)).toBe(false);
    expect(await alive!.delivered(taken!.id)).toBe(true);
    expect((await alive!.claim(URL_A, now + 10_000, 10)).map((r) => r.seq)).toEqual([2]);
  });

  it('a failed attempt lets the claim go and waits for its retry time; a dead row lets the lane move on', async () => {
    const [one, two] = await instances('outbox_retry', 2);
    const now = Date.UTC(2026, 2, 1);
    await one!.enqueueAll([URL_A], utterance('c1', 1), now);
    await one!.enqueueAll([URL_A], utterance('c1', 2), now);
    const [first] = await one!.claim(URL_A, now, 10);
    await one!.failed(first!.id, 'HTTP 503', now + 1000);
    expect(await two!.claim(URL_A, now + 999, 10)).toEqual([]);
    const [retry] = await two!.claim(URL_A, now + 1000, 10);
    expect(retry).toMatchObject({ id: first!.id, attempts: 1, last_error: 'HTTP 503' });
    await two!.dead(retry!.id, 'gave up');
    expect((await one!.claim(URL_A, now + 1000, 10)).map((r) => r.seq)).toEqual([2]);
    expect(await one!.backlog()).toEqual({ [URL_A]: 1 });
  });

  it('two dispatchers on one database deliver every event once, each call in order; a stopped one finishes the request it had sent and leaves its other rows to the other', async () => {
    const [one, two] = await instances('outbox_dispatch', 2);
    // What the receiver got, counted when each request arrives (before it answers).
    const received: { callId: string; seq: number; by: string }[] = [];
    const expected = 4 * 10;
    let done: () => void = () => undefined;
    const all = new Promise<void>((r) => (done = r));
    let hold = true;
    let held: { signal: AbortSignal; answer: () => void } | null = null;
    let holding: () => void = () => undefined;
    const holds = new Promise<void>((r) => (holding = r));
    const post =
      (by: string): HttpPost =>
      async (_url, body, _headers, signal) => {
        const e = JSON.parse(body) as CallEvent;
        received.push({ callId: e.callId, seq: e.seq, by });
        if (received.length === expected) {
          done();
        }
        if (by === 'one' && hold) {
          // The receiver holds instance one's first request open until the test answers it.
          hold = false;
          await new Promise<void>((resolve, reject) => {
            held = { signal, answer: resolve };
            holding();
            signal.addEventListener('abort', () => reject(new Error('This operation was aborted')));
          });
          return 200;
        }
        await new Promise((r) => setImmediate(r));
        return 200;
      };
    const target = { url: URL_A, secret: 'k', events: [] };
    const d1 = new WebhookDispatcher({
      outbox: one!,
      targets: [target],
      clock: wallClock,
      logger: pino({ level: 'silent' }),
      post: post('one'),
      stopGraceMs: 60_000,
    });
    const d2 = new WebhookDispatcher({
      outbox: two!,
      targets: [target],
      clock: wallClock,
      logger: pino({ level: 'silent' }),
      post: post('two'),
    });
    const now = Date.now();
    for (let seq = 1; seq <= 10; seq++) {
      for (const call of ['c1', 'c2', 'c3', 'c4']) {
        await one!.enqueueAll([URL_A], utterance(call, seq), now);
      }
    }
    d1.start();
    d2.start();
    // Instance one is stopped while the receiver holds one of its requests: the request is not
    // cut, and the rest of that call waits for it while the other instance delivers the others.
    await holds;
    const stopping = d1.stop();
    d2.notify();
    await d2.idle();
    const heldRequest = held as { signal: AbortSignal; answer: () => void } | null;
    expect(heldRequest?.signal.aborted).toBe(false);
    heldRequest?.answer();
    await stopping;
    d2.notify();
    await all;
    await d2.idle();
    await d2.stop();
    // Each event reached the receiver exactly once: none was sent again after the stop.
    for (const call of ['c1', 'c2', 'c3', 'c4']) {
      expect(received.filter((r) => r.callId === call).map((r) => r.seq)).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
    }
    expect(received).toHaveLength(expected);
    expect(await two!.backlog()).toEqual({});
    expect(received.some((r) => r.by === 'two')).toBe(true);
  });
});
