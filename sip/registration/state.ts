import { RegistrationError } from './errors.js';

/**
 * States of one account's registration (RFC 3261 §10.2):
 *
 * ```
 *   idle ──► registering ──200──► registered ──refresh timer──► refreshing ──200──► registered
 *               │   ▲                │  ▲                          │
 *        failure│   │backoff timer   │  └─────────────200──────────┘
 *               ▼   │                │ flow lost (TCP/TLS)
 *             failed ◄───────────────┴─────── failure ◄────────────┘
 *   any of them ── stop() ──► unregistering (Expires: 0) ──► unregistered ── start() ──► registering
 * ```
 *
 * `failed` means "not registered because the last attempt failed; a retry is scheduled".
 */
export type RegistrationState =
  'idle' | 'registering' | 'registered' | 'refreshing' | 'failed' | 'unregistering' | 'unregistered';

const TRANSITIONS: Readonly<Record<RegistrationState, readonly RegistrationState[]>> = {
  idle: ['registering', 'unregistered'],
  registering: ['registered', 'failed', 'unregistering', 'unregistered'],
  registered: ['refreshing', 'registering', 'failed', 'unregistering', 'unregistered'],
  refreshing: ['registered', 'registering', 'failed', 'unregistering', 'unregistered'],
  failed: ['registering', 'unregistering', 'unregistered'],
  unregistering: ['unregistered'],
  unregistered: ['registering'],
};

/** Whether `from → to` is a legal transition. */
export function canTransition(from: RegistrationState, to: RegistrationState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Checks a transition.
 *
 * @throws RegistrationError `SIP_ERR_REG_STATE` when it is not allowed.
 */
export function assertTransition(from: RegistrationState, to: RegistrationState): void {
  if (!canTransition(from, to)) {
    throw new RegistrationError('SIP_ERR_REG_STATE', `invalid registration state transition ${from} → ${to}`);
  }
}
