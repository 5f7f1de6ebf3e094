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
import type { TurnDetectorOptions } from './TurnDetector.js';
import type {
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
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #logger: Logger;
  readonly #o: {
    modelDelayMs: number;
    whenFull: 'reject' | 'defer';
    readyTimeoutMs: number;
    probeIntervalMs: number;
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
  readonly #conns = new Set<SttConnection>();
  /** Connection attempts and probes in flight (a stop waits for them; each is bounded). */
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(opts: SttPoolOptions) {
    if (opts.servers.length === 0) {
      throw new SttError(STT_ERR.NO_SERVER, 'the STT pool needs at least one server');
    }
    this.#clock = opts.clock ?? systemClock;
    this.#wallClock = opts.wallClock ?? (() => Date.now());
    this.#logger = opts.logger ?? silentLogger;
    this.#o = {
      modelDelayMs: opts.modelDelayMs ?? 480,
      whenFull: opts.whenFull ?? 'reject',
      readyTimeoutMs: opts.readyTimeoutMs ?? 3000,
      probeIntervalMs: opts.probeIntervalMs ?? 10_000,
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
    this.#probeTimer = this.#clock.setTimeout(() => {
      void this.probe().finally(() => this.#scheduleProbe());
    }, this.#o.probeIntervalMs);
  }

  /** Probes every server now (`/api/build_info`, then `/api/modules_info`). */
  async probe(): Promise<void> {
    if (this.#stopped) {
      return;
    }
    await this.#track(this.#board.probeAll());
  }

  async #connect(i: number): Promise<SttConnection> {
    const server = this.#board.servers[i] as SttServerConfig;
    if (this.#stopped) {
      throw new SttError(STT_ERR.NO_SERVER, 'the STT pool is stopped');
    }
    try {
      const conn = await this.#track(
        SttConnection.connect(server, {
          clock: this.#clock,
          logger: this.#logger,
          readyTimeoutMs: this.#o.readyTimeoutMs,
          tls: this.#board.tls[i],
        }),
      );
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
      if (!this.#stopped) {
        this.#board.failed(i, err);
      }
      throw err;
    }
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
      let conn: SttConnection;
      try {
        conn = await this.#connect(i);
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
   * Starts streaming a call on a reservation (consumed). Frame 0 is the call answer unless
   * `opts.answeredAt` says otherwise.
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
          const conn = await this.#connect(i);
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
