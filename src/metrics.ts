/**
 * Every Prometheus metric of the process, in one registry (served at `GET /metrics`). The call
 * wiring updates them through the fields of `Metrics`; nothing else registers metrics.
 *
 * Names follow Prometheus conventions: `sipscribe_` prefix, `_total` counters, base units
 * (seconds).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BusCounters } from './transcripts/TranscriptBus.js';

export interface Metrics {
  readonly registry: Registry;
  /** Calls not yet over (offered … ending). Maintained by CallRegistry. */
  readonly callsActive: Gauge;
  /** Finished calls by outcome: an end reason (`bye-remote`, …), `rejected` or `cancelled`. Maintained by CallRegistry. */
  readonly callsTotal: Counter<'outcome'>;
  /** RTP packets received (all calls). */
  readonly rtpPackets: Counter;
  /** RTP packets lost (sequence gaps never filled). */
  readonly rtpPacketsLost: Counter;
  /**
   * RTP datagrams dropped, by reason: `malformed:<code>`, `rejected-source`, `unknown-payload-type`,
   * `invalid-sequence`, `late`, `duplicated`, `srtp-auth` (SRTP/SRTCP failing authentication), `srtp-replay`.
   */
  readonly rtpDropped: Counter<'reason'>;
  /** RFC 3550 interarrival jitter per call, observed when a call ends (seconds). */
  readonly rtpJitter: Histogram;
  /** Time from audio sent to the STT to the word that covers it coming back (seconds). */
  readonly sttLatency: Histogram;
  /** STT WebSocket reconnects/failovers by server URL. */
  readonly sttReconnects: Counter<'server'>;
  /** STT streams open by server URL. */
  readonly sttStreams: Gauge<'server'>;
  /** 1 when the account is registered, 0 otherwise. */
  readonly registrationUp: Gauge<'account'>;
  /** Webhook events waiting in the outbox, by URL (read from the database at scrape time). */
  readonly webhookBacklog: Gauge<'url'>;
  /** Webhook delivery attempts by URL and result (`ok`, `error`, `dead`). */
  readonly webhookDeliveries: Counter<'url' | 'result'>;
  /** Requests and calls refused by admission, by reason (`rate-limited`, `not-allowed`, `max-calls`, `stt-full`, `pending-full`, `shutting-down`, …). */
  readonly admissionRefused: Counter<'reason'>;
  /** Audio streams taken by the ingress adapters, by source (`twilio`, `freeswitch`, `audiosocket`, `rtp`). */
  readonly ingressStreams: Counter<'source'>;
  /** Ingress streams in progress, by source. */
  readonly ingressActive: Gauge<'source'>;
  /** Ingress connections refused or cut, by source and reason (`auth`, `limit`, `malformed`, …). */
  readonly ingressRefused: Counter<'source' | 'reason'>;
  /** Bugs caught by the process safety net, by kind (`unhandled-rejection`, `uncaught-exception`). */
  readonly internalErrors: Counter<'kind'>;
  /** Certificate reloads (SIGHUP) by result (`ok`, `failed`: the previous certificate stays). */
  readonly tlsReloads: Counter<'result'>;
  /** Transcript sink failures and drops by sink. */
  readonly sinkFailures: Counter<'sink'>;
  readonly sinkDropped: Counter<'sink'>;
  /**
   * Sets where `sipscribe_sip_events_total{event}` reads from at scrape time: the SIP stack's
   * counters (messages, bad input dropped or rejected, retransmissions, timeouts, …).
   */
  setSipCountersSource(source: () => Readonly<Record<string, number>>): void;
  /**
   * Sets where `sipscribe_stt_events_total{event}` reads from at scrape time: the STT pool's
   * counters (`tls_failures`: a server's certificate failed verification, `auth_failures`, …).
   */
  setSttCountersSource(source: () => Readonly<Record<string, number>>): void;
  /**
   * Sets where the `sipscribe_media_thread_*` metrics read from at scrape time (`rtp.threads`): per
   * media thread, its share of busy time since the last scrape, the sessions on it, its JS heap and
   * the STT connections on it; and the threads that died.
   */
  setMediaThreadsSource(source: MediaThreadsSource): void;
  /** Sets where the webhook backlog gauge reads from (the outbox). */
  setWebhookBacklogSource(source: () => Record<string, number>): void;
  /** The bus's counters, reported into `sinkFailures`/`sinkDropped`. */
  readonly busCounters: BusCounters;
}

