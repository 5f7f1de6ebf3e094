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
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serializeRtp } from '../rtp/packet/RtpPacket.js';
import { RtpSession, type RemoteMedia } from '../rtp/session/RtpSession.js';
import type { SendBack } from '../rtp/session/types.js';
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

/** A UDP sink in a child process (its CPU is not ours): binds 127.0.0.1:0, prints the port. */
const SINK = `
const s = require('node:dgram').createSocket('udp4');
let n = 0;
s.on('message', () => n++);
s.bind(0, '127.0.0.1', () => process.send(s.address().port));
process.on('message', () => process.send(n));
`;

/**
 * What sending back costs, on real UDP with the system clock: `calls` sessions (sendrecv, nothing
 * received, so the 20 ms playout ticks run in every mode) sending to a sink in another process,
 * `seconds` per mode; CPU of this process per call-second, and the packets the sink counted.
 */
async function sendBackCost(calls: number, seconds: number): Promise<void> {
  const sink = fork('-e', [SINK], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((r) => sink.once('message', (m) => r(m as number)));
  const count = (): Promise<number> =>
    new Promise((r) => {
      sink.once('message', (m) => r(m as number));
      sink.send('count');
    });
  console.log(
    `send back, real UDP on 127.0.0.1: ${calls} calls, ${seconds} s per mode (playout ticks included)`,
  );
  const modes: [SendBack, number?][] = [['silence'], ['keepalive', 1000], ['keepalive', 5000], ['none']];
  const cost: Record<string, number> = {};
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
    await new Promise((r) => setTimeout(r, 500));
    const n0 = await count();
    const t0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const d = process.cpuUsage(t0);
    const n = (await count()) - n0;
    const rtpSent = sessions.reduce((a, s) => a + s.getStats().packetsSent, 0);
    sessions.forEach((s) => s.close());
    const label = sendBack + (keepaliveMs ? ` ${keepaliveMs} ms` : '');
    const ms = (d.user + d.system) / 1000 / (calls * seconds);
    cost[label] = ms;
    console.log(
      `  ${label.padEnd(16)} ${ms.toFixed(3)} ms CPU per call-second, ${(n / (calls * seconds)).toFixed(1)} datagrams per call-second at the sink (RTP + RTCP; ${rtpSent} RTP sent in all)`,
    );
  }
  console.log(
    `  sending silence costs ${(cost['silence']! - cost['none']!).toFixed(3)} ms per call-second over none; keepalive 1000 ms ${(cost['keepalive 1000 ms']! - cost['none']!).toFixed(3)} ms`,
  );
  sink.kill();
}

export async function run(): Promise<void> {
  await sendBackCost(200, 5);

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
