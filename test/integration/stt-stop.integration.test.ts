// SttPool.stop() against the fake moshi-server: no connection survives the stop and none is opened
// after it. The root cause of a WebSocket that kept the process alive for ~30 s after a graceful
// stop: connections opened *after* `pool.stop()` (a deferred transcription polling `reserve()` for
// a slot, a failover or a reservation completing late), which nothing closed any more.
import { describe, expect, it } from 'vitest';
import { MemoryRecording, transcribeRecording } from '../../src/stt/DeferredTranscriber.js';
import { socketsTo } from '../helpers/handles.js';
import { useSttTestbed } from '../helpers/sttTestbed.js';

const { fake, pool } = useSttTestbed();

describe('SttPool.stop()', () => {
  it('resolves once every WebSocket it opened is closed (reserved and streaming alike)', async () => {
    const server = await fake({ slots: 4 });
    const p = pool({ servers: [{ url: server.url }] });
    await p.start();
    const streaming = await p.reserve();
    const held = await p.reserve();
    p.open(streaming!, { callId: 'c1', answeredWallMs: Date.now() }, {});
    expect(held?.active).toBe(true);
    expect(server.openConnections().filter((c) => c === 'WebSocket')).toHaveLength(2);
    await p.stop();
    expect(socketsTo(server.port)).toEqual([]);
    await server.settled();
    expect(server.openConnections()).toEqual([]);
    expect(server.streams.map((s) => s.closed)).toEqual([true, true]);
  });

  it('a reservation still connecting when stop() runs is closed, not handed out', async () => {
    const server = await fake({ slots: 4 });
    const p = pool({ servers: [{ url: server.url }] });
    const reserving = p.reserve();
    await p.stop();
    expect(await reserving).toBeNull();
    expect(socketsTo(server.port)).toEqual([]);
    await server.settled();
    expect(server.openConnections()).toEqual([]);
    expect(server.streams.every((s) => s.closed)).toBe(true);
    // And no new one after the stop.
    expect(await p.reserve()).toBeNull();
    expect(server.streams.length).toBeLessThanOrEqual(1);
  });

  it('a deferred transcription waiting for a slot is cancelled by the stop and never connects', async () => {
    const server = await fake({ slots: 1 });
    const p = pool({ servers: [{ url: server.url }], backoff: { initialMs: 10, maxMs: 10 } });
    const busy = await p.reserve();
    const rec = new MemoryRecording();
    for (let i = 0; i < 50; i++) {
      rec.push(new Float32Array(1920));
    }
    const deferred = transcribeRecording(
      p,
      rec,
      { callId: 'd1', answeredWallMs: Date.now(), retryMs: 20 },
      {},
    );
    // A few polls, all refused: the one slot is taken.
    await expect.poll(() => server.streams.filter((st) => !st.admitted).length).toBeGreaterThanOrEqual(2);
    busy!.release(); // the slot frees up …
    await p.stop(); // … but the pool stops first
    const streamsAfterStop = server.streams.length;
    // Ends quietly (a cancel is no error), and once it has ended it polls no more.
    expect(await deferred).toBeNull();
    expect(socketsTo(server.port)).toEqual([]);
    expect(server.streams.length).toBe(streamsAfterStop);
    await server.settled();
    expect(server.openConnections()).toEqual([]);
  });
});
