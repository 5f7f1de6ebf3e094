/**
 * One live call's media path from datagram to the STT's wire bytes, driven by a fixed packet trace:
 * an `RtpSession` (jitter buffer, PLC, upsampler, frames) → `ChannelTranscriber` (the audio kept
 * while the stream opens) → `SttStream` → `encodeAudio`, the bytes of every message the STT
 * server would get, with the clock time each was sent. The trace has loss (random and a burst),
 * jitter that reorders, a delay spike, duplicates, comfort noise and a silence-suppressed gap
 * ended by a marker, an SSRC change, two event-loop stalls, a stream that opens 430 ms after the
 * answer, and the hangup flush. Used by `mediaPath.test.ts` to compare the path against the
 * messages recorded from it before it was rewritten.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { RtpSession } from '../../../rtp/session/RtpSession.js';
import { ChannelTranscriber } from '../../../src/call/ChannelTranscriber.js';
import type { Metrics } from '../../../src/metrics.js';
import { encodeAudio } from '../../../src/stt/protocol.js';
import type { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FIXTURES } from '../../helpers/paths.js';
import { rng } from '../../rtp/rng.js';
import { MemoryNetwork } from '../../rtp/session/memoryNetwork.js';
import { remoteMedia } from '../../rtp/session/remoteMedia.js';
import { logSink } from '../logSink.js';
import { MemoryLink, memoryLinkPool } from '../stt/memoryLink.js';

/**
 * A clock whose timers run late after a stall, as Node's do: `stall(ms)` moves time on without
 * running anything; timers then overdue run at the next `runTo`, in due order, with `now()` the
 * (later) time they actually run at. Otherwise like FakeClock (due order, then creation).
 */
class StallClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { due: number; fn: () => void }>();

  constructor(start: number) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): never {
    const id = ++this.#seq;
    this.#timers.set(id, { due: this.#now + Math.max(0, ms), fn });
    return id as never;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  stall(ms: number): void {
    this.#now += ms;
  }
  runTo(target: number): void {
    for (;;) {
      let best: number | undefined;
      let due = Infinity;
      for (const [id, t] of this.#timers) {
        // Map order is creation order: the first of equal due times wins.
        if (t.due <= target && t.due < due) {
          best = id;
          due = t.due;
        }
      }
      if (best === undefined) {
        break;
      }
      const t = this.#timers.get(best)!;
      this.#timers.delete(best);
      this.#now = Math.max(this.#now, t.due);
      t.fn();
    }
    this.#now = Math.max(this.#now, target);
  }
}

const T0 = 10_000;
const PACKETS = 600;
const SERVER = { url: 'ws://stt.test/api/asr-streaming' };

/** A message as the STT server would get it: the clock then, its bytes' SHA-256 (hex, 16) or `marker N`. */
export type TraceMessage = [at: number, what: string];
/** A frame the RTP session gave the call: the clock then, its call-time offset, its bytes' hash as an Audio message. */
export type TraceFrame = [at: number, offsetMs: number, hash: string];

/** SHA-256 (hex, first 16) of a frame as the STT's Audio message. */
export function audioHash(pcm: Float32Array): string {
  return createHash('sha256').update(encodeAudio(pcm)).digest('hex').slice(0, 16);
}

