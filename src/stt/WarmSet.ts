/**
 * The warm set: per server, a few WebSockets opened ahead of need and already `Ready`, so a call
 * (or a failover) takes a slot without waiting for a handshake. A burst of calls then starts on
 * streams that exist, and a handshake slowed by the burst delays the refill, not a call.
 *
 * Each warm connection holds a real slot of a scarce server: the set is small (`perServer`, 0 =
 * off), filled only while the server is out of backoff, not known unhealthy and not known full.
 * A warm connection sends no audio, so the model never steps for it. moshi-server closes a stream
 * that sends no frame of any kind for 20 s (it pings after 10 s without sending; `ws` answers) and
 * one without a binary message for 120 s: a warm connection is replaced after `maxIdleMs`
 * (default 15 s), well before either, so a call never takes one the server is about to close.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ServerBoard } from './ServerBoard.js';
import type { PooledLink } from './streamTypes.js';

interface WarmSetOptions {
  /** Connections kept `Ready` per server (0 disables the set). */
  readonly perServer: number;
  /** A warm connection unused this long is closed and replaced (ms). */
  readonly maxIdleMs: number;
}

interface Warm {
  readonly conn: PooledLink;
  readonly timer: TimerHandle;
}

export class WarmSet {
  readonly #o: WarmSetOptions;
  readonly #board: ServerBoard;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Opens a connection to server `i` for the set (failures are the pool's to judge). */
  readonly #connect: (i: number) => Promise<PooledLink>;
  /** Per server: warm connections, oldest first. */
  readonly #sets: Warm[][];
  /** Per server: connections being opened for the set. */
  readonly #opening: number[];
  #closed = false;

  constructor(
    opts: WarmSetOptions,
    deps: {
      board: ServerBoard;
      clock: Clock;
      logger: Logger;
      connect: (i: number) => Promise<PooledLink>;
    },
  ) {
    this.#o = opts;
    this.#board = deps.board;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#connect = deps.connect;
    this.#sets = deps.board.servers.map(() => []);
    this.#opening = deps.board.servers.map(() => 0);
  }

  /** Warm connections waiting on server `i`. */
  size(i: number): number {
    return this.#sets[i]?.length ?? 0;
  }

  /**
   * Takes the oldest open warm connection of server `i` (the set is refilled behind it).
   * @returns undefined when the set of server `i` is empty.
   */
  take(i: number): PooledLink | undefined {
    const set = this.#sets[i];
    let w: Warm | undefined;
    while (set && (w = set.shift()) !== undefined) {
      this.#clock.clearTimeout(w.timer);
      this.#board.warmChanged(i, -1);
      if (w.conn.isOpen) {
        // The stream's dead-peer watch starts now: an idle server sends nothing to a warm
        // connection (moshi-server pings only after 10 s), which is no sign of death.
        w.conn.lastActivityAt = this.#clock.now();
        this.fill(i);
        return w.conn;
      }
      // Closed under us (its close handler has not run yet): its slot is free again.
      this.#board.unused(i);
    }
    return undefined;
  }

  /** Opens connections until every eligible server (or server `only`) has `perServer` of them. */
  fill(only?: number): void {
    if (this.#closed || this.#o.perServer <= 0) {
      return;
    }
    for (let i = 0; i < this.#sets.length; i++) {
      if (only !== undefined && i !== only) {
        continue;
      }
      const need = this.#o.perServer - this.size(i) - (this.#opening[i] ?? 0);
      for (let k = 0; k < need && this.#board.canWarm(i); k++) {
        this.#open(i);
      }
    }
  }

  #open(i: number): void {
    this.#opening[i] = (this.#opening[i] ?? 0) + 1;
    this.#connect(i).then(
      (conn) => {
        this.#opening[i] = (this.#opening[i] ?? 1) - 1;
        if (this.#closed) {
          conn.close();
          return;
        }
        const w: Warm = { conn, timer: this.#clock.setTimeout(() => this.#retire(i, w), this.#o.maxIdleMs) };
        this.#sets[i]?.push(w);
        this.#board.warmChanged(i, 1);
        // Closed by the server or the network while waiting: out of the set, slot free. Not
        // reopened at once (a server that closes every stream would make a loop): the next take,
        // probe or replacement refills.
        void conn.closed.then(() => this.#drop(i, w));
      },
      (err: unknown) => {
        this.#opening[i] = (this.#opening[i] ?? 1) - 1;
        this.#logger.debug(
          { server: this.#board.servers[i]?.url, err: String(err) },
          'stt: warm connection failed',
        );
      },
    );
  }

  /** `w` waited `maxIdleMs` unused: closed before the server's idle limits, and replaced. */
  #retire(i: number, w: Warm): void {
    if (this.#remove(i, w)) {
      w.conn.close();
      this.fill(i);
    }
  }

  #drop(i: number, w: Warm): void {
    if (this.#remove(i, w)) {
      this.#clock.clearTimeout(w.timer);
    }
  }

  /** Takes `w` out of server `i`'s set (false when it was not there any more). */
  #remove(i: number, w: Warm): boolean {
    const set = this.#sets[i];
    const at = set ? set.indexOf(w) : -1;
    if (!set || at < 0) {
      return false;
    }
    set.splice(at, 1);
    this.#board.warmChanged(i, -1);
    this.#board.unused(i);
    return true;
  }

  /** Closes every warm connection; nothing is opened any more (connections in flight close on arrival). */
  close(): void {
    this.#closed = true;
    for (let i = 0; i < this.#sets.length; i++) {
      for (const w of [...(this.#sets[i] ?? [])]) {
        this.#clock.clearTimeout(w.timer);
        this.#remove(i, w);
        w.conn.close();
      }
    }
  }
}
