/**
 * What the pool knows about each moshi-server and how it chooses: health and free slots from the
 * HTTP probes, failure backoff, the slots our own streams hold, and the servers found behind real
 * time (avoided for new calls for a while). No connection is opened here.
 */
import type { Clock } from '../../lib/clock.js';
import { SttError, STT_ERR } from './errors.js';
import type { Logger } from '../../lib/logger.js';
import { certificateVerifyError, clientTlsOptions, type ClientTlsOptions } from '../tls/credentials.js';
import { httpBaseOf, parseModulesInfo, type HttpGet } from './probe.js';
import type { SttPoolStats, SttServerStatus } from './poolTypes.js';
import { connectError, type SttServerConfig } from './SttConnection.js';

interface ServerBoardOptions {
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly lagCooldownMs: number;
  /**
   * A server in backoff that still may answer gets one trial connection per this period (the
   * breaker's half-open state), so a passing failure never refuses calls for the whole backoff;
   * absent: no trial before the backoff ends.
   */
  readonly trialIntervalMs?: number;
  /** Bound on the handshake plus `Ready` when handshakes are fast (the floor of the adaptive bound). */
  readonly readyTimeoutMs?: number;
  /** Ceiling of the adaptive bound (`readyTimeoutFor`). */
  readonly readyTimeoutMaxMs?: number;
}

/** Handshake times kept per server for the adaptive `Ready` bound. */
const HANDSHAKE_WINDOW = 32;
/** The `Ready` bound is this many times the slowest recent handshake (within floor and ceiling). */
const HANDSHAKE_MARGIN = 4;

export class ServerBoard {
  readonly servers: readonly SttServerConfig[];
  /** Per server, what to trust for `wss://` (its `tls`, CA file loaded); undefined for `ws://`. */
  readonly tls: readonly (ClientTlsOptions | undefined)[];
  readonly #status: SttServerStatus[];
  /** Servers whose certificate failure was logged (again only after the server worked). */
  readonly #tlsLogged = new Set<number>();
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #httpGet: HttpGet;
  readonly #o: ServerBoardOptions;
  /** The pool's counters (this board counts refusals, failures and lag events). */
  readonly #stats: SttPoolStats;
  #rr = 0;
  /** Per server: clock time before which no trial connection is made during a backoff. */
  readonly #nextTrialAt: number[];
  /** Per server: clock time of the last `Ready` (-Infinity: never). */
  readonly #readyAt: number[];
  /** Per server: the most recent handshake times (ms), newest last. */
  readonly #handshakes: number[][];

