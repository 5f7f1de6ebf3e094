// CallSession in memory: a scripted SIP call, RTP over the in-memory network, a scripted STT pool,
// the real registry and bus, and a FakeClock. Each way into and out of a call is checked against
// the call states of architecture.md and the resources it must give back.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaThreads } from '../../../rtp/index.js';
import { CallRegistry } from '../../../src/call/CallRegistry.js';
import { appEndReason, CallSession, sdpAddress, type SessionCall } from '../../../src/call/CallSession.js';
import { parseConfig, type Config } from '../../../src/config.js';
import type { CallEvent } from '../../../src/events.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import type { SttAdmission, SttPool } from '../../../src/stt/index.js';
import { SttError } from '../../../src/stt/index.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { PendingBudget, pendingPath } from '../../../src/recording/PendingRecording.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { MemoryNetwork } from '../../rtp/session/memoryNetwork.js';
import { logSink } from '../logSink.js';
import { FakeCall, FakePool, META, REMOTE } from './fakes.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CallSession', () => {
  let dir = '';
  let db: Db;
  let appClock: FakeClock;
  let clock: FakeClock;
  let bus: TranscriptBus;
  let events: CallEvent[];
  let metrics: Metrics;
  let calls: CallRegistry;
  let net: MemoryNetwork;
  let config: Config;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-session-'));
    db = openDatabase(dir);
    appClock = new FakeClock(Date.UTC(2026, 10, 26, 9, 0, 0));
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
    net = new MemoryNetwork();
    config = parseConfig({
      rtp: { host: '198.51.100.7', portMin: 30000, portMax: 30009, timeoutMs: 2000 },
      storage: { dir },
    });
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function session(
    call: FakeCall,
    pool: FakePool,
    pendingBudget?: PendingBudget,
    mediaThreads?: MediaThreads,
  ): CallSession {
    const { id } = calls.create(META);
    return new CallSession(id, call as unknown as SessionCall, logSink().logger, {
      ...(mediaThreads ? { mediaThreads } : {}),
      config,
      calls,
      bus,
      metrics,
      recorder: null,
      pool: pool as unknown as SttPool,
      clock,
      wallClock: () => appClock.now(),
      socketFactory: net,
      ...(pendingBudget ? { pendingBudget } : {}),
    });
  }

  it('answers with the RTP port, streams frames, and ends a remote BYE through the flush', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('stream', ['hello', 'world']);
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    expect(call.answeredWith?.address).toBe('198.51.100.7');
    expect(net.bound.size).toBe(2); // RTP + RTCP
    expect(calls.get(s.id)?.state).toBe('streaming');
    clock.advance(800);
    expect(pool.stream?.frames).toBe(10); // one 80 ms frame per 80 ms of call time
    call.end('bye-remote');
    await s.done;
    await bus.flush();
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'bye-remote' });
    expect(pool.stream?.flushed).toBe(true);
    expect(net.bound.size).toBe(0);
    expect(call.hangups).toBe(0);
    expect(events.map((e) => e.type)).toEqual([
      'call.started',
      'transcript.word',
      'transcript.word',
      'transcript.utterance',
      'call.ended',
    ]);
    const ended = events.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended.transcript.map((u) => u.text)).toEqual(['hello world']);
    expect(ended.call.codec).toBe('PCMU');
    expect(events[0]!.call.srtp).toBeNull(); // plain RTP
  });

  it('call.started names the negotiated SRTP suite beside the codec', async () => {
    const suite = 'AEAD_AES_128_GCM';
    const call = new FakeCall({
      ...REMOTE,
      srtp: { suite, remoteKey: Buffer.alloc(28, 1), localKey: Buffer.alloc(28, 2) },
    });
    const s = session(call, new FakePool('stream'));
    await s.start({ ringMs: 0 });
    await tick();
    expect(calls.get(s.id)?.meta.srtp).toBe(suite); // the live record (API)
    call.end('bye-remote');
    await s.done;
    await bus.flush();
    const started = events.find((e) => e.type === 'call.started')!;
    expect(started.call).toMatchObject({ codec: 'PCMU', srtp: suite });
  });

  it('a call never ACKed takes no STT slot and opens no stream; the ACK timeout ends it', async () => {
    const call = new FakeCall(REMOTE, false);
    const pool = new FakePool('stream');
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    expect(call.answeredWith).not.toBeNull();
    clock.advance(1500); // no ACK (and no RTP: rtp.timeoutMs is 2 s here)
    expect(pool.admits).toBe(0);
    expect(pool.stream).toBeNull();
    expect(calls.get(s.id)?.state).toBe('answered');
    expect(await streamsGauge()).toEqual({});
    call.end('ack-timeout'); // 64·T1 without an ACK: the SIP layer ends the call
    await s.done;
    expect(pool.admits).toBe(0);
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'error' });
    expect(net.bound.size).toBe(0);
  });

  it('the STT stream opens at the ACK, with the audio since the answer at its place in call time', async () => {
    const call = new FakeCall(REMOTE, false);
    const pool = new FakePool('stream');
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    const answeredAt = clock.now();
    clock.advance(400); // 5 frames of 80 ms before the ACK
    call.ack();
    await tick();
    expect(pool.admits).toBe(1);
    expect(calls.get(s.id)?.state).toBe('streaming');
    expect(pool.stream?.frames).toBe(5);
    // Frame 0 of the stream is the first frame after the answer: call time 0.
    expect(clock.now() - answeredAt).toBe(400);
    expect(pool.openOptions?.startMs).toBe(0);
    clock.advance(800);
    expect(pool.stream?.frames).toBe(15);
    call.end('bye-remote');
    await s.done;
    expect(pool.stream?.flushed).toBe(true);
  });

  it('a stream that opens seconds late gets the whole backlog since the answer, at call time 0', async () => {
    config = parseConfig({
      rtp: { host: '198.51.100.7', portMin: 30000, portMax: 30009, timeoutMs: 20_000 },
      storage: { dir },
    });
    const call = new FakeCall(REMOTE, false);
    const pool = new FakePool('stream');
    // The STT handshake takes 3 s (a loaded server): the slot is granted when the test says so.
    let grant!: (a: SttAdmission) => void;
    pool.next = () => new Promise((r) => (grant = r));
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    const answeredAt = clock.now();
    call.ack();
    await tick();
    expect(pool.admits).toBe(1); // asked at the ACK
    clock.advance(3000); // 37 frames of 80 ms arrive while the stream opens
    grant(pool.decision('stream'));
    await tick();
    expect(calls.get(s.id)?.state).toBe('streaming');
    // Every frame since the answer went to the stream, the first at call time 0.
    expect(pool.stream?.frames).toBe(37);
    expect(clock.now() - answeredAt).toBe(3000);
    // 37 frames of 80 ms (2960 ms) in 3000 ms: frame 0 is placed at call time 3000 − 2960 = 40 ms,
    // within one frame of the answer.
    expect(pool.openOptions?.startMs).toBe(40);
    clock.advance(800);
    expect(pool.stream?.frames).toBe(47);
    call.end('bye-remote');
    await s.done;
    expect(pool.stream?.flushed).toBe(true);
  });

  it('keeps at most stt.earlyAudioMs of audio before the stream opens, the latest, at its call time', async () => {
    config = parseConfig({
      rtp: { host: '198.51.100.7', portMin: 30000, portMax: 30009, timeoutMs: 20_000 },
      stt: { earlyAudioMs: 800 },
      storage: { dir },
    });
    const call = new FakeCall(REMOTE, false);
    const pool = new FakePool('stream');
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    const answeredAt = clock.now();
    clock.advance(1600); // 20 frames; the ACK comes late
    call.ack();
    await tick();
    expect(pool.stream?.frames).toBe(10);
    // The 10 frames kept are the last 800 ms: the stream's frame 0 sits at call time 800 ms.
    expect(clock.now() - answeredAt).toBe(1600);
    expect(pool.openOptions?.startMs).toBe(800);
    call.end('bye-remote');
    await s.done;
  });

  it('the slot went to another call between the INVITE and the ACK (whenFull reject): BYE, ended, counted', async () => {
    const call = new FakeCall(REMOTE);
    const s = session(call, new FakePool('reject'));
    await s.start({ ringMs: 0 });
    await s.done;
    expect(call.hangups).toBe(1);
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'error' });
    expect(await metrics.registry.metrics()).toContain(
      'sipscribe_admission_refused_total{reason="stt-full"} 1\n',
    );
    expect(net.bound.size).toBe(0);
  });

  it('BYE while the stream is being opened: it opens with the early audio, then is flushed', async () => {
    const call = new FakeCall(REMOTE, false);
    const pool = new FakePool('stream', ['hi']);
    let resolve!: (a: SttAdmission) => void;
    pool.next = () => new Promise((r) => (resolve = r));
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    clock.advance(240);
    call.ack();
    call.end('bye-remote');
    await tick();
    resolve(pool.decision('stream'));
    await s.done;
    expect(pool.stream?.frames).toBe(3);
    expect(pool.stream?.flushed).toBe(true);
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'bye-remote' });
    expect(net.bound.size).toBe(0);
  });

  it('no RTP for rtp.timeoutMs: BYE, ended with rtp-timeout', async () => {
    const call = new FakeCall(REMOTE);
    const s = session(call, new FakePool('stream'));
    await s.start({ ringMs: 0 });
    clock.advance(2500);
    await s.done;
    expect(call.hangups).toBe(1);
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'rtp-timeout' });
    expect(net.bound.size).toBe(0);
  });

  it('STT failover gave up: the call ends (reason error) with what was transcribed', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('stream', ['partial']);
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    pool.stream?.delegate.onError?.(new SttError('STT_ERR_FAILOVER', 'no server took the stream'));
    await s.done;
    await bus.flush();
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'error' });
    expect(call.hangups).toBe(1);
    expect(events.filter((e) => e.type === 'transcript.word')).toHaveLength(1);
  });

  it('its media thread died: the call ends (reason error) through the flush, with what was transcribed', async () => {
    // A real media thread and real UDP on loopback (the caller's side a bound socket).
    const peer = createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const peerPort = peer.address().port;
    config = parseConfig({
      rtp: { host: '127.0.0.1', portMin: 21000, portMax: 21999 },
      storage: { dir },
    });
    const threads = new MediaThreads({ threads: 1 });
    try {
      const call = new FakeCall({ ...REMOTE, address: '127.0.0.1', port: peerPort, rtcpPort: peerPort });
      const pool = new FakePool('stream', ['partial']);
      const s = session(call, pool, undefined, threads);
      await s.start({ ringMs: 0 });
      expect(threads.sessions()).toEqual([1]);
      expect(net.bound.size).toBe(0); // not on this thread's sockets
      await threads.terminateThread(0);
      await s.done;
      await bus.flush();
      expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'error' });
      expect(call.hangups).toBe(1);
      expect(pool.stream?.flushed).toBe(true);
      expect(events.filter((e) => e.type === 'transcript.word')).toHaveLength(1);
    } finally {
      await threads.stop();
      peer.close();
    }
  });

  it('shutdown: end("shutdown") hangs up and flushes; a second end is the same promise', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('stream');
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    const a = s.end('shutdown');
    const b = s.end('error');
    expect(a).toBe(b);
    await a;
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'shutdown' });
    expect(pool.stream?.flushed).toBe(true);
  });

  it('ringMs: rings that long before answering, unless the caller cancels', async () => {
    const call = new FakeCall(REMOTE);
    const s = session(call, new FakePool('stream'));
    const started = s.start({ ringMs: 3000 });
    await tick();
    clock.advance(2000);
    await tick();
    expect(call.answeredWith).toBeNull();
    expect(calls.get(s.id)?.state).toBe('ringing');
    clock.advance(1000);
    await started;
    expect(call.answeredWith).not.toBeNull();
    call.end('bye-remote');
    await s.done;
  });

  /** `sipscribe_stt_streams` per server label, as Prometheus would scrape it (zeros included). */
  async function streamsGauge(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const v of (await metrics.sttStreams.get()).values) {
      out[String(v.labels.server)] = v.value;
    }
    return out;
  }
  const A = 'ws://stt.test/api/asr-streaming';
  const B = 'ws://stt-b.test/api/asr-streaming';
  const C = 'ws://stt-c.test/api/asr-streaming';
  const reconnect = (from: string, to: string) => ({ from, to, replayedMs: 3000, outageMs: 120 });

  it('sipscribe_stt_streams follows the stream across failovers and returns to 0 at the end', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('stream');
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    expect(await streamsGauge()).toEqual({ [A]: 1 });
    pool.stream?.delegate.onReconnect?.(reconnect(A, B));
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 1 });
    pool.stream?.delegate.onReconnect?.(reconnect(B, C));
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 0, [C]: 1 });
    call.end('bye-remote');
    await s.done;
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
  });

  it('sipscribe_stt_streams: a failover that gave up uncounts the stream once', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('stream');
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    pool.stream?.delegate.onReconnect?.(reconnect(A, B));
    pool.stream?.delegate.onError?.(new SttError('STT_ERR_FAILOVER', 'no server took the stream'));
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 0 });
    await s.done;
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 0 });
  });

  it('sipscribe_stt_streams: shutdown past the deadline (abort) gives the count back once', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('stream');
    let resolveFlush!: () => void;
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    const stream = pool.stream!;
    const realFlush = stream.flush.bind(stream);
    stream.flush = () => new Promise((r) => (resolveFlush = () => void realFlush().then(r)));
    stream.delegate.onReconnect?.(reconnect(A, B));
    const ending = s.end('shutdown');
    await tick();
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 1 }); // still flushing on B
    s.abort();
    expect(stream.closed).toBe(true);
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 0 });
    resolveFlush();
    await ending;
    expect(await streamsGauge()).toEqual({ [A]: 0, [B]: 0 });
  });

  it('sipscribe_stt_streams: a call ended before the answer never counts', async () => {
    const call = new FakeCall(REMOTE);
    const s = session(call, new FakePool('reject'));
    await s.start({ ringMs: 0 });
    await s.done;
    expect(await streamsGauge()).toEqual({});
  });

  it('defer: the audio goes to storage.dir/pending/<id>.wav, is transcribed after the hangup, then deleted', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('defer', ['late', 'words']);
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    expect(calls.get(s.id)?.state).toBe('answered');
    const file = pendingPath(dir, s.id);
    clock.advance(800); // 10 frames of 80 ms
    expect(statSync(file).size).toBe(44 + 10 * 3840); // 24 kHz PCM16: 3840 bytes per frame
    clock.advance(800);
    expect(statSync(file).size).toBe(44 + 20 * 3840); // grows on disk, not in memory
    call.end('bye-remote');
    await tick();
    expect(calls.get(s.id)?.state).toBe('ending');
    pool.slotFree = true; // a slot frees up
    clock.advance(2000);
    await s.done;
    await bus.flush();
    expect(pool.stream?.frames).toBe(20);
    expect(calls.get(s.id)).toMatchObject({ state: 'ended', endReason: 'bye-remote', durationMs: 1600 });
    const ended = events.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended.type).toBe('call.ended');
    expect(ended.durationMs).toBe(1600); // the call's length, not the wait for the slot
    expect(ended.transcript.map((u) => u.text)).toEqual(['late words']);
    await tick();
    expect(existsSync(file)).toBe(false);
    expect(await streamsGauge()).toEqual({ [A]: 0 });
  });

  it('defer: call.started says deferred; at storage.pendingMaxBytes the call is hung up, its audio so far transcribed', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('defer', ['kept']);
    // Room for the WAV header and 10 frames (24 kHz PCM16: 3840 bytes per 80 ms frame).
    const budget = new PendingBudget(dir, 44 + 10 * 3840);
    const s = session(call, pool, budget);
    await s.start({ ringMs: 0, deferred: true });
    expect(events[0]).toMatchObject({ type: 'call.started', deferred: true });
    const file = pendingPath(dir, s.id);
    clock.advance(800);
    expect(statSync(file).size).toBe(44 + 10 * 3840);
    expect(call.hangups).toBe(0);
    clock.advance(80); // the 11th frame does not fit: BYE
    await tick();
    expect(call.hangups).toBe(1);
    expect(calls.get(s.id)).toMatchObject({ state: 'ending', endReason: 'error' });
    expect(statSync(file).size).toBe(44 + 10 * 3840);
    expect(await metrics.registry.getSingleMetricAsString('sipscribe_admission_refused_total')).toContain(
      'reason="pending-full"} 1',
    );
    pool.slotFree = true;
    clock.advance(2000);
    await s.done;
    await bus.flush();
    expect(pool.stream?.frames).toBe(10);
    await tick();
    expect(existsSync(file)).toBe(false);
    expect(budget.usedBytes).toBe(0); // the removed file's bytes are back
  });

  it('defer: shutdown before a slot freed up leaves the file and the call in ending, without call.ended', async () => {
    const call = new FakeCall(REMOTE);
    const pool = new FakePool('defer');
    const s = session(call, pool);
    await s.start({ ringMs: 0 });
    clock.advance(800);
    const ending = s.end('shutdown');
    await tick();
    clock.advance(4000); // no slot: still waiting
    await tick();
    expect(s.state).toBe('ending');
    s.abort(); // the shutdown deadline passed
    await ending;
    await s.done;
    await bus.flush();
    const file = pendingPath(dir, s.id);
    expect(statSync(file).size).toBe(44 + 10 * 3840);
    expect(calls.active()).toEqual([]); // let go of …
    expect(calls.get(s.id)?.state).toBe('ending'); // … but not ended: the next start completes it
    expect(events.map((e) => e.type)).toEqual(['call.started']);
    expect((await metrics.callsActive.get()).values[0]?.value).toBe(0);
    const polls = pool.reserves;
    pool.slotFree = true;
    clock.advance(10_000);
    await tick();
    expect(pool.reserves).toBe(polls); // nothing polls after the cancel
    expect(pool.stream).toBeNull();
  });

  it('re-INVITE hold reaches the RTP session; INFO DTMF becomes a dtmf event', async () => {
    const call = new FakeCall(REMOTE);
    const s = session(call, new FakePool('stream', []));
    await s.start({ ringMs: 0 });
    call.emit('mediaUpdated', { ...REMOTE, direction: 'sendonly' });
    call.emit('dtmf', { digit: '5', durationMs: 160 });
    clock.advance(400);
    call.end('bye-remote');
    await s.done;
    await bus.flush();
    expect(events.filter((e) => e.type === 'dtmf')).toMatchObject([{ digit: '5', durationMs: 160 }]);
  });
});

