import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { Outbox } from '../../../src/webhooks/Outbox.js';
import {
  backoffDelay,
  publicUrl,
  WebhookDispatcher,
  type DeliveryQueue,
  type HttpPost,
  type WebhookTarget,
} from '../../../src/webhooks/WebhookDispatcher.js';
import { verifySignature } from '../../../src/webhooks/signature.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';

const META: CallMeta = {
  sipCallId: 'x@y',
  from: 'sip:a@b',
  to: 'sip:c@d',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '127.0.0.1:5060',
};
const URL_A = 'http://127.0.0.1:9/hook';
const T0 = Date.UTC(2026, 0, 1);

function ev(callId: string, seq: number): CallEvent {
  return {
    type: 'transcript.utterance',
    text: `u${seq}`,
    startMs: seq,
    endMs: seq + 1,
    words: [],
    channel: 'caller',
    final: true,
    seq,
    callId,
    at: new Date(T0).toISOString(),
    offsetMs: 0,
    call: META,
  };
}

interface Attempt {
  at: number;
  callId: string;
  seq: number;
  headers: Record<string, string>;
  body: string;
}

describe('WebhookDispatcher', () => {
  let dir = '';
  let db: Db;
  let clock: FakeClock;
  let attempts: Attempt[];
  let answer: (a: Attempt) => number | Error;
  let post: HttpPost;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-hook-'));
    db = openDatabase(dir);
    clock = new FakeClock(T0);
    attempts = [];
    answer = () => 200;
    post = (_url, body, headers) => {
      const e = JSON.parse(body) as CallEvent;
      const a = { at: clock.now(), callId: e.callId, seq: e.seq, headers, body };
      attempts.push(a);
      const r = answer(a);
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    };
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function dispatcher(
    target: Partial<WebhookTarget> = {},
    outbox: DeliveryQueue = new Outbox(db),
    stopGraceMs?: number,
  ): WebhookDispatcher {
    return new WebhookDispatcher({
      outbox,
      targets: [{ url: URL_A, secret: 'topsecret', ...target }],
      clock,
      logger: logSink().logger,
      post,
      random: () => 0.5, // no jitter
      ...(stopGraceMs === undefined ? {} : { stopGraceMs }),
    });
  }

  /** A request the receiver has taken and not yet answered. */
  interface Held {
    seq: number;
    signal: AbortSignal;
    answer: (status: number) => void;
  }

  /**
   * Makes the receiver hold every request until the test answers it (a request aborted by the
   * dispatcher fails as fetch's does). Resolves with the next request that arrives.
   */
  function holdRequests(): { next: () => Promise<Held> } {
    let waiting: ((h: Held) => void) | null = null;
    const queue: Held[] = [];
    post = (_url, body, headers, signal) =>
      new Promise<number>((resolve, reject) => {
        const e = JSON.parse(body) as CallEvent;
        attempts.push({ at: clock.now(), callId: e.callId, seq: e.seq, headers, body });
        signal.addEventListener('abort', () => reject(new Error('This operation was aborted')));
        const h = { seq: e.seq, signal, answer: resolve };
        if (waiting) {
          waiting(h);
          waiting = null;
        } else {
          queue.push(h);
        }
      });
    return {
      next: () => {
        const h = queue.shift();
        return h ? Promise.resolve(h) : new Promise<Held>((r) => (waiting = r));
      },
    };
  }

  /** Whether a promise has settled, after the turns of the event loop already queued have run. */
  async function settled(p: Promise<unknown>): Promise<boolean> {
    let done = false;
    void p.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    return done;
  }

  /** Advances the fake clock in steps, letting each delivery pass finish. */
  async function advance(d: WebhookDispatcher, ms: number, step = 500): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      clock.advance(step);
      await d.idle();
    }
  }

  it('shows URLs in logs and metrics without credentials or query', () => {
    expect(publicUrl('https://user:pw@hooks.example.com:8443/in/x?token=abc#f')).toBe(
      'https://hooks.example.com:8443/in/x',
    );
    expect(publicUrl('not a url')).toBe('(invalid url)');
  });

  it('computes exponential backoff capped at the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000,
    ]);
    expect(backoffDelay(3, { minDelayMs: 100, maxDelayMs: 300 })).toBe(300);
  });

  it('sends signed requests with event and delivery headers, and empties the outbox', async () => {
    const outbox = new Outbox(db);
    const d = dispatcher({}, outbox);
    outbox.enqueue(URL_A, ev('c1', 1), clock.now());
    d.notify();
    await d.idle();
    expect(attempts).toHaveLength(1);
    const a = attempts[0]!;
    expect(a.headers['x-sipscribe-event']).toBe('transcript.utterance');
    expect(a.headers['x-sipscribe-delivery']).toBe('c1:1');
    expect(a.headers['content-type']).toBe('application/json');
    expect(verifySignature('topsecret', a.headers['x-sipscribe-signature']!, a.body, T0 / 1000)).toBe(true);
    expect(JSON.parse(a.body)).toEqual(ev('c1', 1));
    expect(outbox.backlog()).toEqual({});
  });

  it('gives each delivery a globally unique id, the same across retries and new after a reinstall', async () => {
    answer = (a) => (a.seq === 1 && attempts.filter((x) => x.seq === 1).length < 3 ? 503 : 200);
    const outbox = new Outbox(db);
    const d = dispatcher({}, outbox);
    outbox.enqueue(URL_A, ev('3f0c6a52-first-install', 1), clock.now());
    outbox.enqueue(URL_A, ev('3f0c6a52-first-install', 2), clock.now());
    d.notify();
    await advance(d, 10_000);
    await d.stop();
    // A reinstall: a new, empty database whose outbox row ids start again at 1.
    db.close();
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-hook-'));
    db = openDatabase(dir);
    const again = new Outbox(db);
    const d2 = dispatcher({}, again);
    again.enqueue(URL_A, ev('9b1e77d0-second-install', 1), clock.now());
    d2.notify();
    await d2.idle();
    await d2.stop();
    const ids = attempts.map((a) => [a.callId, a.seq, a.headers['x-sipscribe-delivery']]);
    expect(ids).toEqual([
      ['3f0c6a52-first-install', 1, '3f0c6a52-first-install:1'],
      ['3f0c6a52-first-install', 1, '3f0c6a52-first-install:1'],
      ['3f0c6a52-first-install', 1, '3f0c6a52-first-install:1'],
      ['3f0c6a52-first-install', 2, '3f0c6a52-first-install:2'],
      ['9b1e77d0-second-install', 1, '9b1e77d0-second-install:1'],
    ]);
  });

  it('retries with backoff while the receiver fails, then delivers the lane in order', async () => {
    const outbox = new Outbox(db);
    const d = dispatcher({ retry: { minDelayMs: 1000, maxDelayMs: 8000 } }, outbox);
    let down = true;
    answer = (a) => (down ? (a.seq % 2 ? new Error('connect ECONNREFUSED') : 500) : 200);
    for (let seq = 1; seq <= 3; seq++) {
      outbox.enqueue(URL_A, ev('c1', seq), clock.now());
    }
    d.notify();
    await d.idle();
    await advance(d, 30_000);
    // Only the head of the lane is tried while it fails: at 0, +1 s, +2 s, +4 s, +8 s, +8 s, +8 s.
    expect(attempts.map((a) => [a.at - T0, a.seq])).toEqual([
      [0, 1],
      [1000, 1],
      [3000, 1],
      [7000, 1],
      [15000, 1],
      [23000, 1],
    ]);
    expect(outbox.backlog()).toEqual({ [URL_A]: 3 });
    down = false;
    await advance(d, 8000);
    expect(attempts.slice(6).map((a) => [a.at - T0, a.seq])).toEqual([
      [31000, 1],
      [31000, 2],
      [31000, 3],
    ]);
    expect(outbox.backlog()).toEqual({});
    expect(clock.pending).toBe(0);
  });

  it('keeps calls independent: a failing lane does not hold up another call', async () => {
    const outbox = new Outbox(db);
    const d = dispatcher({}, outbox);
    answer = (a) => (a.callId === 'stuck' ? 503 : 200);
    outbox.enqueue(URL_A, ev('stuck', 1), clock.now());
    outbox.enqueue(URL_A, ev('stuck', 2), clock.now());
    outbox.enqueue(URL_A, ev('free', 1), clock.now());
    outbox.enqueue(URL_A, ev('free', 2), clock.now());
    d.notify();
    await d.idle();
    expect(attempts.filter((a) => a.callId === 'free').map((a) => a.seq)).toEqual([1, 2]);
    expect(attempts.filter((a) => a.callId === 'stuck').map((a) => a.seq)).toEqual([1]);
    expect(outbox.backlog()).toEqual({ [URL_A]: 2 });
    await d.stop();
  });

  it('a receiver down for ten minutes gets every event afterwards, in order (default policy)', async () => {
    const outbox = new Outbox(db);
    const d = dispatcher({}, outbox);
    let down = true;
    answer = () => (down ? new Error('connect ECONNREFUSED') : 200);
    // Two calls keep producing events, one every 20 s, through the whole outage.
    const sent: Record<string, number> = { a: 0, b: 0 };
    for (let t = 0; t < 600_000; t += 20_000) {
      for (const call of ['a', 'b']) {
        outbox.enqueue(URL_A, ev(call, ++sent[call]!), clock.now());
      }
      d.notify();
      await advance(d, 20_000, 1000);
    }
    expect(attempts.every((a) => a.seq === 1)).toBe(true); // only the lane heads were tried
    expect(outbox.backlog()).toEqual({ [URL_A]: 60 });
    down = false;
    const outageEnd = clock.now();
    // The next attempt comes at most one maximum backoff (60 s, ±10 % jitter) later.
    await advance(d, 66_000, 1000);
    const delivered = attempts.filter((a) => a.at >= outageEnd);
    for (const call of ['a', 'b']) {
      expect(delivered.filter((a) => a.callId === call).map((a) => a.seq)).toEqual(
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
    }
    expect(outbox.backlog()).toEqual({});
    expect(db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE status = 'dead'").get()).toEqual({ n: 0 });
    await d.stop();
  });

  it('survives a restart: a new process delivers what the old one left, in order', async () => {
    answer = () => new Error('connect ECONNREFUSED');
    const first = dispatcher();
    const outbox = new Outbox(db);
    for (let seq = 1; seq <= 4; seq++) {
      outbox.enqueue(URL_A, ev('c9', seq), clock.now());
    }
    first.notify();
    await first.idle();
    await first.stop();
    expect(clock.pending).toBe(0);
    db.close();

    db = openDatabase(dir);
    attempts = [];
    answer = () => 200;
    const second = dispatcher({}, new Outbox(db));
    second.start();
    await second.idle();
    await advance(second, 2000);
    expect(attempts.map((a) => a.seq)).toEqual([1, 2, 3, 4]);
    expect(new Outbox(db).backlog()).toEqual({});
  });

  it('retires rows of a URL removed from the configuration at start', async () => {
    const outbox = new Outbox(db);
    outbox.enqueue('http://127.0.0.1:9/old', ev('c', 1), clock.now());
    outbox.enqueue(URL_A, ev('c', 1), clock.now());
    const d = dispatcher({}, outbox);
    d.start();
    await d.idle();
    expect(attempts.map((a) => a.seq)).toEqual([1]);
    expect(outbox.backlog()).toEqual({});
    expect(db.prepare('SELECT url, status FROM outbox').all()).toEqual([
      { url: 'http://127.0.0.1:9/old', status: 'dead' },
    ]);
  });

  it('gives up on an event older than maxAgeMs and moves on', async () => {
    const outbox = new Outbox(db);
    const d = dispatcher({ retry: { minDelayMs: 1000, maxDelayMs: 1000, maxAgeMs: 5000 } }, outbox);
    answer = (a) => (a.seq === 1 ? 500 : 200);
    outbox.enqueue(URL_A, ev('c', 1), clock.now());
    outbox.enqueue(URL_A, ev('c', 2), clock.now());
    d.notify();
    await d.idle();
    await advance(d, 6000);
    expect(attempts.map((a) => [a.at - T0, a.seq])).toEqual([
      [0, 1],
      [1000, 1],
      [2000, 1],
      [3000, 1],
      [4000, 1],
      [5000, 1],
      [5000, 2],
    ]);
    expect(outbox.backlog()).toEqual({});
    const dead = db.prepare("SELECT seq, attempts, last_error FROM outbox WHERE status = 'dead'").all();
    expect(dead).toEqual([{ seq: 1, attempts: 6, last_error: 'HTTP 500' }]);
  });

  it('a graceful stop lets a delivery in progress finish: received once, marked done, stop() resolves after it', async () => {
    const receiver = holdRequests();
    const outbox = new Outbox(db);
    const d = dispatcher({}, outbox);
    outbox.enqueue(URL_A, ev('c1', 1), clock.now());
    d.notify();
    const request = await receiver.next();

    const stopping = d.stop();
    // The receiver has the request: stop() neither cuts it nor returns before it is answered.
    expect(request.signal.aborted).toBe(false);
    expect(await settled(stopping)).toBe(false);
    request.answer(204);
    await stopping;
    expect(outbox.backlog()).toEqual({});
    expect(db.prepare('SELECT COUNT(*) AS n FROM outbox').get()).toEqual({ n: 0 });
    expect(clock.pending).toBe(0);

    // The next start (or another instance) has nothing to send again.
    answer = () => 200;
    post = (_url, body, headers) => {
      const e = JSON.parse(body) as CallEvent;
      attempts.push({ at: clock.now(), callId: e.callId, seq: e.seq, headers, body });
      return Promise.resolve(200);
    };
    const next = dispatcher({}, new Outbox(db));
    next.start();
    await next.idle();
    await next.stop();
    expect(attempts.map((a) => [a.callId, a.seq])).toEqual([['c1', 1]]);
  });

  it('a graceful stop cuts a request still unanswered after stopGraceMs: its row stays pending, unchanged, for the next start', async () => {
    const receiver = holdRequests();
    const outbox = new Outbox(db);
    const d = dispatcher({ timeoutMs: 10_000 }, outbox, 2000);
    outbox.enqueue(URL_A, ev('c1', 1), clock.now());
    outbox.enqueue(URL_A, ev('c1', 2), clock.now());
    d.notify();
    const request = await receiver.next();
    const stopping = d.stop();
    clock.advance(1999);
    expect(request.signal.aborted).toBe(false);
    expect(await settled(stopping)).toBe(false);
    clock.advance(1);
    expect(request.signal.aborted).toBe(true);
    await stopping;
    expect(clock.pending).toBe(0);
    // Not counted as a failed attempt: the receiver was not at fault.
    expect(db.prepare('SELECT seq, attempts, last_error, status FROM outbox ORDER BY id').all()).toEqual([
      { seq: 1, attempts: 0, last_error: null, status: 'pending' },
      { seq: 2, attempts: 0, last_error: null, status: 'pending' },
    ]);
    expect(attempts.map((a) => a.seq)).toEqual([1]);
  });

  it('a request that fails while a graceful stop waits is recorded as a failed attempt', async () => {
    const receiver = holdRequests();
    const outbox = new Outbox(db);
    const d = dispatcher({ retry: { minDelayMs: 1000 } }, outbox);
    outbox.enqueue(URL_A, ev('c1', 1), clock.now());
    d.notify();
    const request = await receiver.next();
    const stopping = d.stop();
    request.answer(503);
    await stopping;
    expect(clock.pending).toBe(0);
    expect(db.prepare('SELECT attempts, last_error, next_attempt_at FROM outbox').all()).toEqual([
      { attempts: 1, last_error: 'HTTP 503', next_attempt_at: T0 + 1000 },
    ]);
  });

  it('rows claimed but not yet sent when stop() is called are not sent: their claims are released', async () => {
    const outbox = new Outbox(db);
    outbox.enqueue(URL_A, ev('c1', 1), clock.now());
    outbox.enqueue(URL_A, ev('c2', 1), clock.now());
    // A shared outbox whose claim is still on its way back from the database when stop() comes.
    let claimed: () => void = () => undefined;
    const claimAnswer = new Promise<void>((r) => (claimed = r));
    let claimAsked: () => void = () => undefined;
    const asked = new Promise<void>((r) => (claimAsked = r));
    let released = 0;
    const queue: DeliveryQueue = {
      retireUnconfigured: (urls) => outbox.retireUnconfigured(urls),
      due: async (url, now, limit) => {
        const rows = outbox.due(url, now, limit);
        claimAsked();
        await claimAnswer;
        return rows;
      },
      nextDueAt: (url) => outbox.nextDueAt(url),
      delivered: (id) => outbox.delivered(id),
      failed: (id, error, at) => outbox.failed(id, error, at),
      dead: (id, error) => outbox.dead(id, error),
      release: () => {
        released++;
        return Promise.resolve();
      },
    };
    const d = dispatcher({}, queue);
    d.notify();
    await asked;
    const stopping = d.stop();
    claimed();
    await stopping;
    expect(attempts).toEqual([]);
    expect(released).toBe(1);
    expect(outbox.backlog()).toEqual({ [URL_A]: 2 });
    expect(clock.pending).toBe(0);
  });
});
