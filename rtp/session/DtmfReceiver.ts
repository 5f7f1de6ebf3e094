/**
 * RFC 4733 telephone-event receiver: turns the packets of a named event (several per event, the
 * end packet usually three times) into one DTMF event with its duration. Events are identified by
 * their RTP timestamp (the event's start, RFC 4733 §2.5.1.1), so retransmitted end packets and
 * late updates of an event already reported are ignored.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     event     |E|R| volume    |          duration             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * @see RFC 4733 §2.3 (payload format), §2.5.1 (receiver), §3.2 (DTMF event codes)
 */

/** A completed DTMF event. */
export interface DtmfEvent {
  /** '0'–'9', '*', '#', 'A'–'D', or 'flash'. */
  digit: string;
  /** Duration in ms (from the event's duration field). */
  durationMs: number;
}

const DIGITS = '0123456789*#ABCD';

/** The name of RFC 4733 event code `code` (§3.2), or undefined for non-DTMF events. */
export function dtmfDigit(code: number): string | undefined {
  return code < 16 ? DIGITS[code] : code === 16 ? 'flash' : undefined;
}

export class DtmfReceiver {
  readonly #clockRate: number;
  /** Timestamp of the event in progress (not yet reported), or -1. */
  #ts = -1;
  #code = 0;
  #duration = 0;
  /** Timestamps of the last events reported, to drop their retransmissions. */
  readonly #reported: number[] = [];

  constructor(clockRate = 8000) {
    this.#clockRate = clockRate;
  }

  /**
   * Handles one telephone-event payload.
   * @returns the events completed by this packet (usually none or one): the previous event when a
   *   new one starts without its end having been seen, and this one on its first end packet.
   */
  push(timestamp: number, payload: Uint8Array): DtmfEvent[] {
    if (payload.byteLength < 4) {
      return [];
    }
    const code = payload[0]!;
    const end = (payload[1]! & 0x80) !== 0;
    const duration = (payload[2]! << 8) | payload[3]!;
    const out: DtmfEvent[] = [];
    if (this.#reported.includes(timestamp)) {
      return out;
    }
    if (this.#ts !== timestamp) {
      const prev = this.#finish();
      if (prev) {
        out.push(prev);
      }
      this.#ts = timestamp;
      this.#code = code;
      this.#duration = 0;
    }
    this.#duration = Math.max(this.#duration, duration);
    if (end) {
      const ev = this.#finish();
      if (ev) {
        out.push(ev);
      }
    }
    return out;
  }

  /** Reports the event in progress, if any (e.g. when the call ends or the source changes). */
  flush(): DtmfEvent | undefined {
    return this.#finish();
  }

  #finish(): DtmfEvent | undefined {
    if (this.#ts < 0) {
      return undefined;
    }
    const ts = this.#ts;
    this.#ts = -1;
    this.#reported.push(ts);
    if (this.#reported.length > 8) {
      this.#reported.shift();
    }
    const digit = dtmfDigit(this.#code);
    return digit === undefined
      ? undefined
      : { digit, durationMs: Math.round((this.#duration * 1000) / this.#clockRate) };
  }
}
