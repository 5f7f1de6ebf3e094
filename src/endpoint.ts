/**
 * Wires the layers of the running endpoint together: storage, transcript bus and its sinks,
 * call registry, webhooks, metrics and HTTP. No protocol logic lives here.
 *
 * SIP, RTP and STT are wired in by the appliance (`appliance.ts`) and the call code (`call/`),
 * which use the parts this returns: `calls` (CallRegistry) for every call's record and state, `bus` for transcript events,
 * `metrics` for RTP/STT/registration figures, `readiness` for `/ready` checks, `recorder` for audio.
 */
import { portPairCount } from '../rtp/index.js';
import { Admission } from './call/Admission.js';
import { CallRegistry } from './call/CallRegistry.js';
import { wallClock, type Clock } from '../lib/clock.js';
import { isLoopbackHost, type Config } from './config.js';
import { maskUrl } from './logger.js';
import { registerApiRoutes } from './http/api.js';
import { Readiness, registerHealthRoutes } from './http/health.js';
import { LiveFeed } from './http/LiveFeed.js';
import { HttpProbe, sttHealthUrl } from './http/probes.js';
import { HttpServer } from './http/server.js';
import { registerStaticRoutes } from './http/static.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { channelOfPendingFile } from './call/DeferredCall.js';
import { CallRecorder, recordingPath } from './recording/CallRecorder.js';
import { listPendingRecordings, PendingBudget } from './recording/PendingRecording.js';
import { readAfterWrites } from './storage/AsyncCallStore.js';
import { openStorage } from './storage/backend.js';
import { JsonlFiles } from './storage/JsonlFiles.js';
import { Retention } from './storage/Retention.js';
import { ConsoleSink, type ConsoleSinkOptions } from './transcripts/ConsoleSink.js';
import {
  clientTlsOptions,
  describeCertificate,
  loadServerCredentials,
  type CertificateInfo,
} from './tls/credentials.js';
import { StorageSink } from './transcripts/StorageSink.js';
import { TranscriptBus } from './transcripts/TranscriptBus.js';
import { publicUrl, WebhookDispatcher, type HttpPost } from './webhooks/WebhookDispatcher.js';
import { webhookRoute } from './webhooks/Outbox.js';
import { CleanupStack } from './cleanupStack.js';

export interface Endpoint {
  readonly httpPort: number;
  /** Whether to take a request or a call (allow list, rate limit, max calls, STT capacity). */
  readonly admission: Admission;
  /** Call records and states (create on INVITE, transition as the call goes). */
  readonly calls: CallRegistry;
  /** Transcript events of answered calls (words, utterances, DTMF). */
  readonly bus: TranscriptBus;
  readonly metrics: Metrics;
  /**
   * `/ready` checks: `storage` and `stt` (a moshi-server answers /api/build_info) are built in;
   * add the SIP registrations when they exist.
   */
  readonly readiness: Readiness;
  /** Audio recording; null unless `storage.recordAudio`. */
  readonly recorder: CallRecorder | null;
  /** The disk budget of deferred calls' audio in `pending/` (`storage.pendingMaxBytes`). */
  readonly pendingBudget: PendingBudget;
  /**
   * Re-reads `http.tls` (SIGHUP): new HTTPS connections get the new certificate, open ones keep
   * theirs. Resolves with the certificate now served, null without `http.tls`.
   * @throws ConfigError when the files cannot be read or do not match (the old certificate stays).
   */
  reloadHttpCertificate(): CertificateInfo | null;
  /** The HTTP server, for routes of the parts started after the endpoint (`/api/admin/drain`). */
  readonly http: HttpServer;
  /** Stops HTTP, live clients and webhook delivery (the outbox stays on disk), closes the database. */
  stop(): Promise<void>;
}

/** Seams for tests; production uses the defaults. */
export interface EndpointDeps {
  clock?: Clock;
  /** Where the console sink writes (default process.stdout). */
  consoleOut?: ConsoleSinkOptions['out'];
  /** How webhooks are sent (default fetch). */
  post?: HttpPost;
}

