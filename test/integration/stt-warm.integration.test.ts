// The pool under call bursts (issue 16 item 5) against the fake moshi-server: the warm set (Ready
// connections opened ahead of need, within the server's slots, replaced before moshi-server's idle
// limit), the handshake gate, and the breaker's trial that brings a restarted server back within
// about a second instead of after a 30 s backoff.
import { describe, expect, it } from 'vitest';
import { FakeMoshiServer, synthesizeSpeech } from '../helpers/fakeMoshiServer.js';
import { useSttTestbed } from '../helpers/sttTestbed.js';
import { until } from './e2eHarness.js';

const { fake, pool } = useSttTestbed();

describe('SttPool warm set', () => {
  it('a call takes a Ready stream opened ahead of need; the set is refilled behind it', async () => {
    const server = await fake({ slots: 8 });
    const p = pool({ servers: [{ url: server.url }], warm: { perServer: 2 } });
    await p.start();
    await until(() => p.status()[0]?.warm === 2, 'two warm connections');
    expect(server.admitted).toHaveLength(2);
    expect(server.admitted.every((s) => s.frames.length === 0)).toBe(true); // no audio: no model step

    const r = (await p.reserve())!;
    expect(p.stats.warmHits).toBe(1);
    const stream = p.open(r, { callId: 'warm1' }, {});
    for (const f of synthesizeSpeech([{ word: 'hello' }, { silence: 2 }, { word: 'alice' }])) {
      stream.pushFrame(f);
    }
    const final = await stream.flush();
    expect(final.text).toBe('hello alice');
    // The oldest warm connection carried the call; a third was opened behind it.
    expect(server.admitted[0]!.frames.length).toBeGreaterThan(0);
    await until(() => p.status()[0]?.warm === 2, 'the set refilled');
    expect(server.admitted).toHaveLength(3);
    expect(p.status()[0]).toMatchObject({ streams: 0, warm: 2 });
    await p.stop();
    await server.settled();
    expect(server.usedSlots).toBe(0);
  });

  it('holds no more slots than the server has free, and a full server is no failure for it', async () => {
    const server = await fake({ slots: 1 });
    const p = pool({ servers: [{ url: server.url }], warm: { perServer: 2 } });
    await p.start();
    await until(() => p.status()[0]?.warm === 1, 'one warm connection');
    expect(server.usedSlots).toBe(1);
    expect(p.stats).toMatchObject({ fullRefusals: 0, connectFailures: 0 });
    expect(p.status()[0]).toMatchObject({ backoffUntil: 0, freeSlots: 0 });
    // The probed count says full, but the slot is ours: a call is admitted and takes it.
    expect(p.canAdmit()).toBe(true);
    const r = await p.reserve();
    expect(r?.active).toBe(true);
    expect(p.stats.warmHits).toBe(1);
    expect(p.canAdmit()).toBe(false);
    r!.release();
  });

  it('replaces a warm connection before the server would close it for idleness', async () => {
    // moshi-server closes a stream without any frame for 20 s; the fake does it after 600 ms here.
    const server = await fake({ slots: 8, idleTimeoutMs: 600 });
    const p = pool({ servers: [{ url: server.url }], warm: { perServer: 1, maxIdleMs: 300 } });
    await p.start();
    await until(() => server.streams.filter((s) => s.closed).length >= 3, 'three warm connections replaced');
    expect(server.streams.every((s) => s.closeReason !== 'idle timeout')).toBe(true);
    expect(server.usedSlots).toBeLessThanOrEqual(1);
    const r = await p.reserve();
    expect(p.stats.warmHits).toBe(1);
    const stream = p.open(r!, { callId: 'idle' }, {});
    for (const f of synthesizeSpeech([{ word: 'thank' }, { silence: 2 }])) {
      stream.pushFrame(f);
    }
    expect((await stream.flush()).text).toBe('thank');
  });

  it('a warm connection that waited in silence is not taken for a dead server by its stream', async () => {
    // The fake pings only after 10 s without sending: nothing arrives on a waiting warm connection.
    const server = await fake({ slots: 8 });
    const p = pool({
      servers: [{ url: server.url }],
      warm: { perServer: 1, maxIdleMs: 10_000 },
      stream: { deadPeerMs: 400 },
    });
    await p.start();
    await until(() => p.status()[0]?.warm === 1, 'a warm connection');
    const readyAt = performance.now();
    await until(() => performance.now() - readyAt > 600 || undefined, '600 ms of silence');
    const stream = p.open((await p.reserve())!, { callId: 'quiet' }, {});
    expect(p.stats.warmHits).toBe(1);
    for (const f of synthesizeSpeech([{ word: 'hello' }, { silence: 2 }])) {
      stream.pushFrame(f);
    }
    const final = await stream.flush();
    expect(final.text).toBe('hello');
    expect(final.reconnects).toBe(0);
    expect(p.stats.failovers).toBe(0);
  });

  it('a burst queues at the handshake gate: every call gets a slot, none is refused', async () => {
    const server = await fake({ slots: 100 });
    const p = pool({ servers: [{ url: server.url }], connectConcurrency: 4, whenFull: 'reject' });
    await p.start();
    const adms = await Promise.all(Array.from({ length: 60 }, () => p.admit()));
    expect(adms.filter((a) => a.decision === 'stream')).toHaveLength(60);
    expect(p.stats).toMatchObject({ noServer: 0, slowHandshakes: 0 });
    for (const a of adms) {
      if (a.decision === 'stream') {
        a.reservation.release();
      }
    }
  });
});

describe('SttPool breaker', () => {
  it('a server back during a long backoff is taken again by a trial, not after the backoff', async () => {
    const first = await fake({ slots: 4 });
    const port = first.port;
    const p = pool({ servers: [{ url: first.url }], whenFull: 'reject', trialIntervalMs: 500 });
    await p.start();
    await first.kill();
    // Calls keep coming: one trial per 500 ms fails each time, the backoff doubles (16 s after 5).
    await until(
      async () => ((await p.reserve()) === null && p.status()[0]!.failures >= 5) || undefined,
      'five failed attempts',
    );
    const backoffLeftMs = p.status()[0]!.backoffUntil - performance.now();
    expect(backoffLeftMs).toBeGreaterThan(10_000);
    const again = await FakeMoshiServer.start({ port, slots: 4 });
    try {
      const t0 = performance.now();
      const r = await until(() => p.reserve(), 'a reservation on the restarted server');
      expect(performance.now() - t0).toBeLessThan(backoffLeftMs);
      expect(p.status()[0]).toMatchObject({ backoffUntil: 0, failures: 0 });
      r.release();
      await p.stop();
    } finally {
      await again.stop();
    }
  });
});
