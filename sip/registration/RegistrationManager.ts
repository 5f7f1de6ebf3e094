import { RegistrationError } from './errors.js';
import {
  Registration,
  type RegistrationAccount,
  type RegistrationDelegate,
  type RegistrationOptions,
  type RegistrationStatus,
} from './Registration.js';
import type { RegistrationTransport } from './types.js';

/**
 * Several accounts (trunks, PBX extensions) registered over one transport layer, each with its own
 * {@link Registration}; one delegate sees every account's changes.
 */
export class RegistrationManager {
  readonly #transport: RegistrationTransport;
  readonly #options: RegistrationOptions;
  readonly #delegate: RegistrationDelegate;
  readonly #registrations = new Map<string, Registration>();

  constructor(
    transport: RegistrationTransport,
    options: RegistrationOptions,
    delegate: RegistrationDelegate = {},
  ) {
    this.#transport = transport;
    this.#options = options;
    this.#delegate = delegate;
  }

  /**
   * Adds an account (not started).
   *
   * @throws RegistrationError `SIP_ERR_REG_ACCOUNT` for a duplicate id or an invalid account.
   */
  add(account: RegistrationAccount): Registration {
    if (this.#registrations.has(account.id)) {
      throw new RegistrationError('SIP_ERR_REG_ACCOUNT', `duplicate account id "${account.id}"`);
    }
    const registration = new Registration(account, this.#transport, this.#options, this.#delegate);
    this.#registrations.set(account.id, registration);

    return registration;
  }

  get(id: string): Registration | undefined {
    return this.#registrations.get(id);
  }

  /** A snapshot of every account's registration. */
  statuses(): RegistrationStatus[] {
    return [...this.#registrations.values()].map((r) => r.status);
  }

  startAll(): void {
    for (const r of this.#registrations.values()) {
      r.start();
    }
  }

  /** Unregisters every account (in parallel) and resolves when all are done. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#registrations.values()].map((r) => r.stop()));
  }

  /** Unregisters and forgets one account. */
  async remove(id: string): Promise<void> {
    const r = this.#registrations.get(id);
    if (r !== undefined) {
      this.#registrations.delete(id);
      await r.stop();
    }
  }
}
