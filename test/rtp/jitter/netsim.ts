import type { FrameKind, JitterBuffer } from '../../../rtp/jitter/JitterBuffer.js';
import { FakeClock } from '../../helpers/FakeClock.js';

/**
 * A network and an event loop in memory, driven by a {@link FakeClock}, around one jitter buffer.
 *
 * The sender's audio is a counting ramp (sample i has the value i mod 32768, carried as big-endian
 * 16-bit "L16") so that every output sample names the input sample it came from: coverage and
 * order are read off the output, not from the buffer's counters.
 *
 * The receiver does what `RtpSession` does: a tick timer every 20 ms of call time pulls one frame
 * stamped with its scheduled time, catching up when it fires late; packets are pushed when they are
 * delivered, stamped with the clock at delivery. An event-loop hiccup `[at, at + ms)` blocks both:
 * ticks due inside it run at its end, then (timers before I/O, as in Node) the packets that arrived
 * inside it are delivered, stamped with the end of the hiccup.
 */

/** The test codec: big-endian 16-bit linear. */
export const l16 = (src: Uint8Array, dst: Int16Array): number => {
  const n = src.byteLength >> 1;
  for (let i = 0; i < n; i++) {
    dst[i] = (src[2 * i]! << 8) | src[2 * i + 1]!;
  }
  return n;
};

/** `samples` of the ramp from input sample `first`. */
export function rampPayload(first: number, samples = 160): Uint8Array {
  const p = new Uint8Array(samples * 2);
  for (let i = 0; i < samples; i++) {
    const v = (first + i) % 32768;
    p[2 * i] = v >> 8;
    p[2 * i + 1] = v & 0xff;
  }
  return p;
}

export interface NetPacket {
  /** Arrival time at the receiver's socket (ms). */
  at: number;
  seq: number;
  ts: number;
  /** Input sample index of the first sample. */
  first: number;
  marker?: boolean;
}

/**
 * A sender of 20 ms packets from `t0`, packet k sent at `t0 + k · 20 · (1 + drift)` ms of the
 * receiver's clock and arriving `delay(k, sentAt)` ms later; `pauses` stop the sender at a packet
 * index for some ms (timestamps not advanced: the audio just continues later).
 */
export function sender(
  count: number,
  opts: {
    t0?: number;
    drift?: number;
    delay?: (k: number, sentAt: number) => number;
    pauses?: { atPacket: number; ms: number }[];
    seq0?: number;
    ts0?: number;
  } = {},
): NetPacket[] {
  const out: NetPacket[] = [];
  let extra = 0;
  for (let k = 0; k < count; k++) {
    let marker = k === 0;
    for (const p of opts.pauses ?? []) {
      if (p.atPacket === k) {
        extra += p.ms;
        marker = true;
      }
    }
    const sent = (opts.t0 ?? 1000) + k * 20 * (1 + (opts.drift ?? 0)) + extra;
    out.push({
      at: sent + (opts.delay?.(k, sent) ?? 0),
      seq: ((opts.seq0 ?? 0) + k) & 0xffff,
      ts: ((opts.ts0 ?? 0) + k * 160) >>> 0,
      first: k * 160,
      marker,
    });
  }
  return out;
}

export interface NetRun {
  /** Every output sample, 160 per tick from tick 1 (call time 20 ms). */
  samples: Int16Array;
  kinds: FrameKind[];
  jb: JitterBuffer;
  /** Buffer delay (ms) after each tick. */
  delays: number[];
}

/**
 * Runs `packets` through `jb` until call time `endMs` (ticks every 20 ms from `startMs`).
 * @param hiccups event-loop stalls
 */
export function runNet(
  jb: JitterBuffer,
  packets: NetPacket[],
  endMs: number,
  opts: { startMs?: number; hiccups?: { at: number; ms: number }[] } = {},
): NetRun {
  const clock = new FakeClock(0);
  const startMs = opts.startMs ?? 0;
  const hiccups = [...(opts.hiccups ?? [])].sort((a, b) => a.at - b.at);
  /** End of the stall covering `t`, or `t`. */
  const unblocked = (t: number): number => {
    for (const h of hiccups) {
      if (t >= h.at && t < h.at + h.ms) {
        return h.at + h.ms;
      }
    }
    return t;
  };
  const ticks = Math.floor((endMs - startMs) / 20);
  const samples = new Int16Array(ticks * 160);
  const kinds: FrameKind[] = [];
  const delays: number[] = [];
  let done = 0;
  const onTick = (): void => {
    const now = clock.now();
    while (done < ticks && startMs + (done + 1) * 20 <= now) {
      const k = done++;
      kinds.push(jb.pull(startMs + (k + 1) * 20));
      samples.set(jb.frame, k * 160);
      delays.push(jb.getStats().currentDelayMs);
    }
    if (done < ticks) {
      const due = unblocked(startMs + (done + 1) * 20);
      clock.setTimeout(onTick, Math.max(0, due - clock.now()));
    }
  };
  clock.setTimeout(onTick, unblocked(startMs + 20));
  const byDelivery = packets
    .map((p) => {
      const t = unblocked(p.at);
      // Delivered after the timers of the same instant when it was held by a stall.
      return { p, t: t === p.at ? t : t + 0.001 };
    })
    .sort((a, b) => a.t - b.t || a.p.at - b.p.at);
  // One delivery timer at a time (the fake clock scans its timers on every step).
  let next = 0;
  const deliver = (): void => {
    const { p } = byDelivery[next++]!;
    jb.push(p.seq, p.ts, rampPayload(p.first), clock.now(), l16, p.marker ?? false);
    if (next < byDelivery.length) {
      clock.setTimeout(deliver, byDelivery[next]!.t - clock.now());
    }
  };
  if (byDelivery.length > 0) {
    clock.setTimeout(deliver, byDelivery[0]!.t);
  }
  clock.advance(endMs + 1);
  return { samples, kinds, jb, delays };
}

/** How much of the input came out, in order. */
export interface Coverage {
  /** Input samples found in the output, in order, in runs of ≥ 16 consecutive samples. */
  covered: number;
  /** `covered` / `total`. */
  ratio: number;
  /** Output sample index where input sample `i` appeared (−1 if not found). */
  where: Int32Array;
}

/**
 * Finds the input ramp `[0, total)` in `out`: runs of ≥ 16 output samples counting up by one are
 * matched to the first input index after the previous match with that value (mod 32768); samples
 * played twice count once.
 */
export function coverage(out: Int16Array, total: number): Coverage {
  const where = new Int32Array(total).fill(-1);
  let last = -1;
  let covered = 0;
  let i = 0;
  while (i < out.length) {
    let j = i + 1;
    while (j < out.length && out[j] === (out[j - 1]! + 1) % 32768) {
      j++;
    }
    if (j - i >= 16) {
      const v = out[i]!;
      // The first input index > last with value v; or, when the run starts by repeating a few
      // samples just played (a pitch period played twice), that earlier index.
      let idx = last + 1 + ((v - ((last + 1) % 32768) + 32768) % 32768);
      if (idx - 32768 >= last - 256) {
        idx -= 32768;
      }
      for (let k = i; k < j && idx < total; k++, idx++) {
        if (idx > last) {
          where[idx] = k;
          covered++;
          last = idx;
        }
      }
    }
    i = j;
  }
  return { covered, ratio: covered / total, where };
}

/** Milliseconds of output reported as concealed (20 ms per concealed frame). */
export function concealedMs(kinds: FrameKind[]): number {
  return kinds.filter((k) => k === 'concealed').length * 20;
}
