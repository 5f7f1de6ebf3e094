/** Options, status and counters of SttPool. */
import type { Clock } from '../../lib/clock.js';
import type { SttErrorCode } from './errors.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpGet } from './probe.js';
import type { SttConnector, SttStreamSettings } from './streamTypes.js';
import type { SttServerConfig } from './SttConnection.js';
import type { TurnDetectorOptions } from './TurnDetector.js';

interface SttBackoff {
  /** First retry delay (default 1000 ms), doubled per failure up to `maxMs` (default 30 000). */
  readonly initialMs?: number;
  readonly maxMs?: number;
}

export interface SttPoolOptions {
  readonly servers: readonly SttServerConfig[];
  readonly clock?: Clock;
  /** Wall clock (epoch ms), for word wall times. */
  readonly wallClock?: () => number;
  readonly logger?: Logger;
  /** Model delay (default 480 ms, stt-1b-en_fr; 2560 for stt-2.6b-en). */
  readonly modelDelayMs?: number;
  /** Admission policy when no server has a free slot (config `stt.whenFull`). */
  readonly whenFull?: 'reject' | 'defer';
  /**
   * Bound on the handshake plus `Ready` (default 3000 ms). It adapts to load: 4 × the slowest of
   * the server's last 32 handshakes when that is longer, up to `readyTimeoutMaxMs` (default 10 000).
   */
  readonly readyTimeoutMs?: number;
  readonly readyTimeoutMaxMs?: number;
  /**
   * Connections opened ahead of need per server, `Ready`, each holding a slot (config
   * `stt.warm`): `perServer` (default 0 = off here; the appliance's config default is 2),
   * replaced after `maxIdleMs` unused (default 15 000, below moshi-server's 20 s idle limit).
   */
  readonly warm?: { readonly perServer?: number; readonly maxIdleMs?: number };
  /** Handshakes in progress per server at most; more connections wait their turn (default 128: well below a listen backlog of 511). */
  readonly connectConcurrency?: number;
  /** A server in backoff gets one trial connection per this period (default 1000 ms). */
  readonly trialIntervalMs?: number;
  /** While a server is down or in backoff, probes run this often (default 2000 ms). */
  readonly downProbeIntervalMs?: number;
  /** HTTP probe period (default 10 000 ms) and timeout (default 2000 ms). */
  readonly probeIntervalMs?: number;
  readonly probeTimeoutMs?: number;
  readonly backoff?: SttBackoff;
  /** An unused reservation frees its slot after this long (default 60 000 ms). */
  readonly reservationTtlMs?: number;
  /** A server reported behind real time is avoided for new calls this long (default 30 000 ms). */
  readonly lagCooldownMs?: number;
  /** Stream tunables (flush, replay, dedup, lag threshold…). */
  readonly stream?: Omit<SttStreamSettings, 'modelDelayMs'>;
  /** Turn detection for every stream (a stream's own `turns` option overrides it key by key). */
  readonly turns?: TurnDetectorOptions;
  /** HTTP GET used by the probes (default node:http). */
  readonly httpGet?: HttpGet;
  /**
   * Opens a connection (default `SttConnection.connect`, a socket on this thread); the appliance
   * opens them on the media threads instead (`SttLinkThreads.connect`).
   */
  readonly connect?: SttConnector;
}

/** What the pool knows about one server. */
export interface SttServerStatus {
  readonly url: string;
  /** Last `/api/build_info` probe: true ok, false failed, null not probed yet. */
  healthy: boolean | null;
  /** From `/api/modules_info`, minus streams we opened since; null when unknown. */
  freeSlots: number | null;
  totalSlots: number | null;
  /** Clock time before which the server is skipped. */
  backoffUntil: number;
  /** Consecutive failures (drives the backoff). */
  failures: number;
  lastError: SttErrorCode | null;
  /** Clock time until which the server counts as behind real time. */
  laggingUntil: number;
  /** Times it was found behind real time. */
  lagEvents: number;
  maxLagMs: number;
  /** Our streams on it now. */
  streams: number;
  /** Our warm connections on it now (opened ahead of need, `Ready`, each holding a slot). */
  warm: number;
}

/** Pool counters (for metrics). */
export interface SttPoolStats {
  reservations: number;
  /** Calls and failovers that took a warm connection (no handshake to wait for). */
  warmHits: number;
  noServer: number;
  connectFailures: number;
  /** Connections that got no `Ready` in time: a slow server, ranked last, not backed off. */
  slowHandshakes: number;
  authFailures: number;
  /** Connections and probes refused because the server's certificate failed verification. */
  tlsFailures: number;
  fullRefusals: number;
  failovers: number;
  lagEvents: number;
  activeStreams: number;
}

/** Pool counters, all zero. */
export function zeroPoolStats(): SttPoolStats {
  return {
    reservations: 0,
    warmHits: 0,
    noServer: 0,
    connectFailures: 0,
    slowHandshakes: 0,
    authFailures: 0,
    tlsFailures: 0,
    fullRefusals: 0,
    failovers: 0,
    lagEvents: 0,
    activeStreams: 0,
  };
}
