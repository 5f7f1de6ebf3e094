import type { CallMeta, EndReason } from '../events.js';
import type { CallState } from './callStates.js';

/**
 * What the endpoint knows about one call, from INVITE to its end; kept in memory while the call is
 * active and in the `calls` table of the database for every call (active ones included).
 */
export interface CallRecord {
  /** Our id for the call (UUID); used in events, file names and the HTTP API. */
  readonly id: string;
  readonly meta: CallMeta;
  readonly state: CallState;
  /** ISO 8601 wall clock times. */
  readonly createdAt: string;
  readonly answeredAt: string | null;
  readonly endedAt: string | null;
  /** Why the call ended (set on entering `ending`). */
  readonly endReason: EndReason | null;
  /** The SIP status a rejected call was answered with (486, 503, 403, 488, …). */
  readonly rejectStatus: number | null;
  /** Milliseconds from answer to end; null until the call is over. */
  readonly durationMs: number | null;
  /**
   * The instance that holds the call (`storage.instanceId`), when the store is shared by several
   * (PostgreSQL); absent with the embedded SQLite store.
   */
  readonly instance?: string;
}

/**
 * The outcome label a finished call is counted under (`sipscribe_calls_total{outcome}`): the end
 * reason for answered calls, `rejected` or `cancelled` for the others.
 */
export function callOutcome(record: CallRecord): string {
  if (record.state === 'rejected' || record.state === 'cancelled') {
    return record.state;
  }
  return record.endReason ?? 'error';
}
