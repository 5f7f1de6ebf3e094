// ChannelTranscriber with a real SttStream on a link in memory and a FakeClock: when the stream
// opens late, the call's words must not come later by the opening delay for the rest of the call;
// a source that sends ahead of real time is still played at call time; a paced source's frames go
// out as they come (the stream does not pace or fill them), a bursty one's are not copied on their
// way to the socket unless they must wait.
import { describe, expect, it } from 'vitest';
import { ChannelTranscriber } from '../../../src/call/ChannelTranscriber.js';
import type { Metrics } from '../../../src/metrics.js';
import type { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';
import { MemoryLink, memoryLinkPool } from '../stt/memoryLink.js';

const ANSWER = 10_000;
/** Wall clock = monotonic clock + this. */
const WALL = 1_700_000_000_000;
const SERVER = { url: 'ws://stt.test/api/asr-streaming' };

/** Frame number k: k/1024 is exact in float32 and in the 16-bit early-audio store. */
const nth = (k: number): Float32Array => new Float32Array(1920).fill(k / 1024);

function setup(source: 'paced' | 'bursty'): {
  clock: FakeClock;
  link: MemoryLink;
  stt: ChannelTranscriber;
  grant: () => Promise<void>;
  /** Each audio frame as it reached the socket: the clock then, its number, the buffer. */
  out: { at: number; k: number; pcm: Float32Array }[];
  /** Latency of each word as the call's metrics observe it (arrival − its wall time), ms. */
  latencies: number[];
} {
  const clock = new FakeClock(ANSWER);
  const link = new MemoryLink(SERVER);
  const out: { at: number; k: number; pcm: Float32Array }[] = [];
  const latencies: number[] = [];
  link.onAudio = (pcm) => out.push({ at: clock.now(), k: Math.round((pcm[0] ?? 0) * 1024), pcm });
  const { pool, grant: admit } = memoryLinkPool(link, clock, () => clock.now() + WALL);
  const gauge = { inc: () => undefined, dec: () => undefined };
  const metrics = {
    sttLatency: { observe: (s: number) => latencies.push(Math.round(s * 1000)) },
    sttReconnects: { inc: () => undefined },
    sttStreams: gauge,
  } as unknown as Metrics;
  const bus = { isOpen: () => true, publish: () => undefined } as unknown as TranscriptBus;
  const stt = new ChannelTranscriber({
    callId: 'c1',
    channel: 'caller',
    log: logSink().logger,
    bus,
    metrics,
    pool,
    clock,
    wallClock: () => clock.now() + WALL,
    earlyAudioMs: 10_000,
    source,
    onFailoverGivenUp: () => undefined,
  });
  void stt.open({ answeredAt: ANSWER, answeredWallMs: ANSWER + WALL });
  const grant = async (): Promise<void> => {
    admit();
    for (let i = 0; i < 5; i++) {
      await Promise.resolve();
    }
    expect(stt.streaming).toBe(true);
  };
  return { clock, link, stt, grant, out, latencies };
}

/** A server that hears at once: the word in the latest frame comes back as that frame arrives. */
function hearLatest(link: MemoryLink, words: number): void {
  link.recv({ type: 'Word', text: `w${words}`, start_time: (link.sent.length - 1) * 0.08 });
}

describe('ChannelTranscriber', () => {
  it('a stream that opens 2 s late sends the audio kept at once: later words are not late by those 2 s', async () => {
    const { clock, link, stt, grant, out, latencies } = setup('paced');
    // Real-time audio (RTP): frame k covers call time 80k…80(k+1) and is complete at 80(k+1).
    let k = 0;
    const frameDone = (): void => {
      clock.advance(80);
      stt.push(nth(k++));
    };
    for (let i = 0; i < 25; i++) {
      frameDone();
    }
    expect(stt.earlyFrames).toBe(25);
    await grant();
    // The 25 frames kept went out at once (the opening delay caught up)…
    expect(out.map((o) => o.k)).toEqual(Array.from({ length: 25 }, (_, k) => k));
    // …and each later frame reaches the server as soon as it is complete, for the rest of the call
    // (before: 1520 ms later, the 2 s less the pacer's lead, for the whole call).
    for (let i = 0; i < 25; i++) {
      frameDone();
      hearLatest(link, i);
    }
    const live = out.slice(25);
    expect(live.map((o) => o.k)).toEqual(Array.from({ length: 25 }, (_, i) => 25 + i));
    expect(live.map((o) => o.at - ANSWER - 80 * (o.k + 1))).toEqual(Array<number>(25).fill(0));
    // What the call measures (sipscribe_stt_latency_seconds): a word heard at once arrives 80 ms
    // after it began, its frame's length (before: 1600 ms).
    expect(latencies).toEqual(Array<number>(25).fill(80));
    expect(stt.earlyFrames).toBe(0);
    stt.abort();
  });

  it('a source sending ahead of real time (a burst) is still played at call time', async () => {
    const { clock, stt, grant, out } = setup('bursty');
    // 48 frames (3.84 s) arrive within the first moment, as a FreeSWITCH stream sent at once.
    for (let k = 0; k < 48; k++) {
      stt.push(nth(k));
    }
    clock.advance(400);
    await grant();
    // Frame k is due at answer + 80k; the pacer runs at most 5 frames ahead: at 400 ms, frames 0…10.
    expect(out.map((o) => o.k)).toEqual(Array.from({ length: 11 }, (_, k) => k));
    for (let t = 0; t < 40; t++) {
      clock.advance(80);
    }
    expect(out.map((o) => o.k)).toEqual(Array.from({ length: 48 }, (_, k) => k));
    for (const o of out) {
      expect(o.at).toBeGreaterThanOrEqual(ANSWER + 80 * (o.k - 5));
    }
    stt.abort();
  });

  it('a paced source (RTP) owns its timing: each frame goes out as it is pushed, not copied, a catch-up burst too; nothing is inserted', async () => {
    const { clock, stt, grant, out, link } = setup('paced');
    await grant();
    // One buffer reused for every frame, as the RTP session's pipeline does.
    const buf = new Float32Array(1920);
    for (let k = 0; k < 3; k++) {
      clock.advance(80);
      buf.fill(k / 1024);
      stt.push(buf);
    }
    // An event-loop stall of 400 ms: the session catches up with five frames at once.
    clock.advance(400);
    for (let k = 3; k < 8; k++) {
      buf.fill(k / 1024);
      stt.push(buf);
    }
    expect(out.map((o) => o.k)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(out.every((o) => o.pcm === buf)).toBe(true);
    // The stream adds nothing of its own: no zero frame while the source is quiet (it is the
    // source's to keep frames coming; before, a second pacer filled 240 ms later).
    clock.advance(1000);
    expect(link.sent.filter((m) => m.kind === 'audio')).toHaveLength(8);
    expect(stt.framesReceived).toBe(8);
    stt.abort();
  });

  it('a bursty source: a frame that is due goes out as it is (no copy), one that must wait is copied', async () => {
    const { clock, stt, grant, out } = setup('bursty');
    await grant();
    const buf = new Float32Array(1920);
    buf.fill(1 / 1024);
    clock.advance(80);
    stt.push(buf);
    expect(out).toHaveLength(1);
    expect(out[0]!.pcm).toBe(buf);
    // A burst: 5 frames may run ahead (sent at once, as they are), the next ones wait in the pacer,
    // each in its own copy.
    for (let k = 2; k <= 9; k++) {
      buf.fill(k / 1024);
      stt.push(buf);
    }
    expect(out.map((o) => o.k)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    buf.fill(0.5);
    for (let t = 0; t < 3; t++) {
      clock.advance(80);
    }
    expect(out.map((o) => o.k)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(out.slice(7).every((o) => o.pcm !== buf)).toBe(true);
    stt.abort();
  });
});
