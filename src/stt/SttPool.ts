/**
 * A pool of moshi-server instances: health and free slots by HTTP probe, choice by free slots
 * (round robin when slots are unknown), backoff for servers that refuse, fail or are full,
 * avoidance of servers that fall behind real time, reservations for call admission, and new
 * connections for a stream's failover.
 *
 * moshi-server has no reservation protocol: a slot is taken by opening the WebSocket. So
 * `reserve()` opens the stream and waits for `Ready`; the reservation holds that slot until
 * `open()` binds it to a call (or `release()`/expiry frees it).
 */
import { systemClock, type Clock, type TimerHandle } from '../../rtp/index.js';
import { SttError, STT_ERR } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { httpBaseOf, nodeHttpGet, parseModulesInfo, type HttpGet } from './probe.js';
import { SttConnection, type SttServerConfig } from './SttConnection.js';
import {
  SttStream,
  type SttLink,
  type SttStreamDelegate,
  type SttStreamHost,
  type SttStreamOptions,
  type SttStreamSettings,
} from './SttStream.js';

import type { SttPoolOptions, SttPoolStats, SttServerStatus } from './poolTypes.js';
export type { SttBackoff, SttPoolOptions, SttPoolStats, SttServerStatus } from './poolTypes.js';

/** The admission decision for a new call. */
export type SttAdmission =
  | { readonly decision: 'stream'; readonly reservation: SttReservation }
  | { readonly decision: 'reject'; readonly retryAfterS: number }
  | { readonly decision: 'defer' };

/** A slot held on one server, waiting for `SttPool.open()`. */
/** The connection behind each unused reservation (module-private: only the pool may take it). */
const held = new WeakMap<SttReservation, SttConnection>();

export class SttReservation {
  readonly server: string;
  readonly #onRelease: (r: SttReservation) => void;

  /** @internal Made by `SttPool.reserve()`. */
  constructor(conn: SttConnection, onRelease: (r: SttReservation) => void) {
    this.server = conn.server.url;
    held.set(this, conn);
    this.#onRelease = onRelease;
  }

  /** Still holding its slot (not released, expired or opened). */
  get active(): boolean {
    return held.has(this);
  }

  /** Frees the slot without streaming (call rejected, cancelled before answer). Idempotent. */
  release(): void {
    const conn = held.get(this);
    if (conn) {
      held.delete(this);
      conn.close();
      this.#onRelease(this);
    }
  }
}

