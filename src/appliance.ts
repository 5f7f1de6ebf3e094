/**
 * The running product: the endpoint's parts (storage, bus, sinks, HTTP, metrics; `endpoint.ts`)
 * plus SIP (listeners, registrations), the STT pool and the call manager, and the graceful
 * shutdown that ends every call through its transcript.
 *
 * Shutdown order: new calls (and OPTIONS probes) get 503, new ingress streams are refused → drain:
 * the calls and ingress streams in progress may end by themselves for up to `shutdown.drainTimeoutMs` → the calls left end through the STT flush (up
 * to a deadline) → unregister → SIP stack stops → STT pool stops → endpoint stops (bus drained to
 * the database, JSONL and the webhook outbox on disk; HTTP closed). `drain()` (`POST
 * /api/admin/drain`) is the first step alone: the process goes on without taking calls.
 */
import { systemClock } from '../lib/clock.js';
import {
  createStackRegistrationTransport,
  RegistrationManager,
  SipStack,
  type InviteSummary,
  type ListenEntry,
  type RegistrationAccount,
} from '../sip/index.js';
import { availableParallelism } from 'node:os';
import { MediaThreads, SRTP_SUITES, type SocketFactory } from '../rtp/index.js';
import { CallManager } from './call/CallManager.js';
import { startIngress, type Ingress } from './ingress/index.js';
import { PendingTranscriptions } from './call/PendingTranscriptions.js';
import { srtpPolicyFor } from './call/srtpPolicy.js';
import type { Config } from './config.js';
import { AppError } from './errors.js';
import { startEndpoint, type Endpoint, type EndpointDeps } from './endpoint.js';
import { registerAdminRoutes, type DrainStatus } from './http/admin.js';
import { maskUrl, type Logger } from './logger.js';
import { SttLinkThreads, SttPool } from './stt/index.js';
import { describeCertificate, loadServerCredentials, type CertificateInfo } from './tls/credentials.js';
import { ensureSelfSignedCertificate } from './tls/selfSigned.js';
import { CleanupStack } from './cleanupStack.js';

interface ApplianceDeps extends EndpointDeps {
  socketFactory?: SocketFactory;
}

export interface Appliance {
  readonly endpoint: Endpoint;
  readonly stack: SipStack;
  readonly manager: CallManager;
  /** Twilio, FreeSWITCH, AudioSocket and externalMedia RTP streams (`ingress`). */
  readonly ingress: Ingress;
  readonly pool: SttPool;
  readonly registrations: RegistrationManager;
  /** Deferred transcriptions left by the previous run, completed in the background. */
  readonly pending: PendingTranscriptions;
  /** Bound SIP listeners (actual ports when 0 was configured). */
  sipListening(): { transport: string; address: string; port: number }[];
  /**
   * Re-reads the certificates of the SIP TLS listeners and of HTTPS (what SIGHUP does): new
   * connections get the new ones; open connections, calls and live-feed clients keep theirs. A
   * file that cannot be read or does not match its key leaves that server's certificate as it was.
   * Logged, and counted in `sipscribe_tls_reloads_total{result}`.
   * @returns what each server now serves, and the errors (empty when all went well).
   */
  reloadCertificates(): CertificateReload;
  /** Stops taking calls (INVITE and OPTIONS get 503); the calls in progress go on. Idempotent. */
  drain(): DrainStatus;
  drainStatus(): DrainStatus;
  /**
   * Graceful shutdown: drain for up to `shutdown.drainTimeoutMs`, then end the calls left;
   * `deadlineMs` bounds the wait for their transcripts. Called again while draining, it ends the
   * drain at once (a second SIGTERM) and returns the same promise.
   */
  stop(deadlineMs?: number): Promise<void>;
}

/** The outcome of {@link Appliance.reloadCertificates}. */
interface CertificateReload {
  /** Per server reloaded (`sip.listen[1]`, `http.tls`): the certificate it now serves. */
  readonly reloaded: ({ where: string } & CertificateInfo)[];
  /** Per server whose reload failed: why (the previous certificate stays). */
  readonly failed: { where: string; error: string }[];
}

