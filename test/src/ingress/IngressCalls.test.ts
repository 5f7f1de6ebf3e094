// Ingress calls in memory: the real registry and bus, a scripted STT pool (one FakeStream per
// channel) and a FakeClock. What a stream's adapter does (PCM pushed, paused, ended) must give
// the same call states and events as a SIP call, one STT stream per channel, labelled words.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallRegistry } from '../../../src/call/CallRegistry.js';
import { parseConfig, type Config } from '../../../src/config.js';
import type { CallEvent } from '../../../src/events.js';
import type { IngressStreamInfo } from '../../../src/ingress/IngressCall.js';
import { IngressCalls } from '../../../src/ingress/IngressCalls.js';
import { PcmFramer } from '../../../src/ingress/PcmFramer.js';
import { PendingBudget, pendingPath } from '../../../src/recording/PendingRecording.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import type { SttAdmission, SttPool } from '../../../src/stt/index.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FakePool } from '../call/fakes.js';
import { logSink } from '../logSink.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const STEREO: IngressStreamInfo = {
  ingress: 'freeswitch',
  key: 'fs-call-1',
  from: 'freeswitch:fs-call-1',
  to: 'freeswitch',
  remote: '127.0.0.1:50000',
  transport: 'tcp',
  codec: 'L16/8000/2',
  rate: 8000,
  channels: ['caller', 'callee'],
};
const MONO: IngressStreamInfo = {
  ...STEREO,
  key: 'as-1',
  ingress: 'audiosocket',
  channels: ['caller'],
  codec: 'L16/8000',
};

