import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { RepeatedLog } from '../../lib/logger.js';
import { buildRtcpReport, rtcpIntervalMs, type ReportBlock } from '../packet/rtcp.js';
import type { RtpSender } from './RtpSender.js';

/** What the reporter needs from its session. */
interface RtcpReporterHooks {
  ssrc: number;
  cname: string;
  wallClockMs: () => number;
  /** Sources heard from, and the report block of the current one (if validated). */
  content: (nowMs: number) => { sources: number; block: ReportBlock | undefined };
  sender: RtpSender;
  /** Sends a compound RTCP packet to the right place (RTCP port, or RTP port with rtcp-mux). */
  send: (bytes: Uint8Array) => void;
}

/**
 * Sends the session's RTCP reports at the RFC 3550 §6.2 / A.7 interval: an SR when we sent RTP
 * since the last report, else an RR, each with the current source's report block and an SDES CNAME
 * (§6.1); a BYE on close.
 */
export class RtcpReporter {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #log: RepeatedLog;
  readonly #h: RtcpReporterHooks;
  #timer: TimerHandle | undefined;
  #initial = true;
  #weSent = false;

  constructor(clock: Clock, random: () => number, log: RepeatedLog, hooks: RtcpReporterHooks) {
    this.#clock = clock;
    this.#random = random;
    this.#log = log;
    this.#h = hooks;
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Builds and sends a report now (with a BYE when `bye`). */
  sendNow(bye: boolean): void {
    const now = this.#clock.now();
    this.#weSent = this.#h.sender.takeSentSinceReport();
    const { block } = this.#h.content(now);
    const bytes = buildRtcpReport({
      ssrc: this.#h.ssrc,
      ...(this.#weSent ? { sender: this.#h.sender.senderInfo(this.#h.wallClockMs()) } : {}),
      reports: block ? [block] : [],
      cname: this.#h.cname,
      ...(bye ? { bye: {} } : {}),
    });
    this.#h.send(bytes);
  }

  #schedule(): void {
    // G.711: 64 kbit/s of payload; RTCP gets 5 % of the session bandwidth (RFC 3550 §6.2).
    const rtcpBw = (0.05 * 64000) / 8;
    const { sources } = this.#h.content(this.#clock.now());
    const interval = rtcpIntervalMs(
      2,
      sources + (this.#weSent ? 1 : 0),
      rtcpBw,
      this.#weSent,
      100,
      this.#initial,
      this.#random(),
    );
    this.#initial = false;
    this.#timer = this.#clock.setTimeout(() => {
      try {
        this.sendNow(false);
      } catch (err) {
        this.#log.log(
          'warn',
          'rtcp-send-error',
          () => ({ event: 'rtcp-send-error', err }),
          'error sending rtcp',
        );
      }
      this.#schedule();
    }, interval);
  }
}