/** The id of account `i` (also its `account` label in metrics and call metadata). */
export function accountId(a: Config['sip']['accounts'][number]): string {
  // Without the userinfo a registrar URI may carry (sip:user:password@host).
  const host =
    a.registrar
      .replace(/^sips?:/i, '')
      .replace(/^[^@;?>]*@/, '')
      .split(/[;?>]/)[0] ?? a.registrar;
  return `${a.username}@${host}`;
}

function userOf(uri: string): string | null {
  const m = /^sips?:([^@;>]+)@/i.exec(uri.replace(/^<|>$/g, ''));
  return m?.[1] ? decodeURIComponent(m[1]) : null;
}

/** TLS listeners without files get the self-signed certificate kept in storage.dir. */
export function listenEntries(config: Config, logger: Logger): ListenEntry[] {
  return config.sip.listen.map((l) => {
    if (l.transport !== 'tls' || (l.certFile && l.keyFile)) {
      return { ...l };
    }
    const files = ensureSelfSignedCertificate(config.storage.dir);
    logger.info(
      { certFile: files.certFile, created: files.created },
      'TLS listener uses a self-signed certificate',
    );
    return { ...l, certFile: files.certFile, keyFile: files.keyFile };
  });
}

/** The certificate and key of a TLS listen entry (`i`: its index in sip.listen), read and checked. */
function listenerCredentials(entry: ListenEntry, i: number): { cert: Buffer; key: Buffer } {
  return loadServerCredentials({
    certFile: entry.certFile ?? '',
    keyFile: entry.keyFile ?? '',
    where: `sip.listen[${i}]`,
  });
}

/** `rtp.threads`: `auto` is one media thread per core beyond the first. */
function mediaThreadCount(threads: Config['rtp']['threads']): number {
  return threads === 'auto' ? availableParallelism() - 1 : threads;
}

