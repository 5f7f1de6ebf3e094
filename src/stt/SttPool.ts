/**
 * A pool of moshi-server instances: reservations for call admission, streams bound to them, new
 * connections for a stream's failover, and the pool's lifecycle (periodic probes; a stop that
 * leaves no WebSocket open). What it knows about each server and how it chooses one (health,
 * free slots, backoff, lag avoidance) is the `ServerBoard`'s.
 *
 * moshi-server has no reservation protocol: a slot is taken by opening the WebSocket. So
 * `reserve()` opens the stream and waits for `Ready`; the reservation holds that slot until
 * `open()` binds it to a call (or `release()`/expiry frees it).
 */
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.js';
import { SttError, STT_ERR } from './errors.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import { nodeHttpGet } from './probe.js';
import { ServerBoard } from './ServerBoard.js';
import { SttConnection, type SttServerConfig } from './SttConnection.js';
import { SttReservation, takeReservedConnection } from './SttReservation.js';
import { SttStream } from './SttStream.js';
import { WarmSet } from './WarmSet.js';
import type { TurnDetectorOptions } from './TurnDetector.js';
import type {
  PooledLink,
  SttConnector,
  SttLink,
  SttStreamDelegate,
  SttStreamHost,
  SttStreamOptions,
  SttStreamSettings,
} from './streamTypes.js';

import { zeroPoolStats, type SttPoolOptions, type SttPoolStats, type SttServerStatus } from './poolTypes.js';
export type { SttPoolOptions } from './poolTypes.js';

/** The admission decision for a new call. */
export type SttAdmission =
  | { readonly decision: 'stream'; readonly reservation: SttReservation }
  | { readonly decision: 'reject'; readonly retryAfterS: number }
  | { readonly decision: 'defer' };