export class SttPool implements SttStreamHost {
  readonly #servers: readonly SttServerConfig[];
  readonly #status: SttServerStatus[];
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #logger: Logger;
  readonly #httpGet: HttpGet;
  readonly #o: {
    modelDelayMs: number;
    whenFull: 'reject' | 'defer';
    readyTimeoutMs: number;
    probeIntervalMs: number;
    probeTimeoutMs: number;
    backoffInitialMs: number;
    backoffMaxMs: number;
    reservationTtlMs: number;
    lagCooldownMs: number;
    stream: Omit<SttStreamSettings, 'modelDelayMs'>;
  };
  readonly stats: SttPoolStats = {
    reservations: 0,
    noServer: 0,
    connectFailures: 0,
    authFailures: 0,
    fullRefusals: 0,
    failovers: 0,
    lagEvents: 0,
    activeStreams: 0,
  };
  readonly #streams = new Set<SttStream>();
  readonly #expiry = new Map<SttReservation, TimerHandle>();
  #rr = 0;
  #probeTimer: TimerHandle | undefined;
  #running = false;
  /** Set by `stop()`: no new connection is opened any more, one completing late is closed. */
  #stopped = false;
  /** Every connection the pool opened that is not closed yet (reserved, streaming or closing). */
  readonly #conns = new Set<SttConnection>();
  /** Connection attempts and probes in flight (a stop waits for them; each is bounded). */
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(opts: SttPoolOptions) {
    if (opts.servers.length === 0) {
      throw new SttError(STT_ERR.NO_SERVER, 'the STT pool needs at least one server');
    }
    this.#servers = opts.servers;
    this.#clock = opts.clock ?? systemClock;
    this.#wallClock = opts.wallClock ?? (() => Date.now());
    this.#logger = opts.logger ?? silentLogger;
    this.#httpGet = opts.httpGet ?? nodeHttpGet(this.#clock);
    this.#o = {
      modelDelayMs: opts.modelDelayMs ?? 480,
      whenFull: opts.whenFull ?? 'reject',
      readyTimeoutMs: opts.readyTimeoutMs ?? 1500,
      probeIntervalMs: opts.probeIntervalMs ?? 10_000,
      probeTimeoutMs: opts.probeTimeoutMs ?? 2000,
      backoffInitialMs: opts.backoff?.initialMs ?? 1000,
      backoffMaxMs: opts.backoff?.maxMs ?? 30_000,
      reservationTtlMs: opts.reservationTtlMs ?? 60_000,
      lagCooldownMs: opts.lagCooldownMs ?? 30_000,
      stream: opts.stream ?? {},
    };
    this.#status = opts.servers.map((s) => ({
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
    }));
  }

  /** Probes every server once, then every `probeIntervalMs`. */
  async start(): Promise<void> {
    this.#running = true;
    await this.probe();
    this.#scheduleProbe();
  }

  /**
   * Stops probing and closes every stream and reservation (no flush: call `flush()` first). No
   * connection is opened after this (`reserve()` answers null, a failover fails); a connection or
   * probe still in flight is waited for (each is bounded by its timeout) and closed. Resolves when
   * every WebSocket the pool opened is closed (close handshake, or cut after `CLOSE_HANDSHAKE_MS`).
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopped = true;
    if (this.#probeTimer !== undefined) {
      this.#clock.clearTimeout(this.#probeTimer);
      this.#probeTimer = undefined;
    }
    for (const r of [...this.#expiry.keys()]) {
      r.release();
    }
    for (const s of [...this.#streams]) {
      s.close();
    }
    while (this.#inFlight.size > 0) {
      await Promise.allSettled([...this.#inFlight]);
    }
    const open = [...this.#conns];
    for (const c of open) {
      c.close();
    }
    await Promise.all(open.map((c) => c.closed));
  }

  /** True once `stop()` was called: the pool opens no connection any more. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Keeps `p` in the in-flight set until it settles. */
  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    const done = (): void => void this.#inFlight.delete(p);
    p.then(done, done);
    return p;
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

  #scheduleProbe(): void {
    if (!this.#running) {
      return;
    }
    this.#probeTimer = this.#clock.setTimeout(() => {
      void this.probe().finally(() => this.#scheduleProbe());
    }, this.#o.probeIntervalMs);
  }

  /** Probes every server now (`/api/build_info`, then `/api/modules_info`). */
  async probe(): Promise<void> {
    if (this.#stopped) {
      return;
    }
    await this.#track(
      Promise.all(this.#servers.map((s, i) => this.#probeOne(s, this.#status[i] as SttServerStatus))),
    );
  }

  async #probeOne(server: SttServerConfig, st: SttServerStatus): Promise<void> {
    const base = httpBaseOf(server.url);
    const was = st.healthy;
    try {
      const info = await this.#httpGet(`${base}/api/build_info`, this.#o.probeTimeoutMs);
      st.healthy = info.status === 200;
    } catch {
      st.healthy = false;
    }
    if (st.healthy) {
      try {
        const res = await this.#httpGet(`${base}/api/modules_info`, this.#o.probeTimeoutMs);
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

  /**
   * Servers to try, best first: out of backoff, not known unhealthy or full; not lagging before
   * lagging; most free slots first; servers with unknown slots in round-robin order after them.
   */
  #candidates(exclude?: SttServerConfig): number[] {
    const now = this.#clock.now();
    const n = this.#servers.length;
    const start = this.#rr++ % n;
    const order = Array.from({ length: n }, (_, k) => (start + k) % n);
    const ok = order.filter((i) => {
      const st = this.#status[i] as SttServerStatus;

      return (
        this.#servers[i] !== exclude && st.backoffUntil <= now && st.healthy !== false && st.freeSlots !== 0
      );
    });
    const rank = (i: number): [number, number] => {
      const st = this.#status[i] as SttServerStatus;

      return [st.laggingUntil > now ? 1 : 0, st.freeSlots === null ? -0.5 : -st.freeSlots];
    };

    return ok.sort((a, b) => {
      const ra = rank(a);
      const rb = rank(b);

      return ra[0] - rb[0] || ra[1] - rb[1];
    });
  }

  #failed(i: number, err: unknown): void {
    const st = this.#status[i] as SttServerStatus;
    const code = err instanceof SttError ? err.code : STT_ERR.CONNECT;
    st.lastError = code;
    st.failures++;
    const now = this.#clock.now();
    let wait = Math.min(this.#o.backoffMaxMs, this.#o.backoffInitialMs * 2 ** (st.failures - 1));
    if (code === STT_ERR.FULL) {
      this.stats.fullRefusals++;
      // Full now; the backoff (not a stale slot count) decides when to try again.
      st.freeSlots = null;
    } else if (code === STT_ERR.AUTH) {
      this.stats.authFailures++;
      wait = this.#o.backoffMaxMs;
      this.#logger.error(
        { server: st.url, code },
        'stt: configuration error: the server refuses the API key (401); fix stt.servers[].apiKey',
      );
    } else {
      this.stats.connectFailures++;
    }
    st.backoffUntil = now + wait;
    this.#logger.warn({ server: st.url, code, retryInMs: wait }, 'stt: server skipped');
  }

  #succeeded(i: number): void {
    const st = this.#status[i] as SttServerStatus;
    st.failures = 0;
    st.lastError = null;
    st.healthy = true;
    if (st.freeSlots !== null) {
      st.freeSlots = Math.max(0, st.freeSlots - 1);
    }
  }

  async #connect(i: number): Promise<SttConnection> {
    const server = this.#servers[i] as SttServerConfig;
    if (this.#stopped) {
      throw new SttError(STT_ERR.NO_SERVER, 'the STT pool is stopped');
    }
    try {
      const conn = await this.#track(
        SttConnection.connect(server, {
          clock: this.#clock,
          logger: this.#logger,
          readyTimeoutMs: this.#o.readyTimeoutMs,
        }),
      );
      this.#conns.add(conn);
      void conn.closed.then(() => this.#conns.delete(conn));
      if (this.#stopped) {
        // Connected while the pool was stopping: nobody will use it.
        conn.close();
        throw new SttError(STT_ERR.NO_SERVER, 'the STT pool is stopped');
      }
      this.#succeeded(i);

      return conn;
    } catch (err) {
      if (!this.#stopped) {
        this.#failed(i, err);
      }
      throw err;
    }
  }

  /**
   * Takes a slot for a call about to be answered: the best server's stream, connected and `Ready`.
   * @returns null when no server has a free slot (all full, down, refusing or in backoff).
   */
  async reserve(): Promise<SttReservation | null> {
    if (this.#stopped) {
      return null;
    }
    for (const i of this.#candidates()) {
      let conn: SttConnection;
      try {
        conn = await this.#connect(i);
      } catch {
        continue;
      }
      this.stats.reservations++;
      const r = new SttReservation(conn, (res) => this.#unreserve(res, i));
      (this.#status[i] as SttServerStatus).streams++;
      this.#expiry.set(
        r,
        this.#clock.setTimeout(() => {
          this.#logger.warn({ server: r.server }, 'stt: reservation expired unused');
          r.release();
        }, this.#o.reservationTtlMs),
      );

      return r;
    }
    this.stats.noServer++;

    return null;
  }

  #unreserve(r: SttReservation, i: number): void {
    const t = this.#expiry.get(r);
    if (t !== undefined) {
      this.#clock.clearTimeout(t);
      this.#expiry.delete(r);
      const st = this.#status[i] as SttServerStatus;
      st.streams = Math.max(0, st.streams - 1);
      this.#slotFreed(st);
    }
  }

  /**
   * Admission for a new call: a reservation, or the configured policy when no slot is free
   * (`reject` → answer 503 with `Retry-After: retryAfterS`; `defer` → record, transcribe later).
   */
  async admit(): Promise<SttAdmission> {
    const reservation = await this.reserve();
    if (reservation) {
      return { decision: 'stream', reservation };
    }
    if (this.#o.whenFull === 'defer') {
      return { decision: 'defer' };
    }

    return { decision: 'reject', retryAfterS: this.retryAfterS() };
  }

  /** Seconds after which a slot may be free again (next backoff expiry or probe), 1…60. */
  retryAfterS(): number {
    const now = this.#clock.now();
    const waits = this.#status.map((s) => Math.max(0, s.backoffUntil - now)).filter((w) => w > 0);
    const ms = waits.length > 0 ? Math.min(...waits) : this.#o.probeIntervalMs;

    return Math.min(60, Math.max(1, Math.ceil(ms / 1000)));
  }

  /**
   * Starts streaming a call on a reservation (consumed). Frame 0 is the call answer unless
   * `opts.answeredAt` says otherwise.
   * @throws SttError `STT_ERR_STATE` when the reservation was released or already used.
   */
  open(reservation: SttReservation, opts: SttStreamOptions, delegate: SttStreamDelegate): SttStream {
    const conn = held.get(reservation);
    if (!conn) {
      throw new SttError(STT_ERR.STATE, `reservation on ${reservation.server} was released or already used`);
    }
    const t = this.#expiry.get(reservation);
    if (t !== undefined) {
      this.#clock.clearTimeout(t);
      this.#expiry.delete(reservation);
    }
    held.delete(reservation);
    const stream = new SttStream(
      conn,
      opts,
      { ...this.#o.stream, modelDelayMs: this.#o.modelDelayMs },
      { clock: this.#clock, logger: this.#logger, host: this, wallClock: this.#wallClock },
      delegate,
    );
    this.#streams.add(stream);
    this.stats.activeStreams = this.#streams.size;
    void stream.ended.then(() => {
      this.#streams.delete(stream);
      this.stats.activeStreams = this.#streams.size;
    });

    return stream;
  }

  /** @internal SttStreamHost: a new connection for a failover, other servers first. */
  async reconnect(failed: SttServerConfig, deadlineMs: number): Promise<SttLink> {
    this.stats.failovers++;
    const fi = this.#servers.indexOf(failed);
    if (fi >= 0) {
      this.#failed(fi, new SttError(STT_ERR.CLOSED, 'stream lost'));
    }
    const deadline = this.#clock.now() + deadlineMs;
    let round = 0;
    while (this.#clock.now() < deadline && !this.#stopped) {
      const order = this.#candidates(failed);
      if (fi >= 0 && round > 0) {
        order.push(fi);
      }
      for (const i of order) {
        if (this.#clock.now() >= deadline || this.#stopped) {
          break;
        }
        try {
          const conn = await this.#connect(i);
          (this.#status[i] as SttServerStatus).streams++;

          return conn;
        } catch {
          // next server
        }
      }
      round++;
      const wait = Math.min(250 * round, deadline - this.#clock.now());
      if (wait > 0 && !this.#stopped) {
        await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, wait));
      }
    }
    throw new SttError(STT_ERR.NO_SERVER, `no STT server accepted the stream within ${deadlineMs} ms`);
  }

  /** @internal SttStreamHost */
  released(link: SttLink): void {
    const i = this.#servers.indexOf(link.server);
    const st = this.#status[i];
    if (st) {
      st.streams = Math.max(0, st.streams - 1);
      this.#slotFreed(st);
    }
  }

  /** A slot we held is free again (the known count was lowered when we took it). */
  #slotFreed(st: SttServerStatus): void {
    if (st.freeSlots !== null) {
      st.freeSlots = Math.min(st.totalSlots ?? Infinity, st.freeSlots + 1);
    }
  }

  /** @internal SttStreamHost: a stream found its server behind real time. */
  reportLag(server: SttServerConfig, lagMs: number): void {
    const st = this.#status[this.#servers.indexOf(server)];
    if (!st) {
      return;
    }
    const now = this.#clock.now();
    if (st.laggingUntil <= now) {
      st.lagEvents++;
      this.stats.lagEvents++;
      this.#logger.warn(
        { server: st.url, lagMs: Math.round(lagMs) },
        'stt: server behind real time; avoided for new calls',
      );
    }
    st.laggingUntil = now + this.#o.lagCooldownMs;
    st.maxLagMs = Math.max(st.maxLagMs, Math.round(lagMs));
  }
}