/** What the media-thread metrics read at scrape time (`MediaThreads` offers it). */
interface MediaThreadsSource {
  /** Per thread, its share of busy time since the last call. */
  busy(): readonly number[];
  /** Per thread, its sessions. */
  sessions(): readonly number[];
  /** Per thread, its JS heap in use (bytes). */
  heapUsed(): readonly number[];
  /** Per thread, the STT connections whose sockets are on it. */
  sttConnections(): readonly number[];
  deaths(): number;
}

interface MetricsOptions {
  /** Also export Node process metrics (CPU, memory, event loop, handles); default true. */
  processMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'sipscribe_' });
  }
  let backlogSource: () => Record<string, number> = () => ({});
  let sipSource: () => Readonly<Record<string, number>> = () => ({});
  let sttSource: () => Readonly<Record<string, number>> = () => ({});
  let mediaSource: MediaThreadsSource = {
    busy: () => [],
    sessions: () => [],
    heapUsed: () => [],
    sttConnections: () => [],
    deaths: () => 0,
  };
  const perThread = (name: string, help: string, values: () => readonly number[]): void => {
    new Gauge({
      name,
      help,
      labelNames: ['thread'] as const,
      registers: [registry],
      collect(): void {
        this.reset();
        values().forEach((v, i) => this.set({ thread: String(i) }, v));
      },
    });
  };
  perThread(
    'sipscribe_media_thread_busy_ratio',
    'Share of the time since the last scrape each media thread (rtp.threads) was busy',
    () => mediaSource.busy(),
  );
  perThread('sipscribe_media_thread_sessions', 'RTP sessions on each media thread', () =>
    mediaSource.sessions(),
  );
  perThread(
    'sipscribe_media_thread_heap_used_bytes',
    "Each media thread's JS heap in use, as of its last report (once a second)",
    () => mediaSource.heapUsed(),
  );
  perThread(
    'sipscribe_media_thread_stt_connections',
    'STT connections (warm, reserved or streaming) whose socket is on each media thread',
    () => mediaSource.sttConnections(),
  );
  new Counter({
    name: 'sipscribe_media_thread_deaths_total',
    help: 'Media threads that died (their calls ended; another took their place)',
    registers: [registry],
    collect(): void {
      this.reset();
      this.inc(mediaSource.deaths());
    },
  });
  /** A counter read at scrape time from a record of counters; camelCase names become snake_case labels. */
  const eventCounter = (name: string, help: string, source: () => Readonly<Record<string, number>>): void => {
    new Counter({
      name,
      help,
      labelNames: ['event'] as const,
      registers: [registry],
      collect(): void {
        this.reset();
        for (const [key, n] of Object.entries(source())) {
          this.inc({ event: key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) }, n);
        }
      },
    });
  };
  eventCounter(
    'sipscribe_sip_events_total',
    'SIP stack counters by event: messages, malformed input dropped or rejected, retransmissions, timeouts, transport errors',
    () => sipSource(),
  );
  eventCounter(
    'sipscribe_stt_events_total',
    'STT pool counters by event: reservations, no server, connect, auth and TLS failures, full refusals, slow handshakes, failovers, lag events',
    () => sttSource(),
  );
  const sinkFailures = new Counter({
    name: 'sipscribe_sink_failures_total',
    help: 'Transcript sink failures by sink',
    labelNames: ['sink'] as const,
    registers: [registry],
  });
  const sinkDropped = new Counter({
    name: 'sipscribe_sink_dropped_total',
    help: 'Events dropped for a transcript sink whose queue was full, by sink',
    labelNames: ['sink'] as const,
    registers: [registry],
  });
  return {
    registry,
    callsActive: new Gauge({
      name: 'sipscribe_calls_active',
      help: 'Calls in progress (offered to ending)',
      registers: [registry],
    }),
    callsTotal: new Counter({
      name: 'sipscribe_calls_total',
      help: 'Finished calls by outcome (end reason, rejected or cancelled)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    rtpPackets: new Counter({
      name: 'sipscribe_rtp_packets_received_total',
      help: 'RTP packets received',
      registers: [registry],
    }),
    rtpPacketsLost: new Counter({
      name: 'sipscribe_rtp_packets_lost_total',
      help: 'RTP packets lost',
      registers: [registry],
    }),
    rtpDropped: new Counter({
      name: 'sipscribe_rtp_dropped_total',
      help: 'RTP datagrams dropped by reason (malformed:<code>, rejected-source, unknown-payload-type, invalid-sequence, late, duplicated, srtp-auth, srtp-replay)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rtpJitter: new Histogram({
      name: 'sipscribe_rtp_jitter_seconds',
      help: 'RFC 3550 interarrival jitter per call, observed at call end',
      buckets: [0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32],
      registers: [registry],
    }),
    sttLatency: new Histogram({
      name: 'sipscribe_stt_latency_seconds',
      help: 'Audio sent to the STT until its word came back',
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 10],
      registers: [registry],
    }),
    sttReconnects: new Counter({
      name: 'sipscribe_stt_reconnects_total',
      help: 'STT WebSocket reconnects and failovers by server',
      labelNames: ['server'] as const,
      registers: [registry],
    }),
    sttStreams: new Gauge({
      name: 'sipscribe_stt_streams',
      help: 'STT streams open by server',
      labelNames: ['server'] as const,
      registers: [registry],
    }),
    tlsReloads: new Counter({
      name: 'sipscribe_tls_reloads_total',
      help: 'Certificate reloads (SIGHUP) of the SIP TLS listeners and HTTPS, by result (ok, failed)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    registrationUp: new Gauge({
      name: 'sipscribe_registration_up',
      help: '1 when the SIP account is registered, 0 otherwise',
      labelNames: ['account'] as const,
      registers: [registry],
    }),
    webhookBacklog: new Gauge({
      name: 'sipscribe_webhook_backlog',
      help: 'Webhook events waiting in the outbox by URL',
      labelNames: ['url'] as const,
      registers: [registry],
      collect(): void {
        this.reset();
        for (const [url, n] of Object.entries(backlogSource())) {
          this.set({ url }, n);
        }
      },
    }),
    webhookDeliveries: new Counter({
      name: 'sipscribe_webhook_deliveries_total',
      help: 'Webhook delivery attempts by URL and result (ok, error, dead)',
      labelNames: ['url', 'result'] as const,
      registers: [registry],
    }),
    ingressStreams: new Counter({
      name: 'sipscribe_ingress_streams_total',
      help: 'Audio streams taken by the ingress adapters, by source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    ingressActive: new Gauge({
      name: 'sipscribe_ingress_streams',
      help: 'Ingress audio streams in progress, by source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    ingressRefused: new Counter({
      name: 'sipscribe_ingress_refused_total',
      help: 'Ingress connections refused or cut, by source and reason',
      labelNames: ['source', 'reason'] as const,
      registers: [registry],
    }),
    admissionRefused: new Counter({
      name: 'sipscribe_admission_refused_total',
      help: 'Requests and calls refused by admission, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    internalErrors: new Counter({
      name: 'sipscribe_internal_errors_total',
      help: 'Bugs caught by the process safety net (unhandled rejection, uncaught exception)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    sinkFailures,
    sinkDropped,
    setSipCountersSource(source): void {
      sipSource = source;
    },
    setSttCountersSource(source): void {
      sttSource = source;
    },
    setMediaThreadsSource(source): void {
      mediaSource = source;
    },
    setWebhookBacklogSource(source): void {
      backlogSource = source;
    },
    busCounters: {
      sinkFailed: (sink) => sinkFailures.inc({ sink }),
      sinkDropped: (sink) => sinkDropped.inc({ sink }),
    },
  };
}