export async function startAppliance(
  config: Config,
  logger: Logger,
  deps: ApplianceDeps = {},
): Promise<Appliance> {
  const clock = systemClock;
  const endpoint = await startEndpoint(config, logger, deps);
  const cleanups = new CleanupStack(logger);
  cleanups.push(() => endpoint.stop());
  const undo = (): Promise<void> => cleanups.run();
  try {
    const threads = mediaThreadCount(config.rtp.threads);
    const sttLog = logger.child({ part: 'stt' });
    // A test's in-memory sockets live on this thread: its sessions stay here too. The STT
    // connections' sockets go on the media threads with the media (encoding, framing, I/O).
    const links = threads > 0 && !deps.socketFactory ? new SttLinkThreads(sttLog) : undefined;
    const mediaThreads = links
      ? new MediaThreads({
          threads,
          extension: links.extension,
          logger: logger.child({ part: 'media' }),
          logLevel:
            config.log.level === 'trace'
              ? 'debug'
              : config.log.level === 'fatal'
                ? 'error'
                : config.log.level,
        })
      : undefined;
    logger.info(
      { threads: mediaThreads ? threads : 0 },
      mediaThreads ? 'media on worker threads' : 'media on the main thread',
    );
    if (mediaThreads && links) {
      cleanups.push(() => mediaThreads.stop());
      endpoint.metrics.setMediaThreadsSource({
        busy: () => mediaThreads.busy(),
        sessions: () => mediaThreads.sessions(),
        heapUsed: () => mediaThreads.heapUsed(),
        deaths: () => mediaThreads.deaths(),
        sttConnections: () => links.connections(),
      });
    }
    const pool = new SttPool({
      servers: config.stt.servers,
      whenFull: config.stt.whenFull,
      modelDelayMs: config.stt.modelDelayMs,
      warm: config.stt.warm,
      turns: { maxWords: config.stt.utterance.maxWords, maxMs: config.stt.utterance.maxSeconds * 1000 },
      logger: sttLog,
      ...(links ? { connect: links.connect } : {}),
      clock,
    });
    await pool.start();
    cleanups.push(() => pool.stop());
    endpoint.metrics.setSttCountersSource(() => {
      const { activeStreams: _gauge, ...counters } = pool.stats;
      return counters;
    });

    const accounts = config.sip.accounts.map((a) => ({ id: accountId(a), config: a }));
    const accountOf = (call: InviteSummary): (typeof accounts)[number] | undefined => {
      const user = userOf(call.request.uri) ?? userOf(call.to);
      return accounts.find((a) => a.config.username === user);
    };
    const manager = new CallManager({
      config,
      calls: endpoint.calls,
      bus: endpoint.bus,
      metrics: endpoint.metrics,
      recorder: endpoint.recorder,
      pendingBudget: endpoint.pendingBudget,
      pool,
      clock,
      wallClock: () => Date.now(),
      admission: endpoint.admission,
      logger: logger.child({ part: 'calls' }),
      ...(deps.socketFactory ? { socketFactory: deps.socketFactory } : {}),
      ...(mediaThreads ? { mediaThreads } : {}),
      accountFor: (call: InviteSummary) => accountOf(call)?.id ?? null,
    });
    const ingress = await startIngress({
      config,
      calls: endpoint.calls,
      bus: endpoint.bus,
      metrics: endpoint.metrics,
      pool,
      clock,
      wallClock: () => Date.now(),
      pendingBudget: endpoint.pendingBudget,
      http: endpoint.http,
      admission: endpoint.admission,
      logger,
    });
    cleanups.push(() => ingress.close());
    const stack = new SipStack(
      {
        listen: listenEntries(config, logger).map((e, i) =>
          e.transport === 'tls' ? { ...e, credentials: listenerCredentials(e, i) } : e,
        ),
        clock: systemClock,
        logger: logger.child({ part: 'sip' }),
        timers: config.sip.timers,
        userAgent: config.sip.userAgent,
        tls: {
          ...(config.sip.tls.caFile ? { caFile: config.sip.tls.caFile } : {}),
          verify: config.sip.tls.verify,
        },
        codecs: config.rtp.codecs,
        srtpSuites: SRTP_SUITES,
        sessionTimer: { minSE: config.sip.sessionTimer.minSE },
        siprec: config.sip.siprec.enabled,
      },
      {
        screen: (req, source) => manager.screen(req, source),
        onInvite: (call) => manager.onInvite(call),
        onRefused: (call, status, reason) => manager.onRefused(call, status, reason),
        srtpPolicy: (call) => srtpPolicyFor(config, call, accountOf(call)?.config),
      },
    );
    endpoint.metrics.setSipCountersSource(() => ({ ...stack.counters }));
    try {
      await stack.start();
    } catch (err) {
      await stack.stop().catch(() => undefined);
      const where = config.sip.listen.map((l) => `${l.transport} ${l.host}:${l.port}`).join(', ');
      throw new AppError('SIP_ERR_LISTEN', `SIP cannot listen on ${where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    cleanups.push(() => stack.stop());

    const metrics = endpoint.metrics;
    const registrations = new RegistrationManager(
      createStackRegistrationTransport(stack.transactions),
      { clock: systemClock, logger: logger.child({ part: 'registration' }), userAgent: config.sip.userAgent },
      {
        onStateChange: (status, previous) => {
          metrics.registrationUp.set({ account: status.accountId }, status.state === 'registered' ? 1 : 0);
          const line = {
            account: status.accountId,
            from: previous,
            to: status.state,
            ...(status.lastStatus !== undefined ? { lastStatus: status.lastStatus } : {}),
            ...(status.lastError !== undefined ? { lastError: status.lastError } : {}),
          };
          if (status.state === 'failed') {
            logger.warn(line, 'registration failed');
          } else {
            logger.info(line, 'registration state');
          }
        },
      },
    );
    for (const a of accounts) {
      const c = a.config;
      const account: RegistrationAccount = {
        id: a.id,
        registrar: c.registrar,
        username: c.username,
        password: c.password,
        expires: c.expires,
        ...(c.authUsername !== undefined ? { authUsername: c.authUsername } : {}),
        ...(c.realm !== undefined ? { realm: c.realm } : {}),
        ...(c.outboundProxy !== undefined ? { outboundProxy: c.outboundProxy } : {}),
        ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
      };
      registrations.add(account);
      metrics.registrationUp.set({ account: a.id }, 0);
    }
    registrations.startAll();
    cleanups.push(() => registrations.stopAll());
    if (accounts.length > 0) {
      endpoint.readiness.add({
        name: 'registrations',
        check: () =>
          registrations.statuses().every((s) => s.state === 'registered' || s.state === 'refreshing'),
      });
    }
    // Deferred calls the last run could not transcribe before it stopped.
    const pending = new PendingTranscriptions({
      storageDir: config.storage.dir,
      budget: endpoint.pendingBudget,
      calls: endpoint.calls,
      bus: endpoint.bus,
      pool,
      metrics,
      clock,
      logger: logger.child({ part: 'calls' }),
    });
    pending.start();
    cleanups.push(() => pending.stop());
    logger.info(
      {
        sip: stack.listening(),
        accounts: accounts.map((a) => a.id),
        stt: config.stt.servers.map((s) => maskUrl(s.url)),
      },
      'sipscribe started',
    );

    const reloadCertificates = (): CertificateReload => {
      const result: CertificateReload = { reloaded: [], failed: [] };
      const attempt = (where: string, apply: () => CertificateInfo | null): void => {
        try {
          const info = apply();
          if (info) {
            result.reloaded.push({ where, ...info });
          }
        } catch (err) {
          result.failed.push({ where, error: (err as Error).message });
        }
      };
      // Self-signed listeners use the files in storage.dir (renewed there when close to expiry).
      config.sip.listen.forEach((l, i) => {
        if (l.transport === 'tls') {
          attempt(`sip.listen[${i}]`, () => {
            const [e = l] = listenEntries({ ...config, sip: { ...config.sip, listen: [l] } }, logger);
            const creds = listenerCredentials(e, i);
            stack.transport.setTlsCredentials(i, creds);
            return describeCertificate(creds.cert);
          });
        }
      });
      attempt('http.tls', () => endpoint.reloadHttpCertificate());
      for (const r of result.reloaded) {
        logger.info(r, 'tls certificate reloaded: new connections get it');
      }
      for (const f of result.failed) {
        logger.error(f, 'tls certificate reload failed: the previous certificate stays in use');
      }
      endpoint.metrics.tlsReloads.inc({ result: result.failed.length === 0 ? 'ok' : 'failed' });
      return result;
    };

    let stopping: Promise<void> | null = null;
    let cutDrain: () => void = () => undefined;
    const drainCut = new Promise<void>((r) => (cutDrain = r));
    // Ingress streams are calls too: the drain waits for them as for SIP calls.
    const inProgress = (): number => manager.size + ingress.calls.size;
    const drainStatus = (): DrainStatus => ({ draining: endpoint.admission.draining, calls: inProgress() });
    const drain = (): DrainStatus => {
      if (!endpoint.admission.draining) {
        endpoint.admission.stopAccepting();
        logger.info(
          { calls: manager.size, streams: ingress.calls.size },
          'draining: new calls and OPTIONS get 503, new ingress streams are refused',
        );
      }
      return drainStatus();
    };
    const app: Appliance = {
      endpoint,
      stack,
      manager,
      ingress,
      pool,
      registrations,
      pending,
      sipListening: () => stack.listening(),
      reloadCertificates,
      drain,
      drainStatus,
      stop(deadlineMs = 15_000): Promise<void> {
        if (stopping) {
          cutDrain();
          return stopping;
        }
        stopping = (async () => {
          drain();
          await Promise.all([
            manager.drained(config.shutdown.drainTimeoutMs, drainCut),
            ingress.calls.drained(config.shutdown.drainTimeoutMs, drainCut),
          ]);
          await Promise.all([manager.shutdown(deadlineMs), ingress.calls.shutdown(deadlineMs)]);
          await undo();
        })();
        return stopping;
      },
    };
    registerAdminRoutes(endpoint.http, app);
    return app;
  } catch (err) {
    await undo();
    throw err;
  }
}
