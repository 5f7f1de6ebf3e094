import { seqDiff } from '../seq.js';

/**
 * Packet loss concealment as the jitter buffer drives it (ITU-T G.711 Appendix I shape): every good
 * stretch of audio goes through `good()` (which keeps history and may smooth the first samples
 * after an erasure in place), every missing stretch is filled by `conceal()`.
 */
export interface Concealer {
  /** Good samples about to be played (may be modified in place, e.g. overlap-add after a loss). */
  good(samples: Int16Array): void;
  /** Fills `out` with a synthetic continuation of the history (fading to silence as it goes on). */
  conceal(out: Int16Array): void;
  /** Forgets history (new source). */
  reset(): void;
}

/** Conceals with silence: the fallback when no PLC is given. */
export const silenceConcealer: Concealer = {
  good: () => undefined,
  conceal: (out) => out.fill(0),
  reset: () => undefined,
};

/** Decoder of one payload into 16-bit linear samples (e.g. the codec's `decode`). */
export type Decode = (src: Uint8Array, dst: Int16Array) => number;

/** What {@link JitterBuffer.push} did with a packet. */
export type PushResult = 'queued' | 'duplicate' | 'late' | 'overflow';

/** What one {@link JitterBuffer.pull} produced. */
export type FrameKind =
  /** Only received audio. */
  | 'audio'
  /** Some samples were concealed (loss, or the head did not arrive in time). */
  | 'concealed'
  /** Silence: before the first packet, comfort noise, or a silent sender past the concealment limit. */
  | 'silence';

export interface JitterBufferOptions {
  /** RTP clock rate (Hz). Default 8000. */
  clockRate?: number;
  /** Samples per output frame. Default 160 (20 ms at 8 kHz). */
  frameSamples?: number;
  /** Lowest target delay in ms. Default 20. */
  minDelayMs?: number;
  /** Highest target delay in ms. Default 200. */
  maxDelayMs?: number;
  /** How long to conceal a silent sender before playing silence, in ms. Default 60. */
  maxConcealMs?: number;
  /** PLC. Default {@link silenceConcealer}. */
  concealer?: Concealer;
  /** Largest packet in samples. Default 960 (120 ms at 8 kHz). */
  maxPacketSamples?: number;
}

/** Counters and gauges (the numbers RTCP and the metrics need). */
export interface JitterStats {
  /** Packets accepted into the buffer. */
  received: number;
  /** Packets never played: sequence gaps between played packets. */
  lost: number;
  /** Packets that arrived after their playout time (dropped). */
  late: number;
  /** Packets received twice (dropped). */
  duplicated: number;
  /** Packets that arrived after a higher sequence number. */
  reordered: number;
  /** Packets dropped because the buffer was full. */
  overflow: number;
  /** Output frames containing concealed samples. */
  concealedFrames: number;
  /** Output frames played faster or slower to move the delay toward its target. */
  adjustedFrames: number;
  /** Times the timeline was re-anchored (new SSRC, timestamp jump). */
  resyncs: number;
  /** Current buffering delay (ms) above the fastest packet's transit. */
  currentDelayMs: number;
  /** Target delay (ms) derived from the measured jitter. */
  targetDelayMs: number;
  /** 95th percentile of transit above its 10th percentile, over the last 128 packets (ms). */
  jitterMs: number;
}

interface Entry {
  pos: number;
  len: number;
  seq: number;
  cn: boolean;
  played: boolean;
  pcm: Int16Array;
}

const RING = 128;

/**
 * An adaptive jitter buffer designed to feed a recogniser, not a loudspeaker: the output is a
 * continuous cadence of fixed frames pulled on the caller's clock; what did not arrive in time is
 * concealed, then silence; the delay follows the measured jitter between a minimum and a maximum and
 * is moved by playing frames up to 10 % faster or slower (no dropped or repeated blocks, so no
 * clicks), which also absorbs sender clock drift.
 *
 * Timeline: every packet is placed at a position in samples (`pos`), its unwrapped RTP timestamp
 * plus an offset that is re-anchored when the source changes, so a new SSRC continues seamlessly.
 * The playout position advances by one frame per pull. For each packet `transit = arrival − pos`
 * (in samples); with `base` the 10th percentile of the last 128 transits, the buffer's delay is
 * `now − playPos − base`, and the target is the 95th percentile of `transit − base` plus one frame,
 * clamped to [min, max].
 *
 * Pure: time comes in as arguments (`nowMs`), so it is tested without a clock.
 */
