import { seqDiff, tsNear } from '../seq.js';
import { PLC_BLOCK, silenceConcealer, type Concealer } from './Concealer.js';
import { DelayEstimator } from './DelayEstimator.js';

export { PLC_BLOCK, silenceConcealer } from './Concealer.js';
export type { Concealer } from './Concealer.js';

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
  /** Source splices smoothed because the waveform jumped (see the de-click ramp). */
  declicks: number;
  /** Current buffering delay (ms) above the fastest packet's transit. */
  currentDelayMs: number;
  /** Target delay (ms) derived from the measured jitter. */
  targetDelayMs: number;
  /** 95th percentile of transit above its 10th percentile, over the last 128 packets (ms). */
  jitterMs: number;
}

interface Entry {
  /** Source epoch (incremented by every re-anchoring): sequence numbers compare only within one. */
  epoch: number;
  pos: number;
  len: number;
  seq: number;
  cn: boolean;
  played: boolean;
  pcm: Int16Array;
}

const EMPTY = new Int16Array(0);
/** Length of the de-click ramp at a source splice (5 ms at 8 kHz). */
const DECLICK = 40;
/** Smallest step (about −30 dBFS) worth correcting at a splice. */
const DECLICK_MIN_STEP = 1024;

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
  /** Rendered (concealed where needed) samples not yet pulled; `#readyLen` of them. */
  readonly #ready: Int16Array;
  readonly #block = new Int16Array(PLC_BLOCK);
  #readyLen = 0;
  /** Timeline position of the next block to render. */
  #renderPos = 0;
  /** Worst kind of block rendered since the last pull. */
  #blockKind: FrameKind = 'audio';
  readonly #seen = new Int32Array(256).fill(-1);
  readonly #est: DelayEstimator;
  #started = false;
  /** False until the first pull after the first packet anchors the playout position. */
  #primed = false;
  #offset = 0;
  #lastTsExt = Number.NaN;
  #highestSeq = -1;
  #highestEnd = 0;
  #newSource = true;
  #lastPlayedSeq = -1;
  #lastPlayedEpoch = 0;
  /** Source epoch and last sample of the last fully received block (-1: the last was not). */
  #lastGoodEpoch = -1;
  #lastGoodSample = 0;
  #epoch = 0;
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
    declicks: 0,
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
    this.#est = new DelayEstimator(this.#frame, this.#minDelay, this.#maxDelay);
    // Room for the maximum delay plus a second of early packets, at 10 ms packets.
    this.#capacity = Math.ceil((this.#maxDelay + this.#rate) / (this.#rate / 100)) + 8;
    this.#scratch = new Int16Array(Math.ceil(this.#frame * 1.1) + 2);
    this.#ready = new Int16Array(this.#scratch.length + 4 * PLC_BLOCK);
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
      this.#anchor(ts, nowS);
    } else {
      if (this.#seen[seq & 255] === seq) {
        this.#stats.duplicated++;
        return 'duplicate';
      }
      // Unwrap the timestamp relative to the last one seen (signed 32-bit distance).
      const ext = tsNear(this.#lastTsExt, ts);
      const pos = ext + this.#offset;
      // A timestamp leap far outside any plausible buffer, on the newest packet, means the sender
      // re-based its clock (a straggler with an old sequence number is just late).
      const newest = this.#highestSeq < 0 || seqDiff(this.#highestSeq, seq) > 0;
      if (newest && (pos < this.#renderPos - this.#rate || pos > this.#highestEnd + 30 * this.#rate)) {
        this.#anchor(ts, nowS);
      } else if (ext > this.#lastTsExt) {
        this.#lastTsExt = ext;
      }
    }
    const tsExt = tsNear(this.#lastTsExt, ts);
    const pos = tsExt + this.#offset;
    if (this.#highestSeq >= 0 && seqDiff(this.#highestSeq, seq) < 0) {
      this.#stats.reordered++;
    } else {
      this.#highestSeq = seq;
    }
    const entry = this.#pool.pop() ?? {
      epoch: 0,
      pos: 0,
      len: 0,
      seq: 0,
      cn: false,
      played: false,
      pcm: EMPTY,
    };
    entry.pos = pos;
    entry.epoch = this.#epoch;
    entry.seq = seq;
    entry.played = false;
    entry.cn = decode === null;
    const src = payload.byteLength > this.#maxPacket ? payload.subarray(0, this.#maxPacket) : payload;
    if (decode !== null && entry.pcm.length < src.byteLength) {
      // Sized by the packets actually seen (a payload byte is at least a sample), then reused.
      entry.pcm = new Int16Array(src.byteLength);
    }
    entry.len = decode === null ? 0 : decode(src, entry.pcm);
    if (this.#primed && pos + entry.len <= this.#renderPos && !(entry.cn && pos === this.#renderPos)) {
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
    this.#est.add(nowS - pos);
    if (!this.#started) {
      this.#started = true;
      this.#primed = false;
      // What comes before the first packet is silence, not loss.
      this.#cnActive = true;
    }
    return 'queued';
  }

  /** Re-anchors the timeline so that timestamp `ts` continues right after the received audio. */
  #anchor(ts: number, nowS: number): void {
    this.#newSource = false;
    this.#epoch++;
    this.#lastTsExt = ts;
    this.#seen.fill(-1);
    this.#highestSeq = -1;
    if (!this.#started || !this.#primed) {
      this.#offset = -ts;
      this.#entries.forEach((x) => this.#pool.push(x));
      this.#entries.length = 0;
      this.#started = false;
      this.#est.reset(Number.POSITIVE_INFINITY);
      return;
    }
    this.#stats.resyncs++;
    if (this.#highestEnd >= this.#renderPos) {
      // Seamless: the new stream's first sample follows the last one received.
      this.#offset = this.#highestEnd - ts;
    } else {
      // What was received is all played: start the new timeline at the target delay.
      this.#offset = this.#renderPos + Math.round(this.#est.target / PLC_BLOCK) * PLC_BLOCK - ts;
      this.#est.reset(nowS - (ts + this.#offset));
    }
  }

  /**
   * Produces the next output frame into `out` (`frameSamples` long), advancing the playout by one
   * frame of call time (more or less when adapting the delay).
   * @param nowMs the local time of this frame (ideally its scheduled time, not the callback's)
   */
  pull(out: Int16Array, nowMs: number): FrameKind {
    const frame = this.#frame;
    if (!this.#started) {
      out.fill(0, 0, frame);
      return 'silence';
    }
    const nowS = (nowMs * this.#rate) / 1000;
    if (!this.#primed) {
      // Start playing so that the delay is the target, on the block grid of the first packet.
      this.#primed = true;
      const est = this.#est;
      let at = Math.floor((nowS - est.base - est.target) / PLC_BLOCK) * PLC_BLOCK;
      // Packets held back before the first pull (e.g. during source probation) are played rather
      // than skipped, if that costs no more than the maximum delay; the delay then shrinks.
      const first = this.#entries[0];
      if (first && first.pos < at && at - first.pos <= this.#maxDelay) {
        at = Math.floor(first.pos / PLC_BLOCK) * PLC_BLOCK;
      }
      this.#renderPos = at;
      this.#readyLen = 0;
    }
    const target = this.#est.target;
    const delay = nowS - (this.#renderPos - this.#readyLen) - this.#est.base;
    this.#lastDelay = delay;
    const err = delay - target;
    const step = Math.max(1, Math.floor(frame / 10));
    // Hysteresis: from the target's guard (2.5 ms) below it, where packets start to be at risk, up to
    // a quarter of it (at least half a frame) above before shrinking.
    const guard = frame / 8;
    if (this.#mode === 'shrink' ? err <= guard : this.#mode === 'grow' ? err >= 0 : false) {
      this.#mode = 'steady';
    }
    if (this.#mode === 'steady') {
      if (err > Math.max(frame / 2, target / 4)) {
        this.#mode = 'shrink';
      } else if (err < -guard) {
        this.#mode = 'grow';
      }
    }
    let n = frame;
    if (this.#mode === 'shrink') {
      n = frame + Math.min(step, Math.ceil(err));
    } else if (this.#mode === 'grow') {
      n = frame - Math.min(step, Math.ceil(-err));
    }
    this.#blockKind = 'audio';
    let expand = err < -frame / 2 ? -err : 0;
    while (this.#readyLen < n) {
      expand -= this.#renderBlock(expand > 0);
    }
    const kind = this.#blockKind as FrameKind;
    const ready = this.#ready;
    if (n === frame) {
      out.set(ready.subarray(0, frame));
    } else {
      this.#stats.adjustedFrames++;
      // Linear time-scaling of this one frame: first and last samples kept, so no discontinuity.
      const k = (n - 1) / (frame - 1);
      for (let i = 0; i < frame; i++) {
        const x = i * k;
        const j = Math.floor(x);
        const f = x - j;
        const a = ready[j]!;
        out[i] = f === 0 ? a : Math.round(a + (ready[j + 1]! - a) * f);
      }
    }
    ready.copyWithin(0, n, this.#readyLen);
    this.#readyLen -= n;
    if (kind === 'concealed') {
      this.#stats.concealedFrames++;
    }
    return kind;
  }

  /**
   * Renders the block at the render position into the ready buffer, through the concealer.
   * @param mayExpand when the block is missing but later packets are here, conceal without
   *   advancing the timeline (the delay grows by a block and the packet gets more time)
   * @returns samples of delay added (a block when expanded, else 0)
   */
  #renderBlock(mayExpand: boolean): number {
    const r = this.#renderPos;
    const end = r + PLC_BLOCK;
    const block = this.#block;
    const e = this.#entries;
    // Release entries that were completely rendered.
    let k = 0;
    while (k < e.length && (e[k]!.cn ? e[k]!.pos < r : e[k]!.pos + e[k]!.len <= r)) {
      this.#pool.push(e[k]!);
      k++;
    }
    if (k > 0) {
      e.splice(0, k);
    }
    let covered = 0;
    let lastEpoch = this.#lastGoodEpoch;
    for (let i = 0; i < e.length; i++) {
      const x = e[i]!;
      if (x.pos >= end) {
        break;
      }
      if (!x.played) {
        this.#markPlayed(x);
      }
      if (x.cn) {
        this.#cnActive = true;
        continue;
      }
      const a = Math.max(r, x.pos);
      const b = Math.min(end, x.pos + x.len);
      if (b > a) {
        block.set(x.pcm.subarray(a - x.pos, b - x.pos), a - r);
        covered += b - a;
        this.#cnActive = false;
        if (x.epoch !== lastEpoch && lastEpoch >= 0) {
          // A new source (SSRC change, restart) right after the old one: remove the step between
          // the last sample of the old and the first of the new with a 5 ms decaying correction,
          // so the splice does not click.
          const prev = a > r ? block[a - r - 1]! : this.#lastGoodSample;
          this.#declick(block, a - r, b - r, block[a - r]! - prev);
        }
        lastEpoch = x.epoch;
      }
    }
    if (covered >= PLC_BLOCK) {
      this.#lastGoodEpoch = lastEpoch;
      this.#lastGoodSample = block[PLC_BLOCK - 1]!;
    } else {
      this.#lastGoodEpoch = -1;
    }
    const dst = this.#ready.subarray(this.#readyLen, this.#readyLen + PLC_BLOCK);
    this.#readyLen += PLC_BLOCK;
    if (covered >= PLC_BLOCK) {
      this.#concealer.addGood(block, dst);
      this.#concealRun = 0;
      this.#renderPos = end;
      return 0;
    }
    if (covered === 0 && this.#cnActive) {
      // Comfort noise / before the first packet: silence, through the PLC to keep its delay line.
      block.fill(0);
      this.#concealer.addGood(block, dst);
      this.#concealRun = 0;
      if (this.#blockKind === 'audio') {
        this.#blockKind = 'silence';
      }
      this.#renderPos = end;
      return 0;
    }
    // Missing (or partly missing: conceal the whole block to stay click-free).
    this.#concealer.conceal(dst);
    this.#concealRun += PLC_BLOCK;
    if (this.#concealRun <= this.#maxConceal) {
      this.#blockKind = 'concealed';
    } else if (this.#blockKind === 'audio') {
      this.#blockKind = 'silence';
    }
    const ahead = e.length > 0 && e[0]!.pos >= end;
    if (mayExpand && ahead && covered === 0) {
      this.#stats.adjustedFrames++;
      return PLC_BLOCK;
    }
    this.#renderPos = end;
    return 0;
  }

  /** Applies a linear correction of `step` decaying to 0 over {@link DECLICK} samples from `at`. */
  #declick(block: Int16Array, at: number, end: number, step: number): void {
    if (Math.abs(step) < DECLICK_MIN_STEP) {
      return;
    }
    this.#stats.declicks++;
    for (let i = at; i < end && i - at < DECLICK; i++) {
      const v = block[i]! - Math.round((step * (DECLICK - (i - at))) / DECLICK);
      block[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
  }

  #markPlayed(x: Entry): void {
    x.played = true;
    if (x.epoch !== this.#lastPlayedEpoch) {
      this.#lastPlayedEpoch = x.epoch;
      this.#lastPlayedSeq = x.seq;
    } else if (this.#lastPlayedSeq >= 0) {
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

  /** Counters and gauges. */
  getStats(): JitterStats {
    const ms = 1000 / this.#rate;
    return {
      ...this.#stats,
      currentDelayMs: this.#started ? this.#lastDelay * ms : 0,
      targetDelayMs: this.#est.target * ms,
      jitterMs: this.#est.jitter * ms,
    };
  }

  /** Packets waiting in the buffer. */
  get length(): number {
    return this.#entries.length;
  }
}
