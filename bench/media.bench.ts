/**
 * `npm run bench -- media`: the whole receive path of one call (RTP datagram in → A.1 validation →
 * jitter buffer → G.711 decode → PLC → 8→24 kHz polyphase upsampler → 1920-sample float32 frames
 * out), driven by a fake clock so only CPU is measured: CPU ms per second of call audio, the number
 * of concurrent real-time calls one core sustains, and memory per active call. The tutorial approach
 * (payload = msg.slice(12), per-sample Buffer writes, linear interpolation, Buffer.concat into
 * frames) runs in the same process as the baseline.
 *
 * CPU is process.cpuUsage() over many call-seconds, best of 6 interleaved rounds after a warm-up. The machine may be
 * shared: compare ratios more than absolute numbers.
 *
 * Then the path on to the STT socket: frames → ChannelTranscriber → SttStream (replay buffer) →
 * MessagePack encoding into one reused buffer (what SttConnection hands to `ws`), the session's
 * frames sent as they come (now: the RTP session is the one owner of the timing) against the same
 * frames paced a second time by the stream's FramePacer (before #12 item 2), same run, interleaved.
 *
 * Before that, issue 16's media levers: 200 calls in memory (CPU, garbage collections and bytes
 * allocated per call-second, with `silence` and `keepalive` sent back), and 200 calls on real UDP
 * with the system clock and a caller process, per `rtp.sendBack` mode.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { serializeRtp } from '../rtp/packet/RtpPacket.js';
import { RtpSession, type RemoteMedia } from '../rtp/session/RtpSession.js';
import type { SendBack } from '../rtp/session/types.js';
import { silentLogger } from '../lib/logger.js';
import { ChannelTranscriber } from '../src/call/ChannelTranscriber.js';
import type { Metrics } from '../src/metrics.js';
import type { SttPool, SttStreamDelegate } from '../src/stt/index.js';
import { audioMessageSize, encodeAudio, FRAME_SAMPLES } from '../src/stt/protocol.js';
import type { SttLink, SttStreamOptions } from '../src/stt/streamTypes.js';
import { SttStream } from '../src/stt/SttStream.js';
import type { TranscriptBus } from '../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../test/helpers/FakeClock.js';
import { FIXTURES } from '../test/helpers/paths.js';
import { MemoryNetwork, type MemorySocket } from '../test/rtp/session/memoryNetwork.js';

const CALL_SECONDS = 180;
const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));
const PER_FILE = ulaw.byteLength / 160;

/** Datagrams of `seconds` of call, as node:dgram hands them over (one Buffer each). */
export function datagrams(seconds: number): Buffer[] {
  const out: Buffer[] = [];
  for (let k = 0; k < seconds * 50; k++) {
    const p = (k % PER_FILE) * 160;
    const bytes = serializeRtp(
      { payloadType: 0, sequenceNumber: k & 0xffff, timestamp: (k * 160) >>> 0, ssrc: 0xc0ffee },
      ulaw.subarray(p, p + 160),
    );
    out.push(Buffer.from(bytes));
  }
  return out;
}

function remote(direction: RemoteMedia['direction']): RemoteMedia {
  return {
    address: '127.0.0.2',
    port: 40000,
    rtcpPort: 40001,
    rtcpMux: false,
    codec: 'PCMU',
    payloadType: 0,
    ptime: 20,
    direction,
  };
}

export interface Call {
  session: RtpSession;
  clock: FakeClock;
  peer: MemorySocket;
  frames: number;
}

export async function openCall(
  net: MemoryNetwork,
  peerPort: number,
  direction: RemoteMedia['direction'],
  srtp?: RemoteMedia['srtp'],
): Promise<Call> {
  const clock = new FakeClock(1000);
  const peer = await net.bind('127.0.0.2', peerPort);
  const call = { clock, peer, frames: 0 } as Call;
  call.session = await RtpSession.open(
    { host: '127.0.0.1', portMin: 20000, portMax: 60000, clock, socketFactory: net, timeoutMs: 0 },
    {
      onFrame: (frame) => {
        // A consumer touches the frame (as serialising it would).
        if (frame[0]! > 2) {
          call.frames--;
        }
        call.frames++;
      },
    },
  );
  call.session.start({
    ...remote(direction),
    port: peerPort,
    rtcpPort: peerPort + 1,
    ...(srtp ? { srtp } : {}),
  });
  return call;
}

/** Feeds `packets` to a call, one per 20 ms of its clock. */
export function drive(call: Call, packets: Buffer[]): void {
  const to = call.session.localPort;
  for (const d of packets) {
    call.peer.send(d, to, '127.0.0.1');
    call.clock.advance(20);
  }
}