export async function startEndpoint(
  config: Config,
  logger: Logger,
  deps: EndpointDeps = {},
): Promise<Endpoint> {
  const clock = deps.clock ?? wallClock;
  const dir = config.storage.dir;
  const metrics = createMetrics();
  const storage = await openStorage({
    dir,
    url: config.storage.url,
    instanceId: config.storage.instanceId,
    webhookTimeoutMs: Math.max(0, ...config.webhooks.map((w) => w.timeoutMs)),
    clock,
    logger: logger.child({ part: 'storage' }),
    onRowFailure: (n) => {
      for (let i = 0; i < n; i++) {
        metrics.busCounters.sinkFailed('storage');
      }
    },
  });
  const cleanups = new CleanupStack(logger);
  cleanups.push(() => storage.close());
  const cleanup = (): Promise<void> => cleanups.run();
  try {
    const { outbox } = storage;
    // A backlog read over the network (PostgreSQL) is the one of the previous scrape.
    let backlog: Record<string, number> = {};
    let reading = false;
    metrics.setWebhookBacklogSource(() => {
      const read = (rows: Record<string, number>): void => {
        const byLabel: Record<string, number> = {};
        for (const [url, n] of Object.entries(rows)) {
          byLabel[publicUrl(url)] = (byLabel[publicUrl(url)] ?? 0) + n;
        }
        backlog = byLabel;
      };
      const rows = outbox.backlog();
      if (!(rows instanceof Promise)) {
        read(rows);
      } else if (!reading) {
        reading = true;
        rows
          .then(read, (err: unknown) => logger.warn({ err }, 'webhook backlog unreadable'))
          .finally(() => {
            reading = false;
          });
      }
      return backlog;
    });

    const bus = new TranscriptBus({ logger, clock, counters: metrics.busCounters });
    const live = new LiveFeed({ bus, logger });
    bus.addSink(
      new ConsoleSink({
        logger,
        ...(deps.consoleOut ? { out: deps.consoleOut } : {}),
        // `log.format: "json"` asks for JSON records only: no terminal lines among them.
        ...(config.log.format === 'json' ? { tty: false } : {}),
        ...(config.log.transcripts === undefined ? {} : { transcripts: config.log.transcripts }),
      }),
    );
    const jsonl = new JsonlFiles(dir);
    const dispatcher = new WebhookDispatcher({
      outbox,
      targets: config.webhooks,
      clock,
      logger: logger.child({ part: 'webhooks' }),
      metrics,
      ...(deps.post ? { post: deps.post } : {}),
      stopGraceMs: config.shutdown.webhookGraceMs,
    });
    const storageSink = new StorageSink(storage.events, jsonl, {
      clock,
      logger: logger.child({ part: 'storage' }),
      intervalMs: config.storage.writeBatchMs,
      maxRows: config.storage.writeBatchRows,
      onFailure: (n) => {
        for (let i = 0; i < n; i++) {
          metrics.busCounters.sinkFailed('storage');
        }
      },
      // A webhook gets an event once it is stored: its outbox rows go in with the event's batch.
      ...(config.webhooks.length > 0
        ? { webhooks: { route: webhookRoute(config.webhooks), queued: () => dispatcher.notify() } }
        : {}),
    });
    // Before the live feed: an event a page has seen live is already queued for storage.
    bus.addSink(storageSink);
    bus.addSink(live);
    // With a shared database, the live feed also shows the calls of the other instances.
    const others = await storage.othersEvents?.((e) => live.handle(e));
    if (others) {
      cleanups.push(() => others.stop());
    }
    cleanups.push(
      () => dispatcher.stop(),
      () => bus.close(),
    );

    const pendingBudget = new PendingBudget(dir, config.storage.pendingMaxBytes);
    const admission = new Admission({
      allowFrom: config.sip.inbound.allowFrom,
      maxCalls: config.sip.inbound.maxCalls,
      maxCallsPerSource: config.sip.inbound.maxCallsPerSource,
      mediaPorts: portPairCount(config.rtp.portMin, config.rtp.portMax),
      rateLimit: config.sip.inbound.rateLimit,
      whenFull: config.stt.whenFull,
      pendingRoom: () => pendingBudget.hasRoom(),
      clock,
      metrics,
    });
    const { refused, instance } = storage;
    const calls = new CallRegistry({
      store: storage.rows,
      stored: storage.calls,
      ...(instance === undefined ? {} : { instance }),
      bus,
      clock,
      logger,
      metrics,
      refused,
    });
    // Calls whose deferred audio waits in pending/ are completed by the appliance from the file
    // (a recording session's or ingress call's callee channel has its own: `<callId>.callee.wav`).
    const pending = new Set(listPendingRecordings(dir).map((f) => channelOfPendingFile(f).callId));
    await calls.prepareResume(pending);
    await calls.recoverStale((id) => pending.has(id));
    // Last resort: calls the orchestration left active are ended before the bus drains.
    cleanups.push(() => calls.endAll('shutdown'));
    const recorder = config.storage.recordAudio ? new CallRecorder(dir, logger) : null;
    if (recorder) {
      cleanups.push(() => recorder.close());
    }
    const filesOf = (id: string): string[] => [jsonl.pathOf(id), recordingPath(dir, id)];
    const retention = new Retention({
      days: config.storage.retentionDays,
      store: storage.calls,
      refused,
      ...(instance === undefined ? {} : { instance }),
      filesOf,
      clock,
      logger,
    });
    retention.start();
    cleanups.push(() => retention.stop());

    const readiness = new Readiness(logger);
    readiness.add({ name: 'storage', check: () => storage.ready() });
    // At least one moshi-server answering /api/build_info (polled in the background).
    const sttTls = new Map(
      config.stt.servers.map((s, i) => [
        sttHealthUrl(s.url),
        clientTlsOptions(s.tls, `stt.servers[${i}].tls`),
      ]),
    );
    const sttProbe = new HttpProbe({
      name: 'stt',
      urls: config.stt.servers.map((s) => sttHealthUrl(s.url)),
      clock,
      logger,
      tlsFor: (url) => sttTls.get(url),
    });
    readiness.add(sttProbe);
    cleanups.push(() => sttProbe.stop());
    const httpTls = config.http.tls;
    const loadHttpCredentials = httpTls
      ? () => loadServerCredentials({ ...httpTls, where: 'http.tls' })
      : null;
    const http = new HttpServer({
      host: config.http.host,
      port: config.http.port,
      logger,
      token: config.http.token,
      allowedHosts: config.http.allowedHosts,
      tls: loadHttpCredentials?.(),
    });
    registerHealthRoutes(http, readiness, metrics);
    registerApiRoutes(http, {
      registry: calls,
      // What the API reads includes every event published before the request.
      store: readAfterWrites(storage.calls, () => storageSink.settled()),
      refused,
      recorder,
      filesOf,
      logger,
    });
    registerStaticRoutes(http);
    live.attach(http);
    const addr = await http.listen();
    cleanups.push(
      () => http.close(),
      () => live.close(),
    );
    logger.info(
      {
        http: `${http.secure ? 'https' : 'http'}://${addr.address}:${addr.port}`,
        storage: dir,
        ...(config.storage.url ? { database: maskUrl(config.storage.url), instance } : {}),
        webhooks: dispatcher.urls.length,
      },
      'http server listening',
    );
    if (!http.secure && config.http.token && !isLoopbackHost(config.http.host)) {
      logger.warn(
        { host: config.http.host },
        'http: the API, the live feed and the page are served without TLS on a non-loopback address: the token and the transcripts cross the network in clear text (set http.tls, or put a TLS proxy in front)',
      );
    }
    dispatcher.start();
    sttProbe.start();

    // First thing at shutdown: new calls get 503.
    cleanups.push(() => admission.stopAccepting());

    let stopping: Promise<void> | null = null;
    return {
      httpPort: addr.port,
      admission,
      calls,
      bus,
      metrics,
      readiness,
      recorder,
      pendingBudget,
      reloadHttpCertificate() {
        if (!loadHttpCredentials) {
          return null;
        }
        const creds = loadHttpCredentials();
        http.setCredentials(creds);
        return describeCertificate(creds.cert);
      },
      http,
      stop(): Promise<void> {
        // Order (reverse of start): refuse new calls, live clients (close frames), HTTP, STT
        // probe, recorder, calls still active (ended with reason shutdown), bus (drains the
        // sinks, closes JSONL files), webhook delivery (pending rows stay in the outbox), database.
        stopping ??= cleanup().then(() => logger.info('endpoint stopped'));
        return stopping;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