export class JitterBuffer {
  readonly #rate: number;
  readonly #frame: number;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #maxConceal: number;
  readonly #concealer: Concealer;
  readonly #entries: Entry[] = [];
  readonly #pool: Entry[] = [];
  readonly #capacity: number;
  readonly #maxPacket: number;
  readonly #scratch: Int16Array;
  readonly #seen = new Int32Array(256).fill(-1);
  readonly #transits = new Float64Array(RING);
  readonly #sorted = new Float64Array(RING);
  #transitCount = 0;
  #minTransit = Number.POSITIVE_INFINITY;
  #target: number;
  #jitter = 0;
  #started = false;
  /** False until the first pull after the first packet anchors the playout position. */
  #primed = false;
  #playPos = 0;
  #offset = 0;
  #lastTsExt = Number.NaN;
  #highestSeq = -1;
  #highestEnd = 0;
  #newSource = true;
  #lastPlayedSeq = -1;
  #cnActive = false;
  #concealRun = 0;
  #mode: 'steady' | 'shrink' | 'grow' = 'steady';
  #lastDelay = 0;
  readonly #stats = {
    received: 0,
    lost: 0,
    late: 0,
    duplicated: 0,
    reordered: 0,
    overflow: 0,
    concealedFrames: 0,
    adjustedFrames: 0,
    resyncs: 0,
  };

  constructor(options: JitterBufferOptions = {}) {
    this.#rate = options.clockRate ?? 8000;
    this.#frame = options.frameSamples ?? 160;
    const ms = this.#rate / 1000;
    this.#minDelay = (options.minDelayMs ?? 20) * ms;
    this.#maxDelay = Math.max(this.#minDelay, (options.maxDelayMs ?? 200) * ms);
    this.#maxConceal = (options.maxConcealMs ?? 60) * ms;
    this.#concealer = options.concealer ?? silenceConcealer;
    this.#maxPacket = options.maxPacketSamples ?? 960;
    this.#target = Math.max(this.#minDelay, this.#frame + this.#frame / 8);
    // Room for the maximum delay plus a second of early packets, at 10 ms packets.
    this.#capacity = Math.ceil((this.#maxDelay + this.#rate) / (this.#rate / 100)) + 8;
    this.#scratch = new Int16Array(Math.ceil(this.#frame * 1.1) + 2);
  }

  /**
   * Tells the buffer that the next packet starts a new source (SSRC change, or a sequence restart):
   * its timeline continues right after what was received, without a gap.
   */
  newSource(): void {
    this.#newSource = true;
  }

  /**
   * Adds one packet.
   * @param seq RTP sequence number
   * @param ts RTP timestamp
   * @param payload the payload (a view; decoded immediately, not kept)
   * @param nowMs arrival time on the local clock
   * @param decode the payload's decoder, or null for a comfort-noise packet (RFC 3389)
   */
  push(seq: number, ts: number, payload: Uint8Array, nowMs: number, decode: Decode | null): PushResult {
    const nowS = (nowMs * this.#rate) / 1000;
    if (this.#newSource) {
      this.#anchor(ts, nowS, true);
    } else {
      if (this.#seen[seq & 255] === seq) {
        this.#stats.duplicated++;
        return 'duplicate';
      }
      // Unwrap the timestamp relative to the last one seen (signed 32-bit distance).
      const ext = this.#lastTsExt + ((ts - (this.#lastTsExt % 0x100000000)) | 0);
      const pos = ext + this.#offset;
      // A timestamp leap far outside any plausible buffer means the sender re-based its clock.
      if (pos < this.#playPos - this.#rate || pos > this.#highestEnd + 30 * this.#rate) {
        this.#anchor(ts, nowS, false);
      } else if (ext > this.#lastTsExt) {
        this.#lastTsExt = ext;
      }
    }
    const tsExt = this.#lastTsExt + ((ts - (this.#lastTsExt % 0x100000000)) | 0);
    const pos = tsExt + this.#offset;
    if (this.#highestSeq >= 0 && seqDiff(this.#highestSeq, seq) < 0) {
      this.#stats.reordered++;
    } else {
      this.#highestSeq = seq;
    }
    const entry = this.#pool.pop() ?? {
      pos: 0,
      len: 0,
      seq: 0,
      cn: false,
      played: false,
      pcm: new Int16Array(this.#maxPacket),
    };
    entry.pos = pos;
    entry.seq = seq;
    entry.played = false;
    entry.cn = decode === null;
    entry.len = decode === null ? 0 : decode(payload.subarray(0, this.#maxPacket), entry.pcm);
    if (this.#started && pos + entry.len <= this.#playPos && !(entry.cn && pos === this.#playPos)) {
      if (entry.cn && seq === this.#highestSeq) {
        // A late comfort-noise packet still says the talker went silent.
        this.#cnActive = true;
      }
      this.#pool.push(entry);
      this.#stats.late++;
      this.#seen[seq & 255] = seq;
      return 'late';
    }
    if (this.#entries.length >= this.#capacity) {
      this.#pool.push(entry);
      this.#stats.overflow++;
      return 'overflow';
    }
    this.#seen[seq & 255] = seq;
    this.#stats.received++;
    // Insert sorted by position (usually at the end).
    let i = this.#entries.length;
    while (i > 0 && this.#entries[i - 1]!.pos > pos) {
      i--;
    }
    this.#entries.splice(i, 0, entry);
    this.#highestEnd = Math.max(this.#highestEnd, pos + entry.len);
    this.#addTransit(nowS - pos);
    if (!this.#started) {
      this.#started = true;
      this.#primed = false;
      // What comes before the first packet is silence, not loss.
      this.#cnActive = true;
    }
    return 'queued';
  }

  /** Re-anchors the timeline so that timestamp `ts` continues right after the received audio. */
  #anchor(ts: number, nowS: number, newSource: boolean): void {
    this.#newSource = false;
    this.#lastTsExt = ts;
    this.#seen.fill(-1);
    this.#highestSeq = -1;
    this.#lastPlayedSeq = -1;
    if (!this.#started || !this.#primed) {
      this.#offset = -ts;
      this.#entries.forEach((x) => this.#pool.push(x));
      this.#entries.length = 0;
      this.#started = false;
      this.#transitCount = 0;
      this.#minTransit = Number.POSITIVE_INFINITY;
      return;
    }
    this.#stats.resyncs++;
    if (newSource && this.#highestEnd >= this.#playPos) {
      // Seamless: the new source's first sample follows the old source's last one.
      this.#offset = this.#highestEnd - ts;
    } else {
      // The old audio is all played: start the new timeline at the target delay.
      this.#offset = this.#playPos + Math.round(this.#target) - ts;
      this.#transitCount = 0;
      this.#minTransit = nowS - (ts + this.#offset);
    }
  }

  #addTransit(t: number): void {
    this.#transits[this.#transitCount % RING] = t;
    this.#transitCount++;
    if (this.#transitCount <= 16 || this.#transitCount % 8 === 0) {
      const n = Math.min(this.#transitCount, RING);
      const s = this.#sorted.subarray(0, n);
      s.set(this.#transits.subarray(0, n));
      s.sort();
      // The baseline is a low percentile rather than the minimum, so one early packet does not
      // shift it; the target covers the 95th percentile above it plus one frame of pull phase.
      this.#minTransit = s[Math.floor(0.1 * (n - 1))]!;
      this.#jitter = s[Math.floor(0.95 * (n - 1))]! - this.#minTransit;
      // One frame for the pull phase, an eighth of a frame of guard for drift within the window.
      this.#target = Math.min(
        this.#maxDelay,
        Math.max(this.#minDelay, this.#jitter + this.#frame + this.#frame / 8),
      );
    }
  }

  /**
   * Produces the next output frame into `out` (`frameSamples` long), advancing the playout by one
   * frame of call time (more or less when adapting the delay).
   * @param nowMs the local time of this frame
   */
  pull(out: Int16Array, nowMs: number): FrameKind {
    const frame = this.#frame;
    if (!this.#started) {
      out.fill(0, 0, frame);
      return 'silence';
    }
    const nowS = (nowMs * this.#rate) / 1000;
    if (!this.#primed) {
      // Start playing so that the delay is exactly the target.
      this.#primed = true;
      this.#playPos = Math.round(nowS - this.#minTransit - this.#target);
    }
    const delay = nowS - this.#playPos - this.#minTransit;
    this.#lastDelay = delay;
    const err = delay - this.#target;
    const step = Math.max(1, Math.floor(frame / 10));
    // Hysteresis: never below the target (that is where packets start arriving too late), up to a
    // quarter of it (at least half a frame) above before shrinking.
    if (this.#mode === 'shrink' ? err <= step : this.#mode === 'grow' ? err >= step : false) {
      this.#mode = 'steady';
    }
    if (this.#mode === 'steady') {
      if (err > Math.max(frame / 2, this.#target / 4)) {
        this.#mode = 'shrink';
      } else if (err < 0) {
        this.#mode = 'grow';
      }
    }
    this.#dropPlayed();
    const head = this.#entries[0];
    const headMissing =
      !this.#cnActive && head !== undefined && !head.cn && head.pos > this.#playPos && err < -frame / 2;
    if (headMissing) {
      // The next packet is missing but later ones are here, and we are below target: conceal
      // without advancing (the delay grows by one frame and the packet gets one more chance).
      if (this.#concealRun >= this.#maxConceal) {
        out.fill(0, 0, frame);
      } else {
        this.#concealer.conceal(out.subarray(0, frame));
      }
      this.#concealRun += frame;
      this.#stats.concealedFrames++;
      this.#stats.adjustedFrames++;
      return 'concealed';
    }
    let n = frame;
    if (this.#mode === 'shrink') {
      n = frame + Math.min(step, Math.ceil(err));
    } else if (this.#mode === 'grow') {
      n = frame - Math.min(step, Math.ceil(-err));
    }
    const kind = this.#render(n);
    if (n === frame) {
      out.set(this.#scratch.subarray(0, frame));
    } else {
      this.#stats.adjustedFrames++;
      // Linear time-scaling of this one frame: first and last samples kept, so no discontinuity.
      const src = this.#scratch;
      const k = (n - 1) / (frame - 1);
      for (let i = 0; i < frame; i++) {
        const x = i * k;
        const j = Math.floor(x);
        const f = x - j;
        const a = src[j]!;
        out[i] = f === 0 ? a : Math.round(a + (src[j + 1]! - a) * f);
      }
    }
    this.#playPos += n;
    if (kind === 'concealed') {
      this.#stats.concealedFrames++;
    }
    return kind;
  }

  /** Releases entries entirely before the playout position. */
  #dropPlayed(): void {
    const e = this.#entries;
    let k = 0;
    while (
      k < e.length &&
      e[k]!.pos + e[k]!.len <= this.#playPos &&
      !(e[k]!.cn && e[k]!.pos >= this.#playPos)
    ) {
      const x = e[k]!;
      if (!x.cn && !x.played) {
        // Fully skipped (e.g. when shrinking across it): it counts as played for loss accounting.
        this.#markPlayed(x);
      }
      this.#pool.push(x);
      k++;
    }
    if (k > 0) {
      e.splice(0, k);
    }
  }

  #markPlayed(x: Entry): void {
    x.played = true;
    if (this.#lastPlayedSeq >= 0) {
      const gap = seqDiff(this.#lastPlayedSeq, x.seq);
      if (gap > 1) {
        this.#stats.lost += gap - 1;
      }
      if (gap > 0) {
        this.#lastPlayedSeq = x.seq;
      }
    } else {
      this.#lastPlayedSeq = x.seq;
    }
  }

  /** Renders `n` samples from the playout position into the scratch buffer. */
  #render(n: number): FrameKind {
    const out = this.#scratch;
    const start = this.#playPos;
    const end = start + n;
    const e = this.#entries;
    let c = start;
    let idx = 0;
    let good = false;
    let concealed = false;
    let silent = false;
    while (c < end) {
      // Skip entries that end before the cursor; pass comfort-noise markers.
      while (idx < e.length && (e[idx]!.cn ? e[idx]!.pos <= c : e[idx]!.pos + e[idx]!.len <= c)) {
        const passed = e[idx]!;
        if (passed.cn) {
          this.#cnActive = true;
          if (!passed.played) {
            this.#markPlayed(passed);
          }
        }
        idx++;
      }
      const x = e[idx];
      if (x && !x.cn && x.pos <= c) {
        const segEnd = Math.min(end, x.pos + x.len);
        const seg = out.subarray(c - start, segEnd - start);
        seg.set(x.pcm.subarray(c - x.pos, segEnd - x.pos));
        this.#concealer.good(seg);
        if (!x.played) {
          this.#markPlayed(x);
        }
        this.#cnActive = false;
        this.#concealRun = 0;
        good = true;
        c = segEnd;
        continue;
      }
      const segEnd = Math.min(end, x ? x.pos : end);
      const seg = out.subarray(c - start, segEnd - start);
      if (this.#cnActive || this.#concealRun >= this.#maxConceal) {
        seg.fill(0);
        silent = true;
      } else {
        this.#concealer.conceal(seg);
        this.#concealRun += seg.length;
        concealed = true;
      }
      c = segEnd;
    }
    return concealed ? 'concealed' : good ? 'audio' : silent ? 'silence' : 'audio';
  }

  /** Counters and gauges. */
  getStats(): JitterStats {
    const ms = 1000 / this.#rate;
    return {
      ...this.#stats,
      currentDelayMs: this.#started ? this.#lastDelay * ms : 0,
      targetDelayMs: this.#target * ms,
      jitterMs: this.#jitter * ms,
    };
  }

  /** Packets waiting in the buffer. */
  get length(): number {
    return this.#entries.length;
  }
}
