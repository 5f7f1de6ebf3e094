import { seqDiff } from '../seq.js';
import { PLC_BLOCK, type Concealer } from './Concealer.js';

/** The worst kind of audio in a frame (see `JitterBuffer.pull`). */
export type FrameKind =
  /** Only received audio. */
  | 'audio'
  /** Some samples were concealed (loss, or the head did not arrive in time). */
  | 'concealed'
  /** Silence: before the first packet, comfort noise, or a silent sender past the concealment limit. */
  | 'silence';

/** One packet placed on the jitter buffer's timeline (pooled and reused). */
export interface TimelineEntry {
  /** Source epoch (incremented by every re-anchoring): sequence numbers compare only within one. */
  epoch: number;
  /** Timeline position of the first sample. */
  pos: number;
  /** Decoded samples in `pcm` (0 for comfort noise). */
  len: number;
  seq: number;
  /** Comfort noise (RFC 3389) or a telephone event: silence from `pos` on. */
  cn: boolean;
  played: boolean;
  pcm: Int16Array;
}

/** Length of the de-click ramp at a source splice (5 ms at 8 kHz). */
const DECLICK = 40;
/** Smallest step (about −30 dBFS) worth correcting at a splice. */
const DECLICK_MIN_STEP = 1024;

/**
 * Renders the jitter buffer's timeline in 10 ms blocks (the G.711 Appendix I frame) through the
 * {@link Concealer}: a complete block → `addGood`; a missing or partly missing one → `conceal`
 * (whole, to stay click-free), reported as concealed for `maxConceal` samples, then as silence; no
 * audio after comfort noise, a telephone event or before the first packet → digital silence, still
 * through the concealer to keep its delay line. Where a new source (epoch) starts right after the
 * previous one, the step in the waveform is removed by a correction decaying over {@link DECLICK}
 * samples. Counts packets lost as sequence gaps between played packets of one source.
 *
 * Rendered samples wait in `ready` until the buffer takes a frame of them ({@link consume}).
 */
export class BlockRenderer {
  readonly #concealer: Concealer;
  readonly #maxConceal: number;
  /** A block assembled from several packets (or de-clicked, or silence) for the concealer. */
  readonly #block = new Int16Array(PLC_BLOCK);
  /** Rendered samples not yet consumed; `readyLen` of them. */
  readonly ready: Int16Array;
  readyLen = 0;
  /** Timeline position of the next block to render. */
  pos = 0;
  /** Worst kind of block rendered since {@link beginFrame}. */
  kind: FrameKind = 'audio';
  /** True while the timeline is silent by intent (comfort noise, before the first packet). */
  silent = false;
  #concealRun = 0;
  #lastPlayedSeq = -1;
  #lastPlayedEpoch = 0;
  /** Source epoch and last sample of the last fully received block (-1: the last was not). */
  #lastGoodEpoch = -1;
  #lastGoodSample = 0;
  /** Packets never played (sequence gaps between played packets). */
  lost = 0;
  /**
   * Timeline position just after the last received sample rendered (in a block played or concealed
   * whole): a late packet from here on can still be played after everything rendered, in order.
   */
  playedEnd = Number.NEGATIVE_INFINITY;
  /** Splices smoothed by the de-click ramp. */
  declicks = 0;
  /** Blocks concealed without advancing the timeline (see {@link render}). */
  expanded = 0;

  /**
   * @param maxConceal samples of concealment before a silent sender is reported as silence
   * @param readyCapacity room for rendered samples (a frame, its adjustment and a few blocks)
   */
  constructor(concealer: Concealer, maxConceal: number, readyCapacity: number) {
    this.#concealer = concealer;
    this.#maxConceal = maxConceal;
    this.ready = new Int16Array(readyCapacity);
  }

  /** Restarts rendering at timeline position `at` (a block boundary), dropping what was rendered. */
  restart(at: number): void {
    this.pos = at;
    this.readyLen = 0;
  }

  /** Starts a new output frame: its kind is the worst of the blocks rendered from now on. */
  beginFrame(): void {
    this.kind = 'audio';
  }

  /** Drops the first `n` rendered samples (a frame taken by the buffer). */
  consume(n: number): void {
    this.ready.copyWithin(0, n, this.readyLen);
    this.readyLen -= n;
  }

  /** Whether the block at {@link pos} is fully covered by received audio (it may be rendered early). */
  hasBlock(entries: TimelineEntry[]): boolean {
    const r = this.pos;
    const end = r + PLC_BLOCK;
    let covered = 0;
    for (let i = 0; i < entries.length; i++) {
      const x = entries[i]!;
      if (x.pos >= end) {
        break;
      }
      if (!x.cn) {
        covered += Math.max(0, Math.min(end, x.pos + x.len) - Math.max(r, x.pos));
      }
    }
    return covered >= PLC_BLOCK;
  }

