/**
 * A slot held on one server, waiting for `SttPool.open()`. moshi-server has no reservation
 * protocol: the slot is the WebSocket itself, opened and `Ready`.
 */
import type { PooledLink } from './streamTypes.js';

/** The connection behind each unused reservation (module-private: only the pool may take it). */
const held = new WeakMap<SttReservation, PooledLink>();

export class SttReservation {
  readonly server: string;
  readonly #onRelease: (r: SttReservation) => void;

  /** @internal Made by `SttPool.reserve()`. */
  constructor(conn: PooledLink, onRelease: (r: SttReservation) => void) {
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

/**
 * @internal For `SttPool.open()` only: the reservation's connection, which it no longer holds
 * (undefined when it was released, expired or already used).
 */
export function takeReservedConnection(r: SttReservation): PooledLink | undefined {
  const conn = held.get(r);
  held.delete(r);
  return conn;
}
