// SttStream in memory: a scripted link instead of a WebSocket, a FakeClock instead of time.
import { describe, expect, it } from 'vitest';
import { SttStream } from '../../../src/stt/SttStream.js';
import type { SttStreamHost, SttStreamSettings } from '../../../src/stt/streamTypes.js';
import { silentLogger } from '../../../lib/logger.js';
import type { SttUtterance, SttWord } from '../../../src/stt/types.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { MemoryLink, type Sent } from './memoryLink.js';

function setup(settings: Partial<SttStreamSettings> = {}): {
  clock: FakeClock;
  link: MemoryLink;
  stream: SttStream;
  words: SttWord[];
  utterances: SttUtterance[];
  errors: string[];
  next: MemoryLink[];
  lags: number[];
} {
  const clock = new FakeClock(10_000);
  const link = new MemoryLink({ url: 'ws://a/api/asr-streaming' });
  const words: SttWord[] = [];
  const utterances: SttUtterance[] = [];
  const errors: string[] = [];
  const next: MemoryLink[] = [];
  const lags: number[] = [];
  const host: SttStreamHost = {
    reconnect: () => {
      const l = new MemoryLink({ url: 'ws://b/api/asr-streaming' });
      next.push(l);
      return Promise.resolve(l);
    },
    released: () => undefined,
    reportLag: (_s, ms) => lags.push(ms),
  };
  const stream = new SttStream(
    link,
    { callId: 'x', answeredAt: 9_750, answeredWallMs: 1_000_000 },
    { modelDelayMs: 480, ...settings },
    { clock, logger: silentLogger, host, wallClock: () => 0 },
    {
      onWord: (w) => words.push(w),
      onUtterance: (u) => utterances.push(u),
      onError: (e) => errors.push(e.code),
    },
  );
  return { clock, link, stream, words, utterances, errors, next, lags };
}

const frame = (v: number): Float32Array => new Float32Array(1920).fill(v);
/** Frame number k as audio: k/1024 is a whole number of 16-bit steps, so a replay brings it back exactly. */
const nth = (k: number): Float32Array => frame(k / 1024);
/** The frame number of a sent audio frame made by `nth`. */
const numberOf = (x: Sent): number => (x.kind === 'audio' ? x.v * 1024 : -1);