describe('IngressCalls', () => {
  let dir = '';
  let db: Db;
  let appClock: FakeClock;
  let clock: FakeClock;
  let bus: TranscriptBus;
  let events: CallEvent[];
  let metrics: Metrics;
  let calls: CallRegistry;
  let config: Config;
  let draining = false;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-ingress-'));
    db = openDatabase(dir);
    appClock = new FakeClock(Date.UTC(2026, 11, 6, 9, 0, 0));
    clock = new FakeClock(1000);
    bus = new TranscriptBus({ logger: logSink().logger, clock: appClock });
    events = [];
    bus.addSink({ name: 'collect', handle: (e) => void events.push(e) });
    metrics = createMetrics({ processMetrics: false });
    calls = new CallRegistry({
      store: new CallStore(db),
      bus,
      clock: appClock,
      logger: logSink().logger,
      metrics,
    });
    config = parseConfig({
      rtp: { timeoutMs: 2000 },
      stt: { earlyAudioMs: 800, whenFull: 'reject' },
      ingress: { maxStreams: 2 },
      storage: { dir },
    });
    draining = false;
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function ingress(pool: FakePool, pendingBudget?: PendingBudget): IngressCalls {
    return new IngressCalls({
      ...(pendingBudget ? { pendingBudget } : {}),
      config,
      calls,
      bus,
      metrics,
      pool: pool as unknown as SttPool,
      clock,
      wallClock: () => appClock.now(),
      admission: {
        get draining() {
          return draining;
        },
      },
      logger: logSink().logger,
    });
  }

  const flow = {
    pauses: 0,
    resumes: 0,
    pause(): void {
      this.pauses++;
    },
    resume(): void {
      this.resumes++;
    },
  };

  it('a stereo stream is one call with two STT streams; its words are labelled caller and callee', async () => {
    const pool = new FakePool('stream', ['hello']);
    const ic = ingress(pool);
    const call = ic.begin(STEREO, flow);
    if (typeof call === 'string') {
      throw new Error(call);
    }
    await tick();
    expect(pool.streams).toHaveLength(2);
    expect(calls.get(call.id)?.state).toBe('streaming');
    // One second of stereo at 8 kHz, sent at once (no clock advance): 12 whole 80 ms frames each.
    call.pushInterleaved(new Int16Array(2 * 8000));
    expect(pool.streams.map((s) => s.frames)).toEqual([12, 12]);
    await call.end('bye-remote');
    // The last half frame, padded, went out before the flush.
    expect(pool.streams.map((s) => s.frames)).toEqual([13, 13]);
    expect(pool.streams.every((s) => s.flushed)).toBe(true);
    await bus.flush();
    const ended = events.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended.type).toBe('call.ended');
    expect(ended.reason).toBe('bye-remote');
    // The duration is the audio's (one second), though no time passed on the clock.
    expect(ended.durationMs).toBe(1000);
    expect(ended.call.ingress).toBe('freeswitch');
    expect(ended.transcript.map((u) => u.channel).sort()).toEqual(['callee', 'caller']);
    const words = events.filter((e) => e.type === 'transcript.word');
    expect(words.map((w) => (w as { channel: string }).channel).sort()).toEqual(['callee', 'caller']);
    expect(calls.get(call.id)?.meta.ingress).toBe('freeswitch');
    expect(await metrics.registry.metrics()).toContain(
      'sipscribe_ingress_streams_total{source="freeswitch"} 1\n',
    );
    expect(ic.size).toBe(0);
  });

  it('admission: one STT slot per channel, ingress.maxStreams, draining; refusals counted', async () => {
    const pool = new FakePool('stream');
    const ic = ingress(pool);
    pool.slots = 1;
    expect(ic.begin(STEREO, flow)).toBe('stt-full'); // two channels, one free slot
    pool.slots = null;
    const a = ic.begin(MONO, flow);
    const b = ic.begin({ ...MONO, key: 'as-2' }, flow);
    expect(typeof a).toBe('object');
    expect(typeof b).toBe('object');
    expect(ic.begin({ ...MONO, key: 'as-3' }, flow)).toBe('limit');
    draining = true;
    await ic.shutdown(5000);
    expect(ic.size).toBe(0);
    expect(ic.begin({ ...MONO, key: 'as-4' }, flow)).toBe('shutting-down');
    const text = await metrics.registry.metrics();
    expect(text).toContain('sipscribe_ingress_refused_total{source="freeswitch",reason="stt-full"} 1\n');
    expect(text).toContain('sipscribe_ingress_refused_total{source="audiosocket",reason="limit"} 1\n');
    expect(text).toContain(
      'sipscribe_ingress_refused_total{source="audiosocket",reason="shutting-down"} 1\n',
    );
    await bus.flush();
    expect(
      events.filter((e) => e.type === 'call.ended').map((e) => (e as { reason: string }).reason),
    ).toEqual(['shutdown', 'shutdown']);
  });

  it('a source that sends nothing for rtp.timeoutMs ends with rtp-timeout, through the flush', async () => {
    const pool = new FakePool('stream');
    const call = ingress(pool).begin(MONO, flow);
    if (typeof call === 'string') {
      throw new Error(call);
    }
    await tick();
    call.push(0, new Int16Array(800)); // 100 ms
    clock.advance(1999);
    expect(calls.get(call.id)?.state).toBe('streaming');
    clock.advance(1);
    await call.done;
    expect(calls.get(call.id)).toMatchObject({ state: 'ended', endReason: 'rtp-timeout' });
    expect(pool.stream?.flushed).toBe(true);
  });

  it('audio while the STT stream opens: kept, the source paused at half of stt.earlyAudioMs, all sent at call time 0', async () => {
    const pool = new FakePool('stream');
    let grant!: (a: SttAdmission) => void;
    pool.next = () => new Promise((r) => (grant = r));
    const f = {
      pauses: 0,
      resumes: 0,
      pause(): void {
        this.pauses++;
      },
      resume(): void {
        this.resumes++;
      },
    };
    const call = ingress(pool).begin(MONO, f);
    if (typeof call === 'string') {
      throw new Error(call);
    }
    // A burst arrives in 20 ms pieces before the stream is open; the adapter stops reading when
    // told to pause (400 ms = 5 frames kept is half of earlyAudioMs 800).
    let pushed = 0;
    while (f.pauses === 0 && pushed < 8000) {
      call.push(0, new Int16Array(160));
      pushed += 160;
    }
    expect(f.pauses).toBe(1);
    // 5 frames of 80 ms at 24 kHz came out of the resampler (its filter holds a few ms back).
    expect(pushed).toBeGreaterThanOrEqual(3200);
    expect(pushed).toBeLessThan(3200 + 160 * 4);
    grant(pool.decision('stream'));
    await tick();
    expect(f.resumes).toBe(1);
    expect(pool.stream?.frames).toBe(5);
    // Sample timing: the first frame kept is call time 0, whatever the clock says.
    expect(pool.openOptions?.startMs).toBe(0);
    await call.end('bye-remote');
  });

  describe('stt.whenFull "defer"', () => {
    beforeEach(() => {
      config = { ...config, stt: { ...config.stt, whenFull: 'defer' } };
    });
    /** Lets the deferred transcriptions find their slot (polled every 2 s) and stream `streams` recordings. */
    async function transcribedLater(pool: FakePool, streams: number): Promise<void> {
      for (let i = 0; i < 20 && pool.streams.length < streams; i++) {
        clock.advance(2000);
        await tick();
      }
      clock.advance(2000);
    }
    /** 24 kHz PCM16 on disk: 3840 bytes per 80 ms frame, after the 44-byte WAV header. */
    const wavBytes = (frames: number): number => 44 + frames * 3840;

    it('no slot for every channel: accepted, each channel recorded, transcribed after the end under its own label', async () => {
      const pool = new FakePool('defer', ['later']);
      pool.capacity = false;
      const ic = ingress(pool, new PendingBudget(dir, 100_000_000));
      const call = ic.begin(STEREO, flow);
      if (typeof call === 'string') {
        throw new Error(call);
      }
      expect(pool.admits).toBe(0); // no slot sought while the stream runs
      expect(calls.get(call.id)?.state).toBe('answered');
      // One second of stereo sent at once: 12 frames of 80 ms per channel, on disk.
      call.pushInterleaved(new Int16Array(2 * 8000));
      const files = [pendingPath(dir, call.id), pendingPath(dir, `${call.id}.callee`)];
      expect(files.map((f) => statSync(f).size)).toEqual([wavBytes(12), wavBytes(12)]);
      const ending = call.end('bye-remote');
      await tick();
      expect(calls.get(call.id)?.state).toBe('ending');
      pool.slotFree = true; // slots free up: each channel's recording is streamed
      await transcribedLater(pool, 2);
      await ending;
      await bus.flush();
      expect(pool.streams.map((s) => s.frames)).toEqual([13, 13]); // with the last, padded frame
      expect(events[0]).toMatchObject({ type: 'call.started', deferred: true });
      const ended = events.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
      expect(ended).toMatchObject({ type: 'call.ended', reason: 'bye-remote', durationMs: 1000 });
      expect(ended.transcript.map((u) => [u.channel, u.text]).sort()).toEqual([
        ['callee', 'later'],
        ['caller', 'later'],
      ]);
      await tick();
      expect(files.map((f) => existsSync(f))).toEqual([false, false]);
      expect(ic.size).toBe(0);
    });

    it('beyond storage.pendingMaxBytes a stream without a slot is refused as pending-full', async () => {
      const pool = new FakePool('defer');
      pool.capacity = false;
      const ic = ingress(pool, new PendingBudget(dir, 1000)); // not a minute of audio
      expect(ic.begin(MONO, flow)).toBe('pending-full');
      expect(await metrics.registry.metrics()).toContain(
        'sipscribe_ingress_refused_total{source="audiosocket",reason="pending-full"} 1\n',
      );
      expect(calls.active()).toEqual([]);
    });

    it('a slot gone by the time the stream opens: that channel recorded, the other streamed live', async () => {
      const pool = new FakePool('stream', ['both']);
      const decisions = ['stream', 'defer'] as const;
      let n = 0;
      pool.next = () => Promise.resolve(pool.decision(decisions[n++] ?? 'defer'));
      const call = ingress(pool).begin(STEREO, flow);
      if (typeof call === 'string') {
        throw new Error(call);
      }
      await tick();
      expect(calls.get(call.id)?.state).toBe('streaming');
      call.pushInterleaved(new Int16Array(2 * 8000));
      expect(pool.streams.map((s) => s.frames)).toEqual([12]);
      expect(statSync(pendingPath(dir, `${call.id}.callee`)).size).toBe(wavBytes(12));
      const ending = call.end('bye-remote');
      pool.slotFree = true;
      await transcribedLater(pool, 2);
      await ending;
      await bus.flush();
      const ended = events.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
      expect(ended.transcript.map((u) => u.channel).sort()).toEqual(['callee', 'caller']);
    });

    it('shutdown past its deadline while waiting for a slot: the call is parked, its audio left pending', async () => {
      const pool = new FakePool('defer');
      pool.capacity = false;
      const ic = ingress(pool);
      const call = ic.begin(MONO, flow);
      if (typeof call === 'string') {
        throw new Error(call);
      }
      call.push(0, new Int16Array(8000));
      const down = ic.shutdown(3000);
      await tick();
      clock.advance(3000); // no slot came: the deadline passes
      await down;
      await bus.flush();
      expect(statSync(pendingPath(dir, call.id)).size).toBe(wavBytes(13));
      expect(calls.active()).toEqual([]);
      expect(calls.get(call.id)?.state).toBe('ending'); // parked: the next start completes it
      expect(events.map((e) => e.type)).toEqual(['call.started']);
    });
  });

  it('drain: waits for the streams in progress to end by themselves; false when the time runs out', async () => {
    const pool = new FakePool('stream');
    const ic = ingress(pool);
    const a = ic.begin(MONO, flow);
    const b = ic.begin({ ...MONO, key: 'as-2' }, flow);
    if (typeof a === 'string' || typeof b === 'string') {
      throw new Error('refused');
    }
    await tick();
    draining = true;
    let result: boolean | null = null;
    void ic.drained(60_000).then((r) => (result = r));
    expect(ic.begin({ ...MONO, key: 'as-3' }, flow)).toBe('shutting-down');
    await a.end('bye-remote');
    await tick();
    expect(result).toBeNull(); // one stream still in progress
    await b.end('bye-remote');
    await tick();
    expect(result).toBe(true);
    const c = ingress(pool);
    draining = false;
    const late = c.begin(MONO, flow);
    draining = true;
    const waited = c.drained(1000);
    clock.advance(1000);
    expect(await waited).toBe(false);
    expect(typeof late === 'object' && late.live).toBe(true);
    await c.shutdown(1000);
  });
});