/** Runs the trace: the frames the session produced, and every message sent to the STT, in order. */
export async function runMediaTrace(): Promise<{ frames: TraceFrame[]; messages: TraceMessage[] }> {
  const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));
  const perFile = ulaw.byteLength / 160;
  const clock = new StallClock(T0);
  const net = new MemoryNetwork({ log: false });
  const peer = await net.bind('127.0.0.2', 40000);
  const link = new MemoryLink(SERVER);
  const out: TraceMessage[] = [];
  const frames: TraceFrame[] = [];
  link.onAudio = (pcm) => out.push([clock.now(), audioHash(pcm)]);
  const sendMarker = link.sendMarker.bind(link);
  link.sendMarker = (id) => {
    out.push([clock.now(), `marker ${id}`]);
    sendMarker(id);
    clock.setTimeout(() => link.recv({ type: 'Marker', id }), 150);
  };
  const { pool, grant } = memoryLinkPool(link, clock, () => clock.now());
  const none = { inc: () => undefined, dec: () => undefined, observe: () => undefined };
  const stt = new ChannelTranscriber({
    callId: 'trace',
    channel: 'caller',
    log: logSink().logger,
    bus: { isOpen: () => false, publish: () => undefined } as unknown as TranscriptBus,
    metrics: { sttLatency: none, sttReconnects: none, sttStreams: none } as unknown as Metrics,
    pool,
    clock,
    wallClock: () => clock.now(),
    earlyAudioMs: 10_000,
    onFailoverGivenUp: () => undefined,
  });
  const session = await RtpSession.open(
    { host: '127.0.0.1', portMin: 20000, portMax: 20099, clock, socketFactory: net, timeoutMs: 0 },
    {
      onFrame: (frame, offsetMs) => {
        frames.push([clock.now(), offsetMs, audioHash(frame)]);
        stt.push(frame);
      },
    },
  );
  session.start(remoteMedia({ direction: 'sendonly' }));
  const opened = stt.open({ answeredAt: T0, answeredWallMs: T0 });

  // The trace: source A for packets 0–449, source B (new SSRC, sequence and timestamp) after.
  const r = rng(20261207);
  const send = (bytes: Uint8Array, at: number): void => {
    clock.setTimeout(() => peer.send(bytes, session.localPort, '127.0.0.1'), at);
  };
  for (let k = 0; k < PACKETS; k++) {
    const b = k >= 450;
    const j = b ? k - 450 : k;
    const header = {
      payloadType: 0,
      sequenceNumber: b ? (51000 + j) & 0xffff : (65500 + j) & 0xffff,
      timestamp: b ? (0x7fff0000 + j * 160) >>> 0 : (0xfffff000 + j * 160) >>> 0,
      ssrc: b ? 0xbbbb0002 : 0xaaaa0001,
      marker: j === 0 || k === 400,
    };
    const lost = r() < 0.05 || (k >= 200 && k < 204);
    let at = 5 + k * 20 + r() * 40;
    if (k >= 300 && k < 310) {
      at += 250;
    }
    if (k === 350) {
      // Comfort noise in place of packet 350, then nothing until 400 (silence suppression).
      send(serializeRtp({ ...header, payloadType: 13 }, Uint8Array.of(40)), at);
      continue;
    }
    if (lost || (k > 350 && k < 400)) {
      continue;
    }
    const p = (k % perFile) * 160;
    const bytes = serializeRtp(header, ulaw.subarray(p, p + 160));
    send(bytes, at);
    if (r() < 0.02) {
      send(bytes, at + 1 + r() * 30);
    }
  }
  // Two event-loop stalls: timers due meanwhile run late, together.
  clock.setTimeout(() => clock.stall(300), 2000);
  clock.setTimeout(() => clock.stall(1200), 7000);

  // The STT slot is granted 430 ms after the answer: the stream opens then, at that clock time.
  for (let t = T0; t <= T0 + 430; t += 5) {
    clock.runTo(t);
  }
  grant();
  const outcome = await opened;
  if (outcome !== 'stream') {
    throw new Error(`the STT stream did not open: ${outcome}`);
  }
  for (let t = T0 + 435; t < T0 + 12_500; t += 5) {
    clock.runTo(t);
  }
  // The hangup as CallSession does it: RTP closed, then the STT flushed.
  session.close();
  const final = stt.flush();
  let done = false;
  void final.then(() => (done = true));
  for (let t = clock.now(); !done && t < T0 + 20_000; t += 5) {
    clock.runTo(t);
    await new Promise((res) => setImmediate(res));
  }
  if (!done) {
    throw new Error('the flush did not end');
  }
  return { frames, messages: out };
}
