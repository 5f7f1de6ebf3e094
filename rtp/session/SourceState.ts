import type { ReportBlock } from '../packet/rtcp.js';
import { seqAdd, tsDiff } from '../seq.js';

/**
 * Per-source reception state: RFC 3550 A.1 sequence validation (probation, dropout, misorder,
 * restart after two sequential "bad" packets), A.3 loss accounting and A.8 interarrival jitter,
 * i.e. everything a receiver report block needs.
 *
 * @see RFC 3550 §6.4.1, A.1, A.3, A.8
 */

const RTP_SEQ_MOD = 0x10000;
/** RFC 3550 A.1 constants. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const MIN_SEQUENTIAL = 2;

/** Outcome of {@link SourceState.update} for one packet. */
type SeqVerdict =
  /** Valid: play it. */
  | 'valid'
  /** Source still on probation (RFC 3550 A.1): hold the packet until the source is validated. */
  | 'probation'
  /** A large jump: dropped; a second sequential packet after it restarts the sequence. */
  | 'bad'
  /** Valid, and the sequence restarted here (the second of two sequential "bad" packets). */
  | 'restart';

export class SourceState {
  readonly ssrc: number;
  readonly #clockRate: number;
  #maxSeq = 0;
  #cycles = 0;
  #baseSeq = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #probation: number;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #transit = Number.NaN;
  #jitter = 0;
  #lsr = 0;
  #lsrAtMs = Number.NaN;

  /**
   * @param ssrc the source's SSRC
   * @param firstSeq the sequence number of the first packet seen (A.1 `init_seq` + probation)
   * @param clockRate the RTP clock rate (for jitter in timestamp units)
   * @param probation packets required in sequence before the source is valid (A.1 MIN_SEQUENTIAL)
   */
  constructor(ssrc: number, firstSeq: number, clockRate: number, probation = MIN_SEQUENTIAL) {
    this.ssrc = ssrc;
    this.#clockRate = clockRate;
    this.#initSeq(firstSeq);
    this.#probation = probation;
    if (probation > 0) {
      this.#maxSeq = seqAdd(firstSeq, -1);
    }
  }

  #initSeq(seq: number): void {
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
  }

  /** True once the source has passed probation. */
  get validated(): boolean {
    return this.#probation === 0;
  }

  /**
   * RFC 3550 A.1 `update_seq`: classifies a packet's sequence number and updates the counters.
   * Duplicates and misordered packets within MAX_MISORDER are 'valid' here (the jitter buffer
   * sorts them out), as in A.1.
   */
  update(seq: number): SeqVerdict {
    const udelta = seqAdd(seq, -this.#maxSeq);
    if (this.#probation > 0) {
      if (seq === seqAdd(this.#maxSeq, 1)) {
        this.#probation--;
        this.#maxSeq = seq;
        if (this.#probation === 0) {
          this.#initSeq(seq);
          this.#received++;
          return 'valid';
        }
      } else {
        this.#probation = MIN_SEQUENTIAL - 1;
        this.#maxSeq = seq;
      }
      return 'probation';
    } else if (udelta < MAX_DROPOUT) {
      if (seq < this.#maxSeq) {
        this.#cycles += RTP_SEQ_MOD;
      }
      this.#maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      if (seq === this.#badSeq) {
        // Two sequential packets: assume the other side restarted without telling us.
        this.#initSeq(seq);
        this.#received++;
        return 'restart';
      } else {
        this.#badSeq = seqAdd(seq, 1);
        return 'bad';
      }
    }
    // else: duplicate or reordered packet.
    this.#received++;
    return 'valid';
  }

  /**
   * Counts a packet that was held during probation and released when the source was validated
   * (A.1 counts only the validating packet; the held one was received too).
   */
  countHeld(): void {
    this.#received++;
    this.#baseSeq = seqAdd(this.#baseSeq, -1);
  }

  /**
   * RFC 3550 A.8: updates the interarrival jitter with a packet's RTP timestamp and arrival time.
   * @param arrivalMs arrival time on the local clock, in ms
   */
  updateJitter(rtpTimestamp: number, arrivalMs: number): void {
    // Transit in timestamp units; only differences matter, so wrap the arrival to 32 bits.
    const arrival = Math.round((arrivalMs * this.#clockRate) / 1000);
    const transit = tsDiff(rtpTimestamp, arrival);
    if (!Number.isNaN(this.#transit)) {
      let d = tsDiff(this.#transit, transit);
      if (d < 0) {
        d = -d;
      }
      this.#jitter += (d - this.#jitter) / 16;
    }
    this.#transit = transit;
  }

  /** Records a sender report from this source (for LSR/DLSR). */
  onSenderReport(ntpSec: number, ntpFrac: number, nowMs: number): void {
    this.#lsr = (((ntpSec & 0xffff) << 16) | (ntpFrac >>> 16)) >>> 0;
    this.#lsrAtMs = nowMs;
  }

  /** Packets received (valid per A.1), duplicates included as in A.1. */
  get received(): number {
    return this.#received;
  }

  /** Extended highest sequence number received. */
  get extendedMax(): number {
    return this.#cycles + this.#maxSeq;
  }

  /** Packets expected (A.3). */
  get expected(): number {
    return this.extendedMax - this.#baseSeq + 1;
  }

  /** Cumulative packets lost (A.3), negative when duplicates outnumber losses. */
  get lost(): number {
    return this.expected - this.#received;
  }

  /** Interarrival jitter in timestamp units (A.8). */
  get jitter(): number {
    return this.#jitter;
  }

  /**
   * Builds a report block (A.3) and starts a new reporting interval.
   * @param nowMs current time (for DLSR)
   */
  report(nowMs: number): ReportBlock {
    const expected = this.expected;
    const expectedInterval = expected - this.#expectedPrior;
    this.#expectedPrior = expected;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    const lost = Math.max(-0x800000, Math.min(0x7fffff, expected - this.#received));
    return {
      ssrc: this.ssrc,
      fractionLost: Math.min(255, fractionLost),
      cumulativeLost: lost,
      extendedHighestSeq: this.extendedMax >>> 0,
      jitter: Math.floor(this.#jitter) >>> 0,
      lastSr: this.#lsr,
      delaySinceLastSr: Number.isNaN(this.#lsrAtMs)
        ? 0
        : Math.min(0xffffffff, Math.floor(((nowMs - this.#lsrAtMs) * 65536) / 1000)),
    };
  }
}