// --- the tutorial approach, as the bridges this product replaces write it ---

function tutorialUlaw(u: number): number {
  u = ~u & 0xff;
  const sign = u & 0x80;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  let sample = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  if (sign) {
    sample = -sample;
  }
  return sample;
}

/** One packet: skip 12 bytes, decode into a Buffer, linear-interpolate ×3 into another, concat into frames. */
function tutorialReceive(state: { pending: Buffer; frames: number }, msg: Buffer): void {
  const payload = msg.slice(12);
  const pcm = Buffer.alloc(payload.length * 2);
  for (let i = 0; i < payload.length; i++) {
    pcm.writeInt16LE(tutorialUlaw(payload[i]!), i * 2);
  }
  const n = payload.length;
  const out = Buffer.alloc(n * 3 * 4);
  for (let i = 0; i < n; i++) {
    const a = pcm.readInt16LE(i * 2) / 32768;
    const b = i + 1 < n ? pcm.readInt16LE((i + 1) * 2) / 32768 : a;
    for (let j = 0; j < 3; j++) {
      out.writeFloatLE(a + ((b - a) * j) / 3, (i * 3 + j) * 4);
    }
  }
  state.pending = Buffer.concat([state.pending, out]);
  while (state.pending.length >= 1920 * 4) {
    const frame = state.pending.slice(0, 1920 * 4);
    state.pending = state.pending.slice(1920 * 4);
    if (frame.readFloatLE(0) > 2) {
      state.frames--;
    }
    state.frames++;
  }
}

export function cpu<T>(fn: () => T): { ms: number; result: T } {
  const t0 = process.cpuUsage();
  const result = fn();
  const d = process.cpuUsage(t0);
  return { ms: (d.user + d.system) / 1000, result };
}

function gc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * The caller side in a child process (its CPU is not ours): one UDP socket on 127.0.0.1 that, once
 * given the sessions' ports, sends each of them a 20 ms μ-law packet every 20 ms, and counts what
 * comes back.
 */
const PEER = `
const s = require('node:dgram').createSocket('udp4');
const payload = Buffer.alloc(160, 0x55);
let back = 0, ports = [], timer, seq = 0, t0 = 0;
s.on('message', () => back++);
s.bind(0, '127.0.0.1', () => process.send({ port: s.address().port }));
process.on('message', (m) => {
  if (m.ports) {
    ports = m.ports; clearInterval(timer); seq = 0; t0 = performance.now();
    const tick = () => {
      const due = Math.floor((performance.now() - t0) / 20);
      for (; seq <= due; seq++) {
        const p = Buffer.alloc(172);
        p[0] = 0x80; p.writeUInt16BE(seq & 0xffff, 2); p.writeUInt32BE((seq * 160) >>> 0, 4); p.writeUInt32BE(0xc0ffee, 8);
        payload.copy(p, 12);
        for (const port of ports) s.send(p, port, '127.0.0.1');
      }
    };
    timer = setInterval(tick, 5);
  } else if (m.stop) { clearInterval(timer); ports = []; }
  else process.send({ back });
});
`;

/**
 * The media path as the process runs it, on real UDP with the system clock: `calls` sessions
 * receiving a 20 ms stream each from a caller process and sending back per `sendBack`, `seconds`
 * per mode. CPU of this process per call-second, garbage collections, datagrams back per call-second.
 */