  /**
   * Renders the block at {@link pos} into {@link ready}, through the concealer, releasing the
   * entries it has completely rendered to `pool`.
   * @param entries the timeline, sorted by position
   * @param mayExpand when the block is missing but later packets are here, conceal without
   *   advancing the timeline (the delay grows by a block and the packet gets more time)
   * @returns samples of delay added (a block when expanded, else 0)
   */
  render(entries: TimelineEntry[], pool: TimelineEntry[], mayExpand: boolean): number {
    const r = this.pos;
    const end = r + PLC_BLOCK;
    const block = this.#block;
    const e = entries;
    // Release entries that were completely rendered.
    let k = 0;
    while (k < e.length && (e[k]!.cn ? e[k]!.pos < r : e[k]!.pos + e[k]!.len <= r)) {
      pool.push(e[k]!);
      k++;
    }
    if (k > 0) {
      // In place (splice would allocate the removed elements' array at every block).
      e.copyWithin(0, k);
      e.length -= k;
    }
    let covered = 0;
    let lastEpoch = this.#lastGoodEpoch;
    /** The one packet holding the whole block, read there by the concealer (not copied into `block`). */
    let whole: TimelineEntry | null = null;
    for (let i = 0; i < e.length; i++) {
      const x = e[i]!;
      if (x.pos >= end) {
        break;
      }
      if (!x.played) {
        this.#markPlayed(x);
      }
      if (x.cn) {
        this.silent = true;
        continue;
      }
      const a = Math.max(r, x.pos);
      const b = Math.min(end, x.pos + x.len);
      if (b > a) {
        // A new source (SSRC change, restart) right after the old one.
        const splice = x.epoch !== lastEpoch && lastEpoch >= 0;
        if (covered === 0 && a === r && b === end && !splice) {
          whole = x;
        } else {
          if (whole !== null) {
            // Another packet overlaps it: the block is assembled after all.
            copy(whole.pcm, r - whole.pos, block, 0, PLC_BLOCK);
            whole = null;
          }
          copy(x.pcm, a - x.pos, block, a - r, b - a);
          if (splice) {
            // Remove the step between the last sample of the old source and the first of the
            // new with a 5 ms decaying correction, so the splice does not click.
            const prev = a > r ? block[a - r - 1]! : this.#lastGoodSample;
            if (declick(block, a - r, b - r, block[a - r]! - prev)) {
              this.declicks++;
            }
          }
        }
        covered += b - a;
        this.playedEnd = Math.max(this.playedEnd, b);
        this.silent = false;
        lastEpoch = x.epoch;
      }
    }
    const src = whole !== null ? whole.pcm : block;
    const from = whole !== null ? r - whole.pos : 0;
    if (covered >= PLC_BLOCK) {
      this.#lastGoodEpoch = lastEpoch;
      this.#lastGoodSample = src[from + PLC_BLOCK - 1]!;
    } else {
      this.#lastGoodEpoch = -1;
    }
    // The concealer writes straight into `ready`.
    const ready = this.ready;
    const at = this.readyLen;
    this.readyLen += PLC_BLOCK;
    if (covered >= PLC_BLOCK) {
      this.#concealer.addGood(src, ready, at, from, PLC_BLOCK);
      this.#concealRun = 0;
      this.pos = end;
      return 0;
    }
    if (covered === 0 && this.silent) {
      // Comfort noise / before the first packet: silence, through the PLC to keep its delay line.
      block.fill(0);
      this.#concealer.addGood(block, ready, at, 0, PLC_BLOCK);
      this.#concealRun = 0;
      if (this.kind === 'audio') {
        this.kind = 'silence';
      }
      this.pos = end;
      return 0;
    }
    // Missing (or partly missing: conceal the whole block to stay click-free).
    this.#concealer.conceal(ready, at, PLC_BLOCK);
    this.#concealRun += PLC_BLOCK;
    if (this.#concealRun <= this.#maxConceal) {
      this.kind = 'concealed';
    } else if (this.kind === 'audio') {
      this.kind = 'silence';
    }
    const ahead = e.length > 0 && e[0]!.pos >= end;
    if (mayExpand && ahead && covered === 0) {
      this.expanded++;
      return PLC_BLOCK;
    }
    this.pos = end;
    return 0;
  }

  #markPlayed(x: TimelineEntry): void {
    x.played = true;
    if (x.epoch !== this.#lastPlayedEpoch) {
      this.#lastPlayedEpoch = x.epoch;
      this.#lastPlayedSeq = x.seq;
    } else if (this.#lastPlayedSeq >= 0) {
      const gap = seqDiff(this.#lastPlayedSeq, x.seq);
      if (gap > 1) {
        this.lost += gap - 1;
      }
      if (gap > 0) {
        this.#lastPlayedSeq = x.seq;
      }
    } else {
      this.#lastPlayedSeq = x.seq;
    }
  }
}

/**
 * Removes a step of `step` at `block[at]` with a linear correction decaying to 0 over
 * {@link DECLICK} samples (within `[at, end)`), saturating to 16 bits. Steps smaller than
 * {@link DECLICK_MIN_STEP} are left alone.
 * @returns whether the block was corrected
 */
export function declick(block: Int16Array, at: number, end: number, step: number): boolean {
  if (Math.abs(step) < DECLICK_MIN_STEP) {
    return false;
  }
  for (let i = at; i < end && i - at < DECLICK; i++) {
    const v = block[i]! - Math.round((step * (DECLICK - (i - at))) / DECLICK);
    block[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return true;
}

/** `n` samples of `src` from `from` into `dst` from `at` (a loop: no view allocated per block). */
function copy(src: Int16Array, from: number, dst: Int16Array, at: number, n: number): void {
  for (let i = 0; i < n; i++) {
    dst[at + i] = src[from + i]!;
  }
}