/** RFC 4733 §2.3 telephone-event packet, written byte by byte: V=2, PT 101, event, E bit, duration. */
function telephoneEvent(seq: number, ts: number, event: number, end: boolean, duration: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0x80);
  v.setUint8(1, 101);
  v.setUint16(2, seq);
  v.setUint32(4, ts);
  v.setUint32(8, 0x1234abcd);
  v.setUint8(12, event);
  v.setUint8(13, (end ? 0x80 : 0) | 10); // E, R=0, volume 10
  v.setUint16(14, duration);
  return b;
}

describe('CallSession RFC 4733', () => {
  it('a telephone-event in the RTP becomes a dtmf event with its digit and duration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipscribe-session-dtmf-'));
    const db = openDatabase(dir);
    const appClock = new FakeClock(Date.UTC(2026, 10, 26, 9, 0, 0));
    const clock = new FakeClock(1000);
    const bus = new TranscriptBus({ logger: logSink().logger, clock: appClock });
    const events: CallEvent[] = [];
    bus.addSink({ name: 'collect', handle: (e) => void events.push(e) });
    const metrics = createMetrics({ processMetrics: false });
    const calls = new CallRegistry({
      store: new CallStore(db),
      bus,
      clock: appClock,
      logger: logSink().logger,
      metrics,
    });
    const net = new MemoryNetwork();
    const config = parseConfig({ rtp: { host: '198.51.100.7', portMin: 30000, portMax: 30009 } });
    const call = new FakeCall({ ...REMOTE, telephoneEventPayloadType: 101 });
    const { id } = calls.create(META);
    const s = new CallSession(id, call as unknown as SessionCall, logSink().logger, {
      config,
      calls,
      bus,
      metrics,
      recorder: null,
      pool: new FakePool('stream', []) as unknown as SttPool,
      clock,
      wallClock: () => appClock.now(),
      socketFactory: net,
    });
    await s.start({ ringMs: 0 });
    const port = call.answeredWith?.port ?? 0;
    const peer = await net.bind(REMOTE.address, REMOTE.port);
    // Digit 5 held 160 ms (1280 samples at 8 kHz): updates, then the end packet sent three times.
    let seq = 100;
    for (const [end, duration] of [
      [false, 160],
      [false, 640],
      [true, 1280],
      [true, 1280],
      [true, 1280],
    ] as const) {
      peer.send(telephoneEvent(seq++, 8000, 5, end, duration), port, '198.51.100.7');
      clock.advance(20);
    }
    clock.advance(200);
    call.end('bye-remote');
    await s.done;
    await bus.flush();
    expect(events.filter((e) => e.type === 'dtmf')).toMatchObject([{ digit: '5', durationMs: 160 }]);
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('appEndReason', () => {
  it('maps SIP end reasons onto the event schema (architecture.md)', () => {
    expect(appEndReason('bye-remote')).toBe('bye-remote');
    expect(appEndReason('session-expired')).toBe('session-expired');
    expect(appEndReason('ack-timeout')).toBe('error');
    expect(appEndReason('transport-error')).toBe('error');
  });
});

describe('sdpAddress', () => {
  it('prefers rtp.publicAddress, then a concrete rtp.host', async () => {
    expect(await sdpAddress(parseConfig({ rtp: { publicAddress: '203.0.113.5' } }), '192.0.2.4')).toBe(
      '203.0.113.5',
    );
    expect(await sdpAddress(parseConfig({ rtp: { host: '198.51.100.7' } }), '192.0.2.4')).toBe(
      '198.51.100.7',
    );
  });
});