describe('PcmFramer', () => {
  it('16 kHz in → 1920-sample frames at 24 kHz by sample count; a 1 kHz tone stays 1 kHz', () => {
    const frames: Float32Array[] = [];
    const framer = new PcmFramer(16_000, (f) => frames.push(f.slice()));
    const tone = new Int16Array(16_000); // one second of 1 kHz at 16 kHz, amplitude 0.5
    for (let i = 0; i < tone.length; i++) {
      tone[i] = Math.round(16384 * Math.sin((2 * Math.PI * 1000 * i) / 16_000));
    }
    for (let pos = 0; pos < tone.length; pos += 320) {
      framer.push(tone.subarray(pos, pos + 320));
    }
    framer.flush();
    // 1 s = 12.5 frames of 80 ms: 13 after the flush (the last padded with zeros).
    expect(frames).toHaveLength(13);
    expect(framer.durationMs).toBe(1000);
    // A 1 kHz sine crosses zero 2000 times a second: 160 times in an 80 ms frame.
    const mid = frames[6]!;
    let crossings = 0;
    for (let i = 1; i < mid.length; i++) {
      if (Math.sign(mid[i]!) !== Math.sign(mid[i - 1]!)) {
        crossings++;
      }
    }
    expect(crossings).toBeGreaterThanOrEqual(158);
    expect(crossings).toBeLessThanOrEqual(162);
    const peak = mid.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(peak).toBeGreaterThan(0.48);
    expect(peak).toBeLessThan(0.52);
  });

  it('interleaved stereo: each channel read with its offset and stride', () => {
    const left: Float32Array[] = [];
    const right: Float32Array[] = [];
    const l = new PcmFramer(24_000, (f) => left.push(f.slice()));
    const r = new PcmFramer(24_000, (f) => right.push(f.slice()));
    const pcm = new Int16Array(2 * 1920);
    for (let i = 0; i < 1920; i++) {
      pcm[2 * i] = 8192;
      pcm[2 * i + 1] = -8192;
    }
    l.push(pcm, 0, 2);
    r.push(pcm, 1, 2);
    expect(left[0]?.every((v) => v === 0.25)).toBe(true);
    expect(right[0]?.every((v) => v === -0.25)).toBe(true);
  });
});
