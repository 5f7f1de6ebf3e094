import type { Clock } from '../../lib/clock.js';
import type { SipCounters } from '../counters.js';
import type { Logger } from '../../lib/logger.js';
import type { SipMessage, SipResponse } from '../message/SipMessage.js';
import type { Flow } from '../transport/types.js';
import type { TimerConfig } from './timers.js';

/** What a transaction needs from its surroundings. */
export interface TransactionContext {
  readonly clock: Clock;
  readonly timers: TimerConfig;
  readonly logger: Logger;
  readonly counters: SipCounters;
  /** Writes a message on a flow (first transmission or retransmission). */
  sendOn(flow: Flow, msg: SipMessage): void;
  /** Sends a response per RFC 3261 §18.2.2. */
  sendResponse(res: SipResponse, flow: Flow): void;
  /** Called once when a transaction terminates, to remove it from the table. */
  terminated(key: string): void;
}