describe('SttStream', () => {
  it('maps words onto call time (offset from the answer + wall clock), skips the empty first Word', () => {
    const { link, words } = setup();
    link.recv({ type: 'Word', text: '', start_time: 0 });
    link.recv({ type: 'Word', text: 'Hello,', start_time: 1.04 });
    link.recv({ type: 'EndWord', stop_time: 1.36 });
    // Opened 250 ms after the answer: frame 0 is at 250 ms of call time.
    expect(words).toEqual([{ seq: 1, text: 'Hello,', startMs: 1290, endMs: 1610, wallMs: 1_001_290 }]);
  });

  it('flushes: queued audio, Marker, 8 zero frames, one per 80 ms until the echo, then closes', async () => {
    const { clock, link, stream, words } = setup();
    for (let i = 1; i <= 3; i++) {
      stream.pushFrame(frame(i / 10));
    }
    const final = stream.flush();
    stream.pushFrame(frame(0.9));
    expect(stream.stats.framesRefused).toBe(1);
    expect(link.sent.slice(0, 4)).toEqual([
      { kind: 'audio', zero: false, v: Math.fround(0.1) },
      { kind: 'audio', zero: false, v: Math.fround(0.2) },
      { kind: 'audio', zero: false, v: Math.fround(0.3) },
      { kind: 'marker', id: 1 },
    ]);
    expect(link.sent.slice(4).length).toBe(8);
    expect(link.sent.slice(4).every((s) => s.kind === 'audio' && s.zero)).toBe(true);
    clock.advance(400);
    expect(link.sent.length).toBe(4 + 8 + 5);
    link.recv({ type: 'Word', text: 'bye', start_time: 0.08 });
    link.recv({ type: 'Marker', id: 1 });
    // A word on the step right after the echo still makes it (grace period).
    link.recv({ type: 'Word', text: 'now', start_time: 0.16 });
    expect(link.closed).toBe(false);
    clock.advance(240);
    expect(link.closed).toBe(true);
    const t = await final;
    expect(t.complete).toBe(true);
    expect(t.text).toBe('bye now');
    expect(t.utterances.map((u) => u.reason)).toEqual(['flush']);
    expect(words.map((w) => w.text)).toEqual(['bye', 'now']);
    expect(clock.pending).toBe(0);
  });

  it('gives up the flush after the timeout derived from the model delay, reporting it', async () => {
    const { clock, stream, errors, link } = setup();
    const final = stream.flush();
    clock.advance(4999);
    expect(link.closed).toBe(false);
    // max(5000, 3 × 480 + 2000) = 5000 ms.
    clock.advance(1);
    expect((await final).complete).toBe(false);
    expect(errors).toEqual(['STT_ERR_FLUSH_TIMEOUT']);
    expect(link.closed).toBe(true);
  });

  it('waits for a server behind real time while it keeps stepping: the Marker after 7 s still brings the last words', async () => {
    // A loaded server: 7 s of backlog before the Marker's target, one Step per 80 ms all along.
    const { clock, stream, errors, link } = setup();
    const final = stream.flush();
    for (let t = 0; t < 7000; t += 80) {
      link.recv({ type: 'Step', step_idx: t / 80, prs: [0, 0, 0, 0], buffered_pcm: 0 });
      clock.advance(80);
    }
    expect(link.closed).toBe(false);
    link.recv({ type: 'Word', text: 'goodbye', start_time: 0.5 });
    link.recv({ type: 'Marker', id: 1 });
    clock.advance(240);
    const t = await final;
    expect(t.complete).toBe(true);
    expect(t.text).toBe('goodbye');
    expect(errors).toEqual([]);
  });

  it('gives up the flush when the server goes quiet for the timeout after some progress', async () => {
    const { clock, stream, errors, link } = setup();
    const final = stream.flush();
    clock.advance(3000);
    link.recv({ type: 'Step', step_idx: 1, prs: [0, 0, 0, 0], buffered_pcm: 0 });
    // Quiet from 3000 ms on: 5000 ms more (not 2000) before it gives up.
    clock.advance(4999);
    expect(link.closed).toBe(false);
    clock.advance(1);
    expect((await final).complete).toBe(false);
    expect(errors).toEqual(['STT_ERR_FLUSH_TIMEOUT']);
  });

  it('bounds the whole flush at flushMaxMs even when the server keeps stepping without the Marker', async () => {
    const { clock, stream, errors, link } = setup({ flushMaxMs: 20_000 });
    const final = stream.flush();
    for (let t = 0; t < 19_920; t += 80) {
      link.recv({ type: 'Step', step_idx: t / 80, prs: [0, 0, 0, 0], buffered_pcm: 0 });
      clock.advance(80);
    }
    expect(link.closed).toBe(false);
    link.recv({ type: 'Step', step_idx: 999, prs: [0, 0, 0, 0], buffered_pcm: 0 });
    clock.advance(80);
    expect(link.closed).toBe(true);
    expect((await final).complete).toBe(false);
    expect(errors).toEqual(['STT_ERR_FLUSH_TIMEOUT']);
  });

  it('on a lost connection replays from the last delivered word and drops the repeats', async () => {
    const { clock, link, stream, words, next, errors } = setup();
    for (let i = 0; i < 50; i++) {
      stream.pushFrame(nth(i + 1));
      clock.advance(80);
    }
    // Words on the first connection (stream time = call frame × 80 ms; call time adds 250 ms).
    link.recv({ type: 'Word', text: 'one', start_time: 1.6 });
    link.recv({ type: 'Word', text: 'two', start_time: 3.2 });
    link.isOpen = false;
    link.delegate?.onClosed(Object.assign(new Error('gone'), { code: 'STT_ERR_CLOSED' }) as never);
    await Promise.resolve();
    await Promise.resolve();
    const b = next[0]!;
    expect(errors).toEqual(['STT_ERR_CLOSED']);
    expect(stream.stats.reconnects).toBe(1);
    // min replay 3000 ms = 38 frames before the drop (frame 50) → from frame 12; 'two' is at frame 40.
    expect(b.sent.length).toBe(38);
    expect(b.sent[0]).toEqual({ kind: 'audio', zero: false, v: 13 / 1024 });
    // The new stream starts at call frame 12: 'two' again at 2.24 s (frame 40) is a repeat; 'three' is new.
    b.recv({ type: 'Word', text: 'wo', start_time: 0 });
    b.recv({ type: 'Word', text: 'two', start_time: 2.24 });
    b.recv({ type: 'Word', text: 'three', start_time: 2.72 });
    expect(words.map((w) => [w.seq, w.text, w.startMs])).toEqual([
      [1, 'one', 1850],
      [2, 'two', 3450],
      [3, 'three', 250 + 12 * 80 + 2720],
    ]);
    expect(stream.stats.duplicatesDropped).toBe(2);
    stream.close();
  });

  it('with the 2.6B model, a replay starts with 1 s of silence that does not shift call time', async () => {
    const { clock, link, stream, next, words } = setup({ modelDelayMs: 2560 });
    for (let i = 0; i < 20; i++) {
      stream.pushFrame(nth(i + 1));
      clock.advance(80);
    }
    link.isOpen = false;
    link.delegate?.onClosed(Object.assign(new Error('gone'), { code: 'STT_ERR_CLOSED' }) as never);
    await Promise.resolve();
    await Promise.resolve();
    const b = next[0]!;
    // 1000 ms = 13 zero frames, then call frames 0… (no word yet).
    expect(b.sent.slice(0, 13).every((x) => x.kind === 'audio' && x.zero)).toBe(true);
    expect(b.sent[13]).toEqual({ kind: 'audio', zero: false, v: 1 / 1024 });
    // 13 frames (1.04 s) of prefix + 0.4 s into the call audio = call frame 5 → 250 + 400 ms.
    b.recv({ type: 'Word', text: 'hi', start_time: 1.44 });
    expect(words.map((w) => w.startMs)).toEqual([650]);
    stream.close();
  });

  it('a drop during the flush moves the flush to the new server: replay, new Marker, echo, complete', async () => {
    const { clock, link, stream, next, words } = setup();
    for (let i = 0; i < 10; i++) {
      stream.pushFrame(nth(i + 1));
      clock.advance(80);
    }
    const final = stream.flush();
    expect(link.sent.filter((x) => x.kind === 'marker')).toEqual([{ kind: 'marker', id: 1 }]);
    link.isOpen = false;
    link.delegate?.onClosed(Object.assign(new Error('gone'), { code: 'STT_ERR_CLOSED' }) as never);
    await Promise.resolve();
    await Promise.resolve();
    const b = next[0]!;
    // Everything from frame 0 (no word delivered yet): 10 caller frames + 8 flush zeros, then Marker 2 + 8 zeros.
    expect(b.sent.slice(0, 10).map(numberOf)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(b.sent[18]).toEqual({ kind: 'marker', id: 2 });
    expect(b.sent.length).toBe(18 + 1 + 8);
    b.recv({ type: 'Word', text: 'late', start_time: 0.4 });
    b.recv({ type: 'Marker', id: 1 });
    clock.advance(300);
    expect(b.closed).toBe(false);
    b.recv({ type: 'Marker', id: 2 });
    clock.advance(240);
    const t = await final;
    expect(t.complete).toBe(true);
    expect(t.reconnects).toBe(1);
    expect(words.map((w) => [w.text, w.startMs])).toEqual([['late', 650]]);
    expect(b.closed).toBe(true);
  });

  it('reports a growing server backlog (Step.buffered_pcm) as lag', () => {
    const { link, lags, stream } = setup();
    link.recv({ type: 'Step', step_idx: 5, prs: [0, 0, 0, 0], buffered_pcm: 12_000 });
    expect(lags).toEqual([]);
    link.recv({ type: 'Step', step_idx: 6, prs: [0, 0, 0, 0], buffered_pcm: 48_000 });
    expect(lags).toEqual([2000]);
    expect(stream.stats.maxBufferedPcm).toBe(48_000);
    stream.close();
  });

  it('does not call the deliberate backlog of a replay or of the flush lag', async () => {
    const { clock, link, stream, next, lags } = setup();
    for (let i = 0; i < 50; i++) {
      stream.pushFrame(nth(1));
      clock.advance(80);
    }
    link.isOpen = false;
    link.delegate?.onClosed(Object.assign(new Error('gone'), { code: 'STT_ERR_CLOSED' }) as never);
    await Promise.resolve();
    await Promise.resolve();
    const b = next[0]!;
    // 38 frames replayed at once: 3 s of backlog on the new server, expected.
    b.recv({ type: 'Step', step_idx: 1, prs: [0, 0, 0, 0], buffered_pcm: 72_000 });
    expect(lags).toEqual([]);
    // Drained, then growing again: that is lag.
    b.recv({ type: 'Step', step_idx: 2, prs: [0, 0, 0, 0], buffered_pcm: 0 });
    b.recv({ type: 'Step', step_idx: 3, prs: [0, 0, 0, 0], buffered_pcm: 36_000 });
    expect(lags).toEqual([1500]);
    void stream.flush();
    b.recv({ type: 'Step', step_idx: 4, prs: [0, 0, 0, 0], buffered_pcm: 48_000 });
    expect(lags).toEqual([1500]);
    stream.close();
  });

  it('flush() after close() resolves at once with what was transcribed, incomplete', async () => {
    const { link, stream } = setup();
    link.recv({ type: 'Word', text: 'hi', start_time: 0.4 });
    stream.close();
    expect(link.closed).toBe(true);
    const t = await stream.flush();
    expect(t.complete).toBe(false);
    expect(t.text).toBe('hi');
  });

  it('takes a server silent for deadPeerMs (no message, no ping) for dead and fails over', async () => {
    const { clock, link, stream, next, errors } = setup({ deadPeerMs: 15_000 });
    link.lastActivityAt = clock.now();
    clock.advance(15_000);
    expect(next.length).toBe(0);
    clock.advance(80);
    await Promise.resolve();
    await Promise.resolve();
    expect(link.closed).toBe(true);
    expect(errors).toEqual(['STT_ERR_CLOSED']);
    expect(next.length).toBe(1);
    stream.close();
  });

  it('refuses frames that are not 1920 samples', () => {
    const { stream } = setup();
    expect(() => stream.pushFrame(new Float32Array(480))).toThrow(
      expect.objectContaining({ code: 'STT_ERR_FRAME_SIZE' }),
    );
    stream.close();
  });
  it('opened with a backlog: refuses (counts) a frame of the wrong size in it, sends the others at once', () => {
    const clock = new FakeClock(10_000);
    const link = new MemoryLink({ url: 'ws://a/api/asr-streaming' });
    const host: SttStreamHost = {
      reconnect: () => Promise.reject(new Error('no')),
      released: () => undefined,
      reportLag: () => undefined,
    };
    // Opened 240 ms after the answer with the 3 frames kept meanwhile, one of them cut short.
    const stream = new SttStream(
      link,
      {
        callId: 'x',
        answeredAt: 9_760,
        startMs: 0,
        backlog: [frame(0.1), new Float32Array(480).fill(0.2), frame(0.3)],
      },
      { modelDelayMs: 480 },
      { clock, logger: silentLogger, host, wallClock: () => 0 },
      {},
    );
    expect(stream.stats.framesRefused).toBe(1);
    expect(link.sent.map((x) => x.kind === 'audio' && x.v)).toEqual([0.1, 0.3].map(Math.fround));
    stream.close();
  });
});
