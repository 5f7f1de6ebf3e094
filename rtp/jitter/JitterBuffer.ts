import { PitchScaler } from '../dsp/PitchScaler.js';
import { seqDiff, tsNear } from '../seq.js';
import { BlockRenderer, type FrameKind, type TimelineEntry } from './BlockRenderer.js';
import { PLC_BLOCK, silenceConcealer } from './Concealer.js';
import { DelayEstimator } from './DelayEstimator.js';
import { PlayoutSteering } from './PlayoutSteering.js';
import {
  JITTER_DEFAULTS,
  type Decode,
  type JitterBufferOptions,
  type JitterStats,
  type PushResult,
} from './types.js';
export type { Concealer } from './Concealer.js';
export type { FrameKind } from './BlockRenderer.js';

export { JITTER_DEFAULTS } from './types.js';

const EMPTY = new Int16Array(0);
/**
 * Spare timeline entries kept for reuse past the packets in the buffer. More go, one per pulled
 * frame: a burst (packets queued behind a stalled event loop, or before the first pull) would
 * otherwise keep its high-water mark of decoded packets for the rest of the call.
 */
const POOL_SPARE = 4;

/**
 * An adaptive jitter buffer designed to feed a recogniser, not a loudspeaker: the output is a
 * continuous cadence of fixed frames pulled on the caller's clock; what did not arrive in time is
 * concealed, then silence; the delay follows the measured jitter between a minimum and a maximum;
 * a packet after its playout time that nothing later was played before is waited for (the playout
 * point moves) rather than dropped; the delay moves at talkspurt starts (marker bit) and otherwise by
 * cutting or repeating whole pitch periods ({@link PitchScaler}), which also absorbs sender clock
 * drift. rtp/README.md says what it does for each kind of network event.
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
  readonly #entries: TimelineEntry[] = [];
  readonly #pool: TimelineEntry[] = [];
  readonly #capacity: number;
  readonly #maxPacket: number;
  /** Renders the timeline (render position, rendered samples not yet pulled, PLC, de-click). */
  readonly #render: BlockRenderer;
  readonly #steering: PlayoutSteering;
  readonly #seen = new Int32Array(256).fill(-1);
  readonly #est: DelayEstimator;
  readonly #scaler: PitchScaler;
  #started = false;
  /** False until the first pull after the first packet anchors the playout position. */
  #primed = false;
  #offset = 0;
  /** The offset before the last wait, for timestamps older than `#waitTsExt`. */
  #prevOffset = 0;
  #waitTsExt = Number.NEGATIVE_INFINITY;
  /** A late packet held back until the next one shows whether the delay stepped up. */
  #held: TimelineEntry | null = null;
  #heldTsExt = 0;
  #heldAt = 0;
  #lastTsExt = Number.NaN;
  #highestSeq = -1;
  #highestEnd = 0;
  #newSource = true;
  #epoch = 0;
  #lastDelay = 0;
  /** The frame handed out by the last pull (see {@link frame}). */
  #out: Int16Array;
  /** The rendered samples of an unadjusted frame: `ready`'s first frame, read in place. */
  readonly #readyFrame: Int16Array;
  /** A time-scaled frame (the scaler writes it). */
  readonly #scaled: Int16Array;
  /** Silence, before the first packet. */
  readonly #silence: Int16Array;
  /** Rendered samples the last frame used: dropped from `ready` at the next pull, not before. */
  #used = 0;
  readonly #stats = {
    received: 0,
    late: 0,
    waits: 0,
    talkspurtMoves: 0,
    duplicated: 0,
    reordered: 0,
    overflow: 0,
    concealedFrames: 0,
    /** Time-scaled frames (blocks concealed without advancing are counted by the renderer). */
    adjustedFrames: 0,
    resyncs: 0,
  };

  constructor(options: JitterBufferOptions = {}) {
    this.#rate = options.clockRate ?? 8000;
    this.#frame = options.frameSamples ?? 160;
    const ms = this.#rate / 1000;
    this.#minDelay = (options.minDelayMs ?? JITTER_DEFAULTS.minDelayMs) * ms;
    this.#maxDelay = Math.max(this.#minDelay, (options.maxDelayMs ?? JITTER_DEFAULTS.maxDelayMs) * ms);
    this.#maxPacket = options.maxPacketSamples ?? 960;
    this.#est = new DelayEstimator(this.#frame, this.#minDelay, this.#maxDelay);
    const shrink = (options.shrinkPercent ?? JITTER_DEFAULTS.shrinkPercent) / 100;
    this.#steering = new PlayoutSteering(this.#frame, shrink);
    this.#scaler = new PitchScaler(this.#rate);
    // Room for the maximum delay plus a second of early packets, at 10 ms packets.
    this.#capacity = Math.ceil((this.#maxDelay + this.#rate) / (this.#rate / 100)) + 8;
    // Rendered samples: a frame plus the longest period (look-ahead to remove one), a frame of
    // left-over and a few blocks of slack.
    const ready = 2 * this.#frame + this.#scaler.maxPeriod + 4 * PLC_BLOCK;
    const maxConceal = (options.maxConcealMs ?? 60) * ms;
    this.#render = new BlockRenderer(options.concealer ?? silenceConcealer, maxConceal, ready);
    this.#readyFrame = this.#render.ready.subarray(0, this.#frame);
    this.#scaled = new Int16Array(this.#frame);
    this.#silence = new Int16Array(this.#frame);
    this.#out = this.#silence;
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
   * @param marker the RTP marker bit (start of a talkspurt: the delay may move in the silence before)
   */
  push(
    seq: number,
    ts: number,
    payload: Uint8Array,
    nowMs: number,
    decode: Decode | null,
    marker = false,
  ): PushResult {
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
      if (newest && (pos < this.#render.pos - this.#rate || pos > this.#highestEnd + 30 * this.#rate)) {
        this.#anchor(ts, nowS);
      } else if (ext > this.#lastTsExt) {
        this.#lastTsExt = ext;
      }
    }
    const tsExt = tsNear(this.#lastTsExt, ts);
    // Timestamps older than the last wait keep the offset they had (they are late anyway).
    const pos = tsExt + (tsExt < this.#waitTsExt ? this.#prevOffset : this.#offset);
    const newest = this.#highestSeq < 0 || seqDiff(this.#highestSeq, seq) >= 0;
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
    const late =
      this.#primed && pos + entry.len <= this.#render.pos && !(entry.cn && pos === this.#render.pos);
    // After its playout time (whole or in part) and newer than anything heard: maybe wait for it.
    if (this.#primed && pos < this.#render.pos && !entry.cn && newest && pos >= this.#render.playedEnd) {
      if (this.#wait(entry, tsExt, nowS, late)) {
        return this.#queue(entry, seq, nowS - entry.pos);
      }
    }
    if (late) {
      // Every arrival tells the estimator about the network, late ones most of all.
      this.#est.add(nowS - pos);
      if (entry.cn && seq === this.#highestSeq) {
        // A late comfort-noise packet still says the talker went silent.
        this.#render.silent = true;
      }
      this.#seen[seq & 255] = seq;
      if (entry !== this.#held) {
        this.#pool.push(entry);
        this.#stats.late++;
      }
      return 'late';
    }
    if (this.#held !== null && newest) {
      // The packet after a late one is in time: that one was a spike, not a step.
      this.#dropHeld();
    }
    if (marker && newest && this.#primed && pos >= this.#highestEnd) {
      this.#moveTalkspurt(entry, tsExt);
    }
    return this.#queue(entry, seq, nowS - entry.pos);
  }

  /**
   * Inserts a packet into the timeline (or drops it when the buffer is full).
   * @param transit its transit for the estimator, or null when it was already counted
   */
  #queue(entry: TimelineEntry, seq: number, transit: number | null): PushResult {
    if (this.#entries.length >= this.#capacity) {
      this.#pool.push(entry);
      this.#stats.overflow++;
      return 'overflow';
    }
    this.#seen[seq & 255] = seq;
    this.#stats.received++;
    // Insert sorted by position (usually at the end).
    const pos = entry.pos;
    let i = this.#entries.length;
    while (i > 0 && this.#entries[i - 1]!.pos > pos) {
      i--;
    }
    // In place (splice would allocate an empty array of removed elements per packet).
    const entries = this.#entries;
    for (let j = entries.length; j > i; j--) {
      entries[j] = entries[j - 1]!;
    }
    entries[i] = entry;
    this.#highestEnd = Math.max(this.#highestEnd, pos + entry.len);
    if (!this.#started) {
      this.#started = true;
      this.#primed = false;
      // What comes before the first packet is silence, not loss.
      this.#render.silent = true;
    }
    if (transit !== null) {
      this.#est.add(transit);
    }
    return 'queued';
  }

  /**
   * A packet after its playout time, newer than anything heard: grow the delay at once so that it
   * and everything after it play (pjmedia and NetEq re-anchor their playout point the same way),
   * if the delay stays within the maximum; otherwise hold it, and grow anyway when the next packet
   * is late too and arrived a packet's time later (the network delay stepped up for good, or the
   * sender paused without advancing its timestamps). Packets arriving together (a burst after a
   * freeze) are waited for only as far as the maximum delay allows: the oldest are dropped.
   * @param mayHold whether it may be held (it is wholly late; one partly late is played in part)
   * @returns true when the timeline moved (`entry.pos` updated, and the held packet queued)
   */
  #wait(entry: TimelineEntry, tsExt: number, nowS: number, mayHold: boolean): boolean {
    if (this.#held !== null && nowS - this.#heldAt < entry.len / 2) {
      // Arrived together with the held one: a burst after a freeze, not a step; the held one
      // does not fit within the maximum delay, this one may.
      this.#dropHeld();
    }
    const held = this.#held;
    const first = held ?? entry;
    // Where a packet arriving now at the usual transit would be, corrected so that the delay lands
    // on its target (on the block grid, so that no block is partly covered); at least at the render.
    const excess = nowS - this.#est.base - entry.pos;
    const want = Math.round((excess + this.#est.target - this.#lastDelay) / PLC_BLOCK) * PLC_BLOCK;
    const shift = Math.max(want, this.#render.pos - first.pos);
    if (held === null && this.#lastDelay + shift > this.#maxDelay) {
      if (mayHold) {
        this.#held = entry;
        this.#heldTsExt = tsExt;
        this.#heldAt = nowS;
      }
      return false;
    }
    this.#held = null;
    this.#stats.waits++;
    this.#prevOffset = this.#offset;
    this.#offset += shift;
    this.#waitTsExt = held === null ? tsExt : Math.min(tsExt, this.#heldTsExt);
    // Packets already here that follow it (reordered) move with it; none of them was heard.
    for (const x of this.#entries) {
      if (x.pos >= first.pos) {
        x.pos += shift;
      }
    }
    if (this.#highestEnd >= first.pos) {
      this.#highestEnd += shift;
    }
    entry.pos += shift;
    if (held !== null) {
      held.pos += shift;
      this.#queue(held, held.seq, null);
    }
    return true;
  }

  /** Drops the held late packet (counted late). */
  #dropHeld(): void {
    this.#pool.push(this.#held!);
    this.#held = null;
    this.#stats.late++;
  }

  /**
   * A talkspurt starts (marker bit) after silence: the natural moment to bring the delay to its
   * target, by starting it earlier (shortening the silence) or later (lengthening it), without
   * touching a sample of speech.
   */
  #moveTalkspurt(entry: TimelineEntry, tsExt: number): void {
    const err = this.#lastDelay - this.#est.target;
    const guard = this.#frame / 8;
    let move = 0;
    if (err > guard) {
      // Earlier, but not into the audio before it, and keeping the target's lead over the render.
      const room = Math.min(entry.pos - this.#highestEnd, entry.pos - this.#render.pos - this.#est.target);
      move = -Math.floor(Math.max(0, Math.min(err, room)) / PLC_BLOCK) * PLC_BLOCK;
    } else if (err < -guard) {
      move = Math.floor(-err / PLC_BLOCK) * PLC_BLOCK;
    }
    if (move === 0) {
      return;
    }
    this.#stats.talkspurtMoves++;
    this.#prevOffset = this.#offset;
    this.#offset += move;
    this.#waitTsExt = tsExt;
    entry.pos += move;
    // The network did not change: the transits seen so far are moved with the timeline.
    this.#est.shift(-move);
  }

  /** Re-anchors the timeline so that timestamp `ts` continues right after the received audio. */
  #anchor(ts: number, nowS: number): void {
    this.#newSource = false;
    if (this.#held !== null) {
      this.#dropHeld();
    }
    this.#waitTsExt = Number.NEGATIVE_INFINITY;
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
    if (this.#highestEnd >= this.#render.pos) {
      // Seamless: the new stream's first sample follows the last one received.
      this.#offset = this.#highestEnd - ts;
    } else {
      // What was received is all played: start the new timeline at the target delay.
      this.#offset = this.#render.pos + Math.round(this.#est.target / PLC_BLOCK) * PLC_BLOCK - ts;
      this.#est.reset(nowS - (ts + this.#offset));
    }
  }

  /**
   * Produces the next output frame (`frameSamples`), advancing the playout by one frame of call
   * time (more or less when adapting the delay). The samples are read from {@link frame}.
   * @param nowMs the local time of this frame (ideally its scheduled time, not the callback's)
   */
  pull(nowMs: number): FrameKind {
    const frame = this.#frame;
    const render = this.#render;
    // The last frame's samples stayed in place for its reader until now.
    render.consume(this.#used);
    this.#used = 0;
    if (!this.#started) {
      this.#out = this.#silence;
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
      render.restart(at);
    }
    const target = this.#est.target;
    const delay = nowS - (render.pos - render.readyLen) - this.#est.base;
    this.#lastDelay = delay;
    const err = delay - target;
    const allow = this.#steering.next(err, target);
    render.beginFrame();
    let expand = err < -frame / 2 ? -err : 0;
    while (render.readyLen < frame) {
      expand -= render.render(this.#entries, this.#pool, expand > 0);
    }
    const kind = render.kind;
    const scaler = this.#scaler;
    let used = frame;
    // Played as rendered unless the scaler writes the frame (time-scaled, or copied when it found
    // no period to cut or repeat).
    this.#out = this.#readyFrame;
    if (allow >= scaler.minPeriod) {
      // Look ahead over blocks already received, to find a period to remove.
      const want = frame + Math.min(allow, scaler.maxPeriod) + scaler.window;
      while (render.readyLen < want && render.hasBlock(this.#entries)) {
        render.render(this.#entries, this.#pool, false);
      }
      used = scaler.shrink(render.ready, render.readyLen, this.#scaled, frame, allow);
      this.#out = this.#scaled;
    } else if (-allow >= scaler.minPeriod) {
      used = scaler.grow(render.ready, render.readyLen, this.#scaled, frame, -allow);
      this.#out = this.#scaled;
    }
    if (used !== frame) {
      this.#stats.adjustedFrames++;
      this.#steering.done(used - frame);
    }
    this.#used = used;
    if (this.#pool.length > POOL_SPARE) {
      this.#pool.pop();
    }
    if (kind === 'concealed') {
      this.#stats.concealedFrames++;
    }
    return kind;
  }

  /**
   * The frame of the last {@link pull} (`frameSamples` long), valid until the next pull: a view of
   * the rendered samples (an unadjusted frame is not copied) or the time-scaled frame.
   */
  get frame(): Int16Array {
    return this.#out;
  }

  /** Counters and gauges. */
  getStats(): JitterStats {
    const ms = 1000 / this.#rate;
    const r = this.#render;
    return {
      ...this.#stats,
      lost: r.lost,
      adjustedFrames: this.#stats.adjustedFrames + r.expanded,
      declicks: r.declicks,
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