  constructor(
    servers: readonly SttServerConfig[],
    deps: { clock: Clock; logger: Logger; httpGet: HttpGet; stats: SttPoolStats },
    opts: ServerBoardOptions,
  ) {
    this.servers = servers;
    this.tls = servers.map((s, i) =>
      s.url.startsWith('wss:') ? clientTlsOptions(s.tls, `stt.servers[${i}].tls`) : undefined,
    );
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#httpGet = deps.httpGet;
    this.#stats = deps.stats;
    this.#o = opts;
    this.#status = servers.map((s) => ({
      url: s.url,
      healthy: null,
      freeSlots: null,
      totalSlots: null,
      backoffUntil: 0,
      failures: 0,
      lastError: null,
      laggingUntil: 0,
      lagEvents: 0,
      maxLagMs: 0,
      streams: 0,
      warm: 0,
    }));
    this.#nextTrialAt = servers.map(() => 0);
    this.#handshakes = servers.map(() => []);
    this.#readyAt = servers.map(() => -Infinity);
  }

  /** A snapshot of every server's status. */
  status(): SttServerStatus[] {
    return this.#status.map((s) => ({ ...s }));
  }

  /** URLs of the servers currently behind real time (gauge). */
  laggingServers(): string[] {
    const now = this.#clock.now();

    return this.#status.filter((s) => s.laggingUntil > now).map((s) => s.url);
  }

  /** Free slots over all servers, as far as known (null when no server reports slots). */
  freeSlots(): number | null {
    const known = this.#status.filter((s) => s.freeSlots !== null && s.healthy !== false);

    return known.length === 0 ? null : known.reduce((n, s) => n + Math.max(0, s.freeSlots ?? 0), 0);
  }

  /** Seconds after which a slot may be free again (next backoff expiry or probe), 1…60. */
  retryAfterS(): number {
    const now = this.#clock.now();
    const waits = this.#status.map((s) => Math.max(0, s.backoffUntil - now)).filter((w) => w > 0);
    const ms = waits.length > 0 ? Math.min(...waits) : this.#o.probeIntervalMs;

    return Math.min(60, Math.max(1, Math.ceil(ms / 1000)));
  }

  /** Index of `server` in the configuration (-1 when it is not one of ours). */
  indexOf(server: SttServerConfig): number {
    return this.servers.indexOf(server);
  }

  /** Probes every server (`/api/build_info`, then `/api/modules_info`). */
  probeAll(): Promise<void[]> {
    return Promise.all(this.servers.map((s, i) => this.#probeOne(s, i)));
  }

  async #probeOne(server: SttServerConfig, i: number): Promise<void> {
    const st = this.#at(i);
    const tls = this.tls[i];
    const base = httpBaseOf(server.url);
    const was = st.healthy;
    const alive = async (): Promise<boolean> => {
      try {
        return (await this.#httpGet(`${base}/api/build_info`, this.#o.probeTimeoutMs, tls)).status === 200;
      } catch (err) {
        if (certificateVerifyError(err) !== null) {
          this.#tlsFailed(i, connectError(server, err as Error));
        }
        return false;
      }
    };
    // A healthy server is given up only when a second probe fails too, and not while it answered
    // a handshake within the probe period: a probe lost to a burst would otherwise refuse every
    // call until the next probe while the server takes streams.
    st.healthy =
      (await alive()) ||
      (was === true && (await alive())) ||
      (was === true && this.#clock.now() - (this.#readyAt[i] ?? -Infinity) < this.#o.probeIntervalMs);
    if (was !== false && !st.healthy) {
      this.#nextTrialAt[i] = this.#clock.now() + (this.#o.trialIntervalMs ?? 0);
    }
    if (st.healthy) {
      try {
        const res = await this.#httpGet(`${base}/api/modules_info`, this.#o.probeTimeoutMs, tls);
        const slots = res.status === 200 ? parseModulesInfo(res.body, new URL(server.url).pathname) : null;
        st.freeSlots = slots ? slots.total - slots.used : null;
        st.totalSlots = slots ? slots.total : null;
      } catch {
        st.freeSlots = null;
      }
    } else {
      st.freeSlots = null;
    }
    if (was !== st.healthy) {
      const log = st.healthy ? this.#logger.info.bind(this.#logger) : this.#logger.warn.bind(this.#logger);
      log(
        { server: server.url, freeSlots: st.freeSlots },
        st.healthy ? 'stt: server healthy' : 'stt: server unhealthy',
      );
    }
  }

  /** Whether some server may take a stream now (as far as known), without choosing one. */
  anyCandidate(): boolean {
    const now = this.#clock.now();

    // Not counting trials: a call is answered only when a server is up (or holds a warm slot for
    // it), never on the chance that a trial at the ACK works; the pool makes the trials itself.
    return this.servers.some((_, i) => {
      const st = this.#at(i);
      return (this.#up(i, now) || st.warm > 0) && (st.freeSlots !== 0 || st.warm > 0);
    });
  }

  /** Server `i` is down or in backoff, answers its probe, and is due its trial connection. */
  trialDue(i: number): boolean {
    return this.#at(i).healthy !== false && this.#trialDue(i, this.#clock.now());
  }

  /**
   * Out of backoff (or due a trial), not known unhealthy, not known full (a warm connection of ours
   * is a slot the call can take).
   */
  #eligible(i: number, now: number): boolean {
    const st = this.#at(i);

    return (this.#up(i, now) || this.#trialDue(i, now)) && (st.freeSlots !== 0 || st.warm > 0);
  }

  /** Out of backoff and not known unhealthy. */
  #up(i: number, now: number): boolean {
    const st = this.#at(i);

    return st.backoffUntil <= now && st.healthy !== false;
  }

  /**
   * Server `i` is in backoff or found unhealthy for a reason a trial may clear (not a refused key
   * or certificate, and not "no free channels": a full server answers, its backoff and the probes'
   * slot counts say when to try it again, and a call is refused at the INVITE meanwhile), and no
   * trial was made this period.
   */
  #trialDue(i: number, now: number): boolean {
    const st = this.#at(i);

    return (
      this.#o.trialIntervalMs !== undefined &&
      !this.#up(i, now) &&
      st.lastError !== STT_ERR.AUTH &&
      st.lastError !== STT_ERR.TLS &&
      st.lastError !== STT_ERR.FULL &&
      this.#nextTrialAt[i] !== undefined &&
      this.#nextTrialAt[i] <= now
    );
  }

  /**
   * Whether a connection to server `i` may be attempted now: out of backoff and not known
   * unhealthy, or the period's one trial connection (taken by this call: the next trial waits `trialIntervalMs`).
   */
  beginAttempt(i: number): boolean {
    const now = this.#clock.now();
    if (this.#up(i, now)) {
      return true;
    }
    if (!this.#trialDue(i, now)) {
      return false;
    }
    this.#nextTrialAt[i] = now + (this.#o.trialIntervalMs ?? 0);
    return true;
  }

  /**
   * Whether a warm connection may be opened to server `i` now: out of backoff (no trial spent on
   * warmth), not known unhealthy, a free slot as far as known.
   */
  canWarm(i: number): boolean {
    const st = this.#at(i);

    return st.backoffUntil <= this.#clock.now() && st.healthy !== false && st.freeSlots !== 0;
  }

  /** Whether some server is in backoff or known unhealthy (the pool then probes sooner). */
  anyDown(): boolean {
    const now = this.#clock.now();

    return this.#status.some((s) => s.healthy === false || s.backoffUntil > now);
  }

  /** Server `i` answered a handshake (`Ready`) after `ms`: feeds the adaptive `Ready` bound. */
  handshake(i: number, ms: number): void {
    const h = this.#handshakes[i];
    if (h) {
      h.push(ms);
      if (h.length > HANDSHAKE_WINDOW) {
        h.shift();
      }
    }
  }

  /**
   * The bound on server `i`'s next handshake: `readyTimeoutMs`, raised to 4 × the slowest of its
   * last 32 handshakes while they are slow (a loaded machine or server), at most
   * `readyTimeoutMaxMs`. A starved handshake is waited for rather than taken for a dead server.
   */
  readyTimeoutFor(i: number): number {
    const floor = this.#o.readyTimeoutMs ?? 3000;
    const ceiling = Math.max(floor, this.#o.readyTimeoutMaxMs ?? floor);
    const recent = this.#handshakes[i] ?? [];
    const slowest = recent.length > 0 ? Math.max(...recent) : 0;

    return Math.round(Math.min(ceiling, Math.max(floor, HANDSHAKE_MARGIN * slowest)));
  }

  /**
   * Servers to try, best first: out of backoff (or due a trial, ranked after every other), not
   * known unhealthy or full; not lagging before lagging; one of our warm connections waiting before
   * none; most free slots first; servers with unknown slots in round-robin order after them.
   */
  candidates(exclude?: SttServerConfig): number[] {
    const now = this.#clock.now();
    const n = this.servers.length;
    const start = this.#rr++ % n;
    const order = Array.from({ length: n }, (_, k) => (start + k) % n);
    const ok = order.filter((i) => this.servers[i] !== exclude && this.#eligible(i, now));
    const rank = (i: number): [number, number] => {
      const st = this.#at(i);
      // Down or in backoff (a trial) after everything else, then with a warm connection first, then
      // lagging last, then most free slots.
      const tier = (this.#up(i, now) ? 0 : 4) + (st.laggingUntil > now ? 2 : 0) + (st.warm > 0 ? 0 : 1);

      return [tier, st.freeSlots === null ? -0.5 : -st.freeSlots];
    };

    return ok.sort((a, b) => {
      const ra = rank(a);
      const rb = rank(b);

      return ra[0] - rb[0] || ra[1] - rb[1];
    });
  }

  /**
   * Connecting to server `i` failed (or its stream was lost): backoff, counted by cause. A server
   * that took the connection and the upgrade but sent no `Ready` in time is alive and slow (a
   * burst of calls, a loaded machine), not dead: it is ranked last like a lagging one, with no
   * backoff, so a burst never turns into a blackout of every call.
   */
  failed(i: number, err: unknown): void {
    const st = this.#at(i);
    const code = err instanceof SttError ? err.code : STT_ERR.CONNECT;
    st.lastError = code;
    if (code === STT_ERR.READY_TIMEOUT) {
      this.#stats.slowHandshakes++;
      this.#slow(st, 'stt: no Ready in time; server ranked last for new calls');
      return;
    }
    st.failures++;
    const now = this.#clock.now();
    let wait = Math.min(this.#o.backoffMaxMs, this.#o.backoffInitialMs * 2 ** (st.failures - 1));
    if (code === STT_ERR.FULL) {
      this.#stats.fullRefusals++;
      // Full now; the backoff (not a stale slot count) decides when to try again.
      st.freeSlots = null;
    } else if (code === STT_ERR.AUTH) {
      this.#stats.authFailures++;
      wait = this.#o.backoffMaxMs;
      this.#logger.error(
        { server: st.url, code },
        'stt: configuration error: the server refuses the API key (401); fix stt.servers[].apiKey',
      );
    } else if (code === STT_ERR.TLS) {
      this.#tlsFailed(i, err as SttError);
    } else {
      this.#stats.connectFailures++;
    }
    st.backoffUntil = now + wait;
    this.#nextTrialAt[i] = now + (this.#o.trialIntervalMs ?? 0);
    this.#logger.warn({ server: st.url, code, retryInMs: wait }, 'stt: server skipped');
  }

  /**
   * Server `i`'s certificate failed verification (a probe or a connection): counted, logged as an
   * error naming the server once (again only after it worked in between). The caller treats the
   * server as failing: a probe marks it unhealthy, a connection backs it off.
   */
  #tlsFailed(i: number, err: SttError): void {
    this.#stats.tlsFailures++;
    this.#at(i).lastError = STT_ERR.TLS;
    if (!this.#tlsLogged.has(i)) {
      this.#tlsLogged.add(i);
      this.#logger.error({ server: this.#at(i).url, code: STT_ERR.TLS }, `stt: ${err.message}`);
    }
  }

  /** Server `i` took a connection (`Ready`): healthy, out of backoff, one known slot fewer. */
  succeeded(i: number): void {
    this.#tlsLogged.delete(i);
    const st = this.#at(i);
    this.#readyAt[i] = this.#clock.now();
    st.failures = 0;
    st.backoffUntil = 0;
    st.lastError = null;
    st.healthy = true;
    if (st.freeSlots !== null) {
      st.freeSlots = Math.max(0, st.freeSlots - 1);
    }
  }

  /** One of our reservations or streams now holds a slot on server `i`. */
  taken(i: number): void {
    this.#at(i).streams++;
  }

  /** A warm connection (opened ahead of need) was added to server `i`'s set (+1) or left it (-1). */
  warmChanged(i: number, delta: 1 | -1): void {
    const st = this.#at(i);
    st.warm = Math.max(0, st.warm + delta);
  }

  /** A slot we held on server `i` without a stream (a warm connection) is free again. */
  unused(i: number): void {
    const st = this.#status[i];
    if (st && st.freeSlots !== null) {
      st.freeSlots = Math.min(st.totalSlots ?? Infinity, st.freeSlots + 1);
    }
  }

  /** A slot we held on server `i` is free again (the known count was lowered when we took it). */
  returned(i: number): void {
    const st = this.#status[i];
    if (st) {
      st.streams = Math.max(0, st.streams - 1);
      if (st.freeSlots !== null) {
        st.freeSlots = Math.min(st.totalSlots ?? Infinity, st.freeSlots + 1);
      }
    }
  }

  /** A stream found `server` behind real time: ranked last for new calls for `lagCooldownMs`. */
  reportLag(server: SttServerConfig, lagMs: number): void {
    const st = this.#status[this.servers.indexOf(server)];
    if (!st) {
      return;
    }
    if (st.laggingUntil <= this.#clock.now()) {
      st.lagEvents++;
      this.#stats.lagEvents++;
    }
    this.#slow(st, 'stt: server behind real time; avoided for new calls', lagMs);
    st.maxLagMs = Math.max(st.maxLagMs, Math.round(lagMs));
  }

  /** Ranks a slow server last for new calls for `lagCooldownMs` (logged once per cooldown). */
  #slow(st: SttServerStatus, msg: string, lagMs?: number): void {
    const now = this.#clock.now();
    if (st.laggingUntil <= now) {
      this.#logger.warn(
        { server: st.url, ...(lagMs !== undefined ? { lagMs: Math.round(lagMs) } : {}) },
        msg,
      );
    }
    st.laggingUntil = now + this.#o.lagCooldownMs;
  }

  #at(i: number): SttServerStatus {
    return this.#status[i] as SttServerStatus;
  }
}
