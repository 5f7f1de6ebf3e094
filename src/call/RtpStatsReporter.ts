/**
 * One call's RTP figures into the Prometheus metrics: what the session received, lost and dropped
 * since the last update (the session's counters are cumulative, the metrics are counters shared by
 * every call), every `STATS_INTERVAL_MS` while the call is live and once more at its end.
 */
import type { Clock } from '../../lib/clock.js';
import type { RtpSessionStats } from '../../rtp/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** How often an active call's RTP figures go into the metrics. */
export const STATS_INTERVAL_MS = 5000;

type RtpMetrics = Pick<Metrics, 'rtpPackets' | 'rtpPacketsLost' | 'rtpJitter' | 'rtpDropped'>;

export class RtpStatsReporter {
  readonly #metrics: RtpMetrics;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** RTP figures already added to the metrics. */
  #counted: { received: number; lost: number; dropped: Record<string, number> } = {
    received: 0,
    lost: 0,
    dropped: {},
  };
  #timer: ReturnType<Clock['setTimeout']> | undefined;

  constructor(metrics: RtpMetrics, clock: Clock, log: Logger) {
    this.#metrics = metrics;
    this.#clock = clock;
    this.#log = log;
  }

  /**
   * Counts `sample()` every `STATS_INTERVAL_MS`; stops at the first tick where it answers null
   * (the call is no longer live).
   */
  start(sample: () => RtpSessionStats | null): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      const s = sample();
      if (s) {
        this.#count(s);
        this.start(sample);
      }
    }, STATS_INTERVAL_MS);
  }

  /** The call's last figures: stops the timer, counts what is new and logs the totals. */
  final(s: RtpSessionStats): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#count(s);
    this.#log.info(
      {
        received: s.received,
        lost: s.lost,
        late: s.late,
        jitterMs: s.jitterMs,
        concealed: s.concealed,
        frames: s.frames,
        sent: s.packetsSent,
        rejectedSource: s.rejectedSource,
        unknownPayloadType: s.unknownPayloadType,
        srtp: s.srtp,
        srtpAuthFailed: s.srtpAuthFailed,
        srtpReplayed: s.srtpReplayed,
      },
      'rtp stats',
    );
  }

  /** Adds what the session received and lost since the last update; samples the jitter. */
  #count(s: RtpSessionStats): void {
    const metrics = this.#metrics;
    metrics.rtpPackets.inc(Math.max(0, s.received - this.#counted.received));
    metrics.rtpPacketsLost.inc(Math.max(0, s.lost - this.#counted.lost));
    metrics.rtpJitter.observe(s.jitterMs / 1000);
    const dropped: Record<string, number> = {
      'rejected-source': s.rejectedSource,
      'unknown-payload-type': s.unknownPayloadType,
      'invalid-sequence': s.invalidSequence,
      'srtp-auth': s.srtpAuthFailed,
      'srtp-replay': s.srtpReplayed,
      late: s.late,
      duplicated: s.duplicated,
    };
    for (const [code, n] of Object.entries(s.malformed)) {
      dropped[`malformed:${code}`] = n;
    }
    for (const [reason, n] of Object.entries(dropped)) {
      const delta = n - (this.#counted.dropped[reason] ?? 0);
      if (delta > 0) {
        metrics.rtpDropped.inc({ reason }, delta);
      }
    }
    this.#counted = { received: s.received, lost: s.lost, dropped };
  }
}
