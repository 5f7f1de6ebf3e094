/**
 * The states of a call and the one table of legal transitions between them (architecture.md,
 * "Call states"):
 *
 * ```
 * offered → ringing → answered → streaming → ending → ended
 * offered → answered            (answer without ringing)
 * offered | ringing → rejected  (403/486/488/503 before answer)
 * offered | ringing → cancelled (CANCEL before answer)
 * answered → ending             (BYE or failure before streaming started)
 * ```
 * Every way out of `answered`/`streaming` passes through `ending`, where the STT stream is flushed
 * before `call.ended` is published. An illegal transition throws `StateTransitionError`.
 */
import { AppError } from '../errors.js';

export const CALL_STATES = [
  'offered',
  'ringing',
  'answered',
  'streaming',
  'ending',
  'ended',
  'rejected',
  'cancelled',
] as const;
export type CallState = (typeof CALL_STATES)[number];

/** From each state, the states a call may move to. */
const CALL_TRANSITIONS: Readonly<Record<CallState, readonly CallState[]>> = {
  offered: ['ringing', 'answered', 'rejected', 'cancelled'],
  ringing: ['answered', 'rejected', 'cancelled'],
  answered: ['streaming', 'ending'],
  streaming: ['ending'],
  ending: ['ended'],
  ended: [],
  rejected: [],
  cancelled: [],
};

/** States a call never leaves. */
export function isTerminal(state: CallState): boolean {
  return CALL_TRANSITIONS[state].length === 0;
}

/** A call was asked to move to a state its current state does not lead to. */
export class StateTransitionError extends AppError {
  readonly from: CallState;
  readonly to: CallState;
  constructor(callId: string, from: CallState, to: CallState) {
    super('CALL_ERR_STATE_TRANSITION', `call ${callId}: illegal state transition ${from} → ${to}`);
    this.from = from;
    this.to = to;
  }
}

/** @throws StateTransitionError when `from → to` is not in `CALL_TRANSITIONS`. */
export function assertTransition(callId: string, from: CallState, to: CallState): void {
  if (!CALL_TRANSITIONS[from].includes(to)) {
    throw new StateTransitionError(callId, from, to);
  }
}
