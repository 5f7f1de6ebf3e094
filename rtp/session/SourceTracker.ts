import type { Logger } from '../../lib/logger.js';
import { RtpPacket } from '../packet/RtpPacket.js';
import { seqDiff } from '../seq.js';
import { SourceState } from './SourceState.js';

/** Consecutive packets of the previous SSRC after a change that make the tracker switch back. */
const SWITCH_BACK = 5;

/** What the tracker does with packets. */
interface SourceTrackerHooks {
  /** A packet that passed validation (possibly one held during probation, with its arrival time). */
  deliver(pkt: RtpPacket, arrivalMs: number): void;
  /** The stream restarted: a new SSRC, or a sequence restart within one (RFC 3550 A.1). */
  newSource(): void;
}

/**
 * Follows the remote's synchronisation source: RFC 3550 A.1 validation per SSRC (via
 * {@link SourceState}), packets held during probation and released when the source is validated,
 * SSRC changes (the new SSRC of an already validated stream is taken at once, so a switch costs no
 * packet), stragglers of the previous SSRC dropped, and a switch back when the previous SSRC keeps
 * sending (the "new" SSRC was a stray packet).
 */
export class SourceTracker {
  readonly #log: Logger;
  readonly #h: SourceTrackerHooks;
  #source: SourceState | undefined;
  #previous: SourceState | undefined;
  /** Consecutive packets of the previous source since the change. */
  #previousRun = 0;
  /** RTP clock rate of the negotiated codec (A.8 jitter is measured in its units). */
  #clockRate = 8000;
  /** Packets received while the source was on probation (A.1), delivered once it is validated. */
  readonly #held: { pkt: RtpPacket; at: number }[] = [];
  /** Packets dropped by A.1 (large jumps) or as stragglers of a previous SSRC. */
  invalid = 0;
  /** SSRC changes seen. */
  changes = 0;

  constructor(log: Logger, hooks: SourceTrackerHooks) {
    this.#log = log;
    this.#h = hooks;
  }

  /**
   * Takes the negotiated codec's RTP clock rate (start or re-INVITE); sources seen from now on
   * measure their interarrival jitter at this rate. Default 8000 (G.711).
   */
  setClockRate(clockRate: number): void {
    this.#clockRate = clockRate;
  }

  /** The current source's reception state (for RTCP report blocks and stats). */
  get source(): SourceState | undefined {
    return this.#source;
  }

  /** Handles one packet of an accepted payload type from the accepted address. */
  receive(pkt: RtpPacket, now: number): void {
    let src = this.#source;
    if (src && pkt.ssrc === src.ssrc) {
      this.#previousRun = 0;
    } else if (pkt.ssrc === this.#previous?.ssrc) {
      // A straggler of the previous source after a change is too late to be useful; but if the
      // previous source keeps going, the "new" one was a stray packet: switch back.
      if (++this.#previousRun < SWITCH_BACK) {
        this.invalid++;
        return;
      }
      const back = this.#previous;
      this.#switchTo(back);
      src = back;
    } else {
      const next = new SourceState(
        pkt.ssrc,
        pkt.sequenceNumber,
        this.#clockRate,
        src?.validated ? 0 : undefined,
      );
      if (src) {
        this.#switchTo(next);
      } else {
        this.#source = next;
      }
      src = next;
      this.#held.length = 0;
    }
    switch (src.update(pkt.sequenceNumber)) {
      case 'probation':
        // Reordering during probation restarts it; keep the last few packets rather than one.
        if (this.#held.length >= 4) {
          this.#held.shift();
        }
        // The receiver reuses its packet object: a held packet gets its own (same bytes, no copy).
        this.#held.push({ pkt: new RtpPacket(pkt.bytes), at: now });
        return;
      case 'bad':
        this.invalid++;
        return;
      case 'restart':
        this.#h.newSource();
        this.#accept(src, pkt, now);
        return;
      case 'valid': {
        const heldList = this.#held;
        for (let h = 0; h < heldList.length; h++) {
          const held = heldList[h]!;
          // Packets close behind the validating one belong to the stream (the buffer orders them).
          const d = seqDiff(held.pkt.sequenceNumber, pkt.sequenceNumber);
          if (d > 0 && d <= 8) {
            src.countHeld();
            this.#accept(src, held.pkt, held.at);
          }
        }
        this.#held.length = 0;
        this.#accept(src, pkt, now);
        return;
      }
    }
  }

  /** Makes `next` the current source (the current one becomes the previous one). */
  #switchTo(next: SourceState): void {
    const cur = this.#source!;
    this.#previous = cur;
    this.#source = next;
    this.#previousRun = 0;
    this.#held.length = 0;
    this.changes++;
    this.#h.newSource();
    this.#log.debug({ from: cur.ssrc, to: next.ssrc }, 'rtp ssrc changed');
  }

  #accept(src: SourceState, pkt: RtpPacket, at: number): void {
    src.updateJitter(pkt.timestamp, at);
    this.#h.deliver(pkt, at);
  }
}