export class SttPool implements SttStreamHost {
  readonly #board: ServerBoard;
  readonly #warm: WarmSet;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #logger: Logger;
  readonly #o: {
    modelDelayMs: number;
    whenFull: 'reject' | 'defer';
    probeIntervalMs: number;
    downProbeIntervalMs: number;
    connectConcurrency: number;
    reservationTtlMs: number;
    stream: Omit<SttStreamSettings, 'modelDelayMs'>;
    turns: TurnDetectorOptions;
  };
  readonly stats: SttPoolStats = zeroPoolStats();
  readonly #streams = new Set<SttStream>();
  readonly #expiry = new Map<SttReservation, TimerHandle>();
  #probeTimer: TimerHandle | undefined;
  #running = false;
  /** Set by `stop()`: no new connection is opened any more, one completing late is closed. */
  #stopped = false;
  /** Every connection the pool opened that is not closed yet (reserved, streaming or closing). */
  readonly #conns = new Set<PooledLink>();
  readonly #connectLink: SttConnector;
  /** Connection attempts and probes in flight (a stop waits for them; each is bounded). */
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Per server: handshakes in progress, and the connections waiting for a place (`#gate`). */
  readonly #connecting: number[];
  readonly #waiting: (() => void)[][];

  constructor(opts: SttPoolOptions) {
    if (opts.servers.length === 0) {
      throw new SttError(STT_ERR.NO_SERVER, 'the STT pool needs at least one server');
    }
    this.#clock = opts.clock ?? systemClock;
    this.#wallClock = opts.wallClock ?? (() => Date.now());
    this.#logger = opts.logger ?? silentLogger;
    this.#connectLink = opts.connect ?? ((server, o) => SttConnection.connect(server, o));
    this.#o = {
      modelDelayMs: opts.modelDelayMs ?? 480,
      whenFull: opts.whenFull ?? 'reject',
      probeIntervalMs: opts.probeIntervalMs ?? 10_000,
      downProbeIntervalMs: opts.downProbeIntervalMs ?? 2000,
      connectConcurrency: Math.max(1, opts.connectConcurrency ?? 128),
      reservationTtlMs: opts.reservationTtlMs ?? 60_000,
      stream: opts.stream ?? {},
      turns: opts.turns ?? {},
    };
    this.#board = new ServerBoard(
      opts.servers,
      {
        clock: this.#clock,
        logger: this.#logger,
        httpGet: opts.httpGet ?? nodeHttpGet(this.#clock),
        stats: this.stats,
      },
      {
        probeIntervalMs: this.#o.probeIntervalMs,
        probeTimeoutMs: opts.probeTimeoutMs ?? 2000,
        backoffInitialMs: opts.backoff?.initialMs ?? 1000,
        backoffMaxMs: opts.backoff?.maxMs ?? 30_000,
        lagCooldownMs: opts.lagCooldownMs ?? 30_000,
        trialIntervalMs: opts.trialIntervalMs ?? 1000,
        readyTimeoutMs: opts.readyTimeoutMs ?? 3000,
        readyTimeoutMaxMs: opts.readyTimeoutMaxMs ?? 10_000,
      },
    );
    this.#connecting = opts.servers.map(() => 0);
    this.#waiting = opts.servers.map(() => []);
    this.#warm = new WarmSet(
      { perServer: opts.warm?.perServer ?? 0, maxIdleMs: opts.warm?.maxIdleMs ?? 15_000 },
      {
        board: this.#board,
        clock: this.#clock,
        logger: this.#logger,
        connect: (i) => this.#connect(i, true),
      },
    );
    for (const s of opts.servers) {
      if (s.tls?.verify === false) {
        this.#logger.warn(
          { server: s.url },
          "stt: TLS certificate verification is off for this server (tls.verify false): anyone on the path can read the calls' audio; use tls.caFile instead",
        );
      }
    }
  }

  /** Probes every server once, then every `probeIntervalMs`. */
  async start(): Promise<void> {
    this.#running = true;
    await this.probe();
    this.#afterProbe();
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
    this.#warm.close();
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
    return this.#board.status();
  }

  /** URLs of the servers currently behind real time (gauge). */
  laggingServers(): string[] {
    return this.#board.laggingServers();
  }

  /** Free slots over all servers, as far as known (null when no server reports slots). */
  freeSlots(): number | null {
    return this.#board.freeSlots();
  }

  #scheduleProbe(): void {
    if (!this.#running) {
      return;
    }
    // A server down or in backoff is probed again within seconds (the breaker), not after the period.
    const wait = this.#board.anyDown()
      ? Math.min(this.#o.downProbeIntervalMs, this.#o.probeIntervalMs)
      : this.#o.probeIntervalMs;
    this.#probeTimer = this.#clock.setTimeout(() => {
      void this.probe().finally(() => {
        this.#afterProbe();
        this.#scheduleProbe();
      });
    }, wait);
  }

  /**
   * After a probe: the breaker's trial connection to each server in backoff that answers its probe
   * (a `Ready` ends the backoff, so calls are admitted again within a probe period, 2 s while a
   * server is down, not after a backoff of up to 30 s); then the warm set is filled.
   */
  #afterProbe(): void {
    for (let i = 0; i < this.#board.servers.length; i++) {
      if (!this.#stopped && this.#board.trialDue(i) && this.#board.beginAttempt(i)) {
        this.#connect(i, true).then(
          (conn) => {
            // The trial's slot is not kept: the warm set opens its own now the server is back.
            conn.close();
            this.#board.unused(i);
            this.#warm.fill(i);
          },
          () => undefined, // counted and backed off by #connect
        );
      }
    }
    this.#warm.fill();
  }

  /** Probes every server now (`/api/build_info`, then `/api/modules_info`). */
  async probe(): Promise<void> {
    if (this.#stopped) {
      return;
    }
    await this.#track(this.#board.probeAll());
  }

  /**
   * Opens a stream on server `i` and waits for `Ready` (bounded by the board's adaptive bound).
   * For the warm set (`warm`), a full server is no failure: the set just stays short.
   */
  async #connect(i: number, warm = false): Promise<PooledLink> {
    const server = this.#board.servers[i] as SttServerConfig;
    if (this.#stopped) {
      throw new SttError(STT_ERR.NO_SERVER, 'the STT pool is stopped');
    }
    const release = await this.#track(this.#gate(i));
    if (this.#stopped) {
      release();
      throw new SttError(STT_ERR.NO_SERVER, 'the STT pool is stopped');
    }
    const t0 = this.#clock.now();
    try {
      const conn = await this.#track(
        this.#connectLink(server, {
          clock: this.#clock,
          logger: this.#logger,
          readyTimeoutMs: this.#board.readyTimeoutFor(i),
          tls: this.#board.tls[i],
        }),
      );
      this.#board.handshake(i, this.#clock.now() - t0);
      this.#conns.add(conn);
      void conn.closed.then(() => this.#conns.delete(conn));
      if (this.#stopped) {
        // Connected while the pool was stopping: nobody will use it.
        conn.close();
        throw new SttError(STT_ERR.NO_SERVER, 'the STT pool is stopped');
      }
      this.#board.succeeded(i);

      return conn;
    } catch (err) {
      if (!this.#stopped && !(warm && err instanceof SttError && err.code === STT_ERR.FULL)) {
        this.#board.failed(i, err);
      }
      throw err;
    } finally {
      release();
    }
  }

  /**
   * Waits for one of server `i`'s `connectConcurrency` handshake places (FIFO). A burst of calls
   * then queues here instead of piling thousands of handshakes on the server at once (whose
   * accept queue overflows: dropped SYNs come back after 1, 3, 7 s); a handshake's `Ready` bound
   * starts when it is actually made.
   * @returns the function that gives the place back.
   */
  async #gate(i: number): Promise<() => void> {
    const n = this.#connecting[i] ?? 0;
    if (n >= this.#o.connectConcurrency) {
      await new Promise<void>((resolve) => this.#waiting[i]?.push(resolve));
    } else {
      this.#connecting[i] = n + 1;
    }
    let done = false;
    return () => {
      if (done) {
        return;
      }
      done = true;
      const next = this.#waiting[i]?.shift();
      if (next) {
        next(); // the place passes on
      } else {
        this.#connecting[i] = (this.#connecting[i] ?? 1) - 1;
      }
    };
  }

  /**
   * A `Ready` connection to server `i` for a call or a failover: a warm one when the set has one,
   * else a new one (when the server is out of backoff, or this is the breaker's trial).
   */
  async #acquire(i: number): Promise<PooledLink> {
    const warm = this.#warm.take(i);
    if (warm) {
      this.stats.warmHits++;
      return warm;
    }
    if (!this.#board.beginAttempt(i)) {
      throw new SttError(STT_ERR.NO_SERVER, `${this.#board.servers[i]?.url ?? 'server'} is in backoff`);
    }
    return this.#connect(i);
  }

  /**
   * Whether a new call could get a slot now, as far as the pool knows (probes, backoff, the slots
   * it holds itself), without taking one: admission at the INVITE, so that a call that is never
   * ACKed holds nothing. The slot itself is taken by `admit()`/`reserve()` at the ACK.
   */
  canAdmit(): boolean {
    return !this.#stopped && this.#board.anyCandidate();
  }

  /**
   * Takes a slot for a call about to be answered: the best server's stream, connected and `Ready`.
   * A server that was only slow to send `Ready` (a burst of calls) gets a second attempt, after
   * the others, before the call is refused.
   * @returns null when no server has a free slot (all full, down, refusing or in backoff).
   */
  async reserve(): Promise<SttReservation | null> {
    if (this.#stopped) {
      return null;
    }
    const queue = this.#board.candidates();
    const retried = new Set<number>();
    for (let k = 0; k < queue.length; k++) {
      const i = queue[k] as number;
      let conn: PooledLink;
      try {
        conn = await this.#acquire(i);
      } catch (err) {
        if (err instanceof SttError && err.code === STT_ERR.READY_TIMEOUT && !retried.has(i)) {
          retried.add(i);
          queue.push(i);
        }
        continue;
      }
      this.stats.reservations++;
      const r = new SttReservation(conn, (res) => this.#unreserve(res, i));
      this.#board.taken(i);
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
      this.#board.returned(i);
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
    return this.#board.retryAfterS();
  }

  /**
   * Starts streaming a call on a reservation (consumed). Frame 0 is at `open()` unless
   * `opts.answeredAt`/`startMs` place it earlier in the call; `opts.backlog` goes first.
   * @throws SttError `STT_ERR_STATE` when the reservation was released or already used.
   */
  open(reservation: SttReservation, opts: SttStreamOptions, delegate: SttStreamDelegate): SttStream {
    const conn = takeReservedConnection(reservation);
    if (!conn) {
      throw new SttError(STT_ERR.STATE, `reservation on ${reservation.server} was released or already used`);
    }
    const t = this.#expiry.get(reservation);
    if (t !== undefined) {
      this.#clock.clearTimeout(t);
      this.#expiry.delete(reservation);
    }
    const stream = new SttStream(
      conn,
      { ...opts, turns: { ...this.#o.turns, ...opts.turns } },
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
    const fi = this.#board.indexOf(failed);
    if (fi >= 0) {
      this.#board.failed(fi, new SttError(STT_ERR.CLOSED, 'stream lost'));
    }
    const deadline = this.#clock.now() + deadlineMs;
    let round = 0;
    while (this.#clock.now() < deadline && !this.#stopped) {
      const order = this.#board.candidates(failed);
      if (fi >= 0 && round > 0) {
        order.push(fi);
      }
      for (const i of order) {
        if (this.#clock.now() >= deadline || this.#stopped) {
          break;
        }
        try {
          const conn = await this.#acquire(i);
          this.#board.taken(i);

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
    this.#board.returned(this.#board.indexOf(link.server));
  }

  /** @internal SttStreamHost: a stream found its server behind real time. */
  reportLag(server: SttServerConfig, lagMs: number): void {
    this.#board.reportLag(server, lagMs);
  }
}