async function realUdp(calls: number, seconds: number): Promise<void> {
  const peer = fork('-e', [PEER], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const ask = (msg: object): Promise<{ port: number; back: number }> =>
    new Promise((r) => {
      peer.once('message', (m) => r(m as { port: number; back: number }));
      peer.send(msg);
    });
  const { port } = await new Promise<{ port: number }>((r) =>
    peer.once('message', (m) => r(m as { port: number })),
  );
  console.log(
    `real UDP on 127.0.0.1, system clock: ${calls} calls each receiving 50 packets/s from a caller process, ${seconds} s per mode`,
  );
  const modes: [SendBack, number?][] = [['silence'], ['keepalive', 1000], ['none']];
  for (const [sendBack, keepaliveMs] of modes) {
    const sessions: RtpSession[] = [];
    for (let i = 0; i < calls; i++) {
      const s = await RtpSession.open({
        host: '127.0.0.1',
        portMin: 30000,
        portMax: 39999,
        timeoutMs: 0,
        sendBack,
        ...(keepaliveMs ? { keepaliveMs } : {}),
      });
      s.start({ ...remote('sendrecv'), address: '127.0.0.1', port, rtcpPort: port });
      sessions.push(s);
    }
    peer.send({ ports: sessions.map((s) => s.localPort) });
    await new Promise((r) => setTimeout(r, 1000));
    let gcs = 0;
    let gcMs = 0;
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gcs++;
        gcMs += e.duration;
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    const b0 = (await ask({})).back;
    const r0 = sessions.reduce((a, s) => a + s.getStats().received, 0);
    const t0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const d = process.cpuUsage(t0);
    const received = sessions.reduce((a, s) => a + s.getStats().received, 0) - r0;
    const back = (await ask({})).back - b0;
    for (const e of obs.takeRecords()) {
      gcs++;
      gcMs += e.duration;
    }
    obs.disconnect();
    peer.send({ stop: true });
    sessions.forEach((s) => s.close());
    const callSeconds = calls * seconds;
    const label = sendBack + (keepaliveMs ? ` ${keepaliveMs} ms` : '');
    console.log(
      `  ${label.padEnd(16)} ${((d.user + d.system) / 1000 / callSeconds).toFixed(3)} ms CPU per call-second, ` +
        `${((gcs * 1000) / callSeconds).toFixed(1)} GCs per 1000 call-s (${(gcMs / callSeconds).toFixed(4)} ms per call-s), ` +
        `${(received / callSeconds).toFixed(1)} packets in and ${(back / callSeconds).toFixed(1)} datagrams back per call-second`,
    );
    await new Promise((r) => setTimeout(r, 300));
  }
  peer.kill();
}

/** Bytes on the V8 heap (every space). */
function heapBytes(): number {
  let n = 0;
  for (const s of getHeapSpaceStatistics()) {
    n += s.space_used_size;
  }
  return n;
}

/**
 * `calls` calls (their playout and sending driven by their clock), each receiving
 * one packet per 20 ms for `seconds`: CPU per call-second, garbage collections (count and time per
 * call-second, from the GC observer), and bytes allocated per call-second on the receive + playout +
 * send path (heap growth over 20 ms steps in which no collection ran; the datagrams themselves are
 * made beforehand, as node:dgram would hand them over).
 */
async function manyCalls(calls: number, seconds: number, sendBack: SendBack): Promise<void> {
  const net = new MemoryNetwork({ log: false });
  const packets = datagrams(seconds);
  const targets: { port: number; from: { address: string; port: number }; clock: FakeClock }[] = [];
  const sessions: RtpSession[] = [];
  let frames = 0;
  for (let i = 0; i < calls; i++) {
    const peerPort = 40000 + 2 * i;
    // A clock per call: FakeClock scans all its timers at each firing, which would weigh on a path
    // with many timers (the real timers of Node do not); the shared tick is measured on real UDP.
    const clock = new FakeClock(1000);
    const s = await RtpSession.open(
      {
        host: '127.0.0.1',
        portMin: 20000,
        portMax: 60000,
        clock,
        socketFactory: net,
        timeoutMs: 0,
        sendBack,
      },
      {
        onFrame: (frame) => {
          if (frame[0]! > 2) {
            frames--;
          }
          frames++;
        },
      },
    );
    s.start({ ...remote('sendrecv'), port: peerPort, rtcpPort: peerPort + 1 });
    sessions.push(s);
    targets.push({ port: s.localPort, from: { address: '127.0.0.2', port: peerPort }, clock });
  }
  const step = (k: number): void => {
    const d = packets[k]!;
    for (const t of targets) {
      net.inject(d, t.from, '127.0.0.1', t.port);
      t.clock.advance(20);
    }
  };
  const warm = 250;
  for (let k = 0; k < warm; k++) {
    step(k);
  }
  let gcs = 0;
  let gcMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcs++;
      gcMs += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const measured = packets.length - warm;
  const { ms } = cpu(() => {
    for (let k = warm; k < packets.length; k++) {
      step(k);
    }
  });
  await new Promise((r) => setTimeout(r, 50));
  for (const e of obs.takeRecords()) {
    gcs++;
    gcMs += e.duration;
  }
  obs.disconnect();
  // Allocation: the same steps again, heap measured around each (the reading's own cost removed).
  const probe = heapBytes() - heapBytes();
  let bytes = 0;
  let steps = 0;
  for (let k = 0; k < 500; k++) {
    const before = heapBytes();
    step(k % packets.length);
    const grew = heapBytes() - before - probe;
    if (grew >= 0) {
      bytes += grew;
      steps++;
    }
  }
  sessions.forEach((s) => s.close());
  const callSeconds = (calls * measured) / 50;
  console.log(
    `  ${calls} calls in memory, sendBack ${sendBack.padEnd(9)}: ${(ms / callSeconds).toFixed(3)} ms CPU per call-second, ` +
      `${((gcs * 1000) / callSeconds).toFixed(2)} GCs per 1000 call-s (${(gcMs / callSeconds).toFixed(4)} ms per call-s), ` +
      `${Math.round(bytes / ((calls * steps) / 50))} bytes allocated per call-second (${steps}/500 steps without a GC), ${frames} frames`,
  );
}

/**
 * One call from datagram to the STT's MessagePack bytes (no socket): RTP receive path → frames →
 * ChannelTranscriber → SttStream → `encodeAudio` into a reused buffer. `source`: `paced` (the
 * frames go out as the session hands them over), `bursty` (the stream's FramePacer paces them
 * again, as every call's frames were before #12 item 2). CPU ms and GCs per call-second.
 */
async function toStt(
  net: MemoryNetwork,
  peerPort: number,
  packets: Buffer[],
  source: 'paced' | 'bursty',
): Promise<{ ms: number; gcs: number }> {
  const clock = new FakeClock(1000);
  const scratch = new Uint8Array(audioMessageSize(FRAME_SAMPLES));
  let encoded = 0;
  const link: SttLink = {
    server: { url: 'ws://bench/api/asr-streaming' },
    isOpen: true,
    bufferedAmount: 0,
    lastActivityAt: Number.POSITIVE_INFINITY,
    attach: () => undefined,
    sendAudio: (pcm) => {
      encodeAudio(pcm, scratch);
      encoded++;
    },
    sendMarker: () => undefined,
    close: () => undefined,
  };
  const host = {
    reconnect: () => Promise.reject(new Error('bench')),
    released: () => undefined,
    reportLag: () => undefined,
  };
  const pool = {
    admit: () => Promise.resolve({ decision: 'stream', reservation: { server: link.server.url } }),
    open: (_r: unknown, opts: SttStreamOptions, delegate: SttStreamDelegate) =>
      new SttStream(
        link,
        opts,
        { modelDelayMs: 480 },
        { clock, logger: silentLogger, wallClock: () => 0, host },
        delegate,
      ),
  } as unknown as SttPool;
  const none = { inc: () => undefined, dec: () => undefined, observe: () => undefined };
  const stt = new ChannelTranscriber({
    callId: 'bench',
    channel: 'caller',
    log: pino({ level: 'silent' }),
    bus: { isOpen: () => false, publish: () => undefined } as unknown as TranscriptBus,
    metrics: { sttLatency: none, sttReconnects: none, sttStreams: none } as unknown as Metrics,
    pool,
    clock,
    wallClock: () => 0,
    earlyAudioMs: 0,
    source,
    onFailoverGivenUp: () => undefined,
  });
  await stt.open({ answeredAt: clock.now(), answeredWallMs: 0 });
  const peer = await net.bind('127.0.0.2', peerPort);
  const session = await RtpSession.open(
    { host: '127.0.0.1', portMin: 20000, portMax: 60000, clock, socketFactory: net, timeoutMs: 0 },
    { onFrame: (frame) => stt.push(frame) },
  );
  session.start({ ...remote('sendonly'), port: peerPort, rtcpPort: peerPort + 1 });
  const to = session.localPort;
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  const { ms } = cpu(() => {
    for (const d of packets) {
      peer.send(d, to, '127.0.0.1');
      clock.advance(20);
    }
  });
  await new Promise((r) => setTimeout(r, 50));
  gcs += obs.takeRecords().length;
  obs.disconnect();
  session.close();
  stt.abort();
  const expected = Math.floor(packets.length / 4);
  if (Math.abs(encoded - expected) > 2) {
    throw new Error(`expected ${expected} frames encoded, got ${encoded}`);
  }
  const callSeconds = packets.length / 50;
  return { ms: ms / callSeconds, gcs: (gcs * 1000) / callSeconds };
}

/** Datagram → STT bytes, paced by the session alone (now) against paced twice (before), interleaved. */
async function toSttCompared(): Promise<void> {
  const packets = datagrams(60);
  const net = new MemoryNetwork({ log: false });
  let port = 50000;
  const best = { paced: Infinity, bursty: Infinity };
  const gcs = { paced: 0, bursty: 0 };
  for (let r = 0; r <= 6; r++) {
    const feed = r === 0 ? packets.slice(0, 1000) : packets;
    for (const source of ['paced', 'bursty'] as const) {
      const run = await toStt(net, (port += 2), feed, source);
      if (r > 0) {
        best[source] = Math.min(best[source], run.ms);
        gcs[source] += run.gcs / 6;
      }
    }
  }
  console.log(
    'datagram → STT MessagePack bytes (receive path, ChannelTranscriber, SttStream, encode; 60 s, best of 6):',
  );
  for (const [k, label] of [
    ['paced', 'paced by the session (now)'],
    ['bursty', 'paced again by FramePacer'],
  ] as const) {
    console.log(
      `  ${label.padEnd(28)} ${best[k].toFixed(3)} ms CPU per call-second, ${gcs[k].toFixed(1)} GCs per 1000 call-s`,
    );
  }
  console.log(`  ratio pacer / session: ${(best.bursty / best.paced).toFixed(3)}`);
}

export async function run(): Promise<void> {
  console.log('many calls (receive → jitter buffer → PLC → upsampler → frames, and sending):');
  for (let r = 0; r < 2; r++) {
    await manyCalls(200, 30, 'silence');
    await manyCalls(200, 30, 'keepalive');
  }
  await realUdp(200, 5);

  const packets = datagrams(CALL_SECONDS);
  const net = new MemoryNetwork({ log: false });
  let port = 40000;

  // Receive path only (remote sendonly: the session does not send), the full session, and the
  // tutorial approach, interleaved round by round (the machine is shared: best of ROUNDS).
  const ROUNDS = 6;
  const configs = [
    ['receive path (RtpSession, no sending)', 'sendonly'],
    ['full session (receive + G.711 sending + RTCP)', 'sendrecv'],
  ] as const;
  const results: Record<string, number> = {};
  let tutorialBest = Infinity;
  for (let r = 0; r <= ROUNDS; r++) {
    const warmup = r === 0;
    for (const [label, direction] of configs) {
      const call = await openCall(net, (port += 2), direction);
      const feed = warmup ? packets.slice(0, 1000) : packets;
      const { ms } = cpu(() => drive(call, feed));
      const expected = Math.floor(feed.length / 4);
      if (Math.abs(call.frames - expected) > 1) {
        throw new Error(`expected ${expected} frames, got ${call.frames}`);
      }
      call.session.close();
      if (!warmup) {
        results[label] = Math.min(results[label] ?? Infinity, ms / CALL_SECONDS);
      }
    }
    const state = { pending: Buffer.alloc(0), frames: 0 };
    const feed = warmup ? packets.slice(0, 1000) : packets;
    const { ms } = cpu(() => feed.forEach((p) => tutorialReceive(state, p)));
    if (!warmup) {
      tutorialBest = Math.min(tutorialBest, ms / CALL_SECONDS);
    }
  }

  const rx = results['receive path (RtpSession, no sending)']!;
  console.log(
    `call audio per run: ${CALL_SECONDS} s (${packets.length} RTP packets), best of ${ROUNDS} interleaved rounds after a warm-up`,
  );
  for (const [label, ms] of Object.entries(results)) {
    console.log(
      `${label.padEnd(48)} ${ms.toFixed(3)} ms CPU per call-second → ${Math.floor(1000 / ms)} real-time calls per core`,
    );
  }
  console.log(
    `${'tutorial (slice(12), Buffer writes, linear)'.padEnd(48)} ${tutorialBest.toFixed(3)} ms CPU per call-second → ${Math.floor(1000 / tutorialBest)} calls per core`,
  );
  console.log(
    `ratio tutorial / receive path: ${(tutorialBest / rx).toFixed(2)} (the tutorial has no jitter buffer, no PLC and a 23 dB resampler)`,
  );
  await toSttCompared();

  // Memory per active call: 200 calls, each having run 2 s (buffers and pools at steady state).
  const collect = gc();
  const N = 400;
  const settle = async (): Promise<NodeJS.MemoryUsage> => {
    for (let i = 0; i < 4; i++) {
      collect();
      await new Promise((r) => setImmediate(r));
    }
    return process.memoryUsage();
  };
  const before = await settle();
  const calls: Call[] = [];
  const warm = packets.slice(0, 100);
  for (let i = 0; i < N; i++) {
    const call = await openCall(net, (port += 2), 'sendrecv');
    drive(call, warm);
    calls.push(call);
  }
  const after = await settle();
  const perCall = (after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers)) / N;
  console.log(
    `memory per active call: ${(perCall / 1024).toFixed(1)} KB (heap + array buffers, ${N} calls after 2 s each)`,
  );
  calls.forEach((c) => c.session.close());
  console.log('targets: ≤ 0.5 ms CPU per call-second (≥ 2000 calls per core), ≤ 256 KB per call');
}
