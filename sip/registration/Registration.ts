import type { Clock, TimerHandle } from '../../lib/clock.js';
import { transportOfUri } from './contact.js';
import { RegistrationError } from './errors.js';
import { RegisterExchange, type Outcome } from './exchange.js';
import { assertTransition, type RegistrationState } from './state.js';
import { backoffDelayMs, DEFAULT_BACKOFF, refreshDelayMs, type BackoffPolicy } from './timing.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import type { RegistrationTransport } from './types.js';
import type { TransportProtocol } from '../transport/types.js';
import type {
  RegistrationAccount,
  RegistrationDelegate,
  RegistrationOptions,
  RegistrationStatus,
} from './options.js';

export type { RegistrationAccount, RegistrationDelegate, RegistrationOptions, RegistrationStatus };

type StatusFields = Omit<RegistrationStatus, 'accountId' | 'state'>;

/**
 * Keeps one account registered (RFC 3261 §10.2): REGISTER with digest auth (401/407, stale
 * nonces), `423 Interval Too Brief` + Min-Expires (§10.2.8), refresh before the granted expiry,
 * exponential backoff with jitter while the registrar fails or is unreachable, re-registration as
 * soon as a TCP/TLS flow drops (RFC 5626 §4.4-lite, with CRLF keep-alives), and `Expires: 0` on
 * {@link stop}. Every transition is validated ({@link RegistrationState}) and reported to the delegate.
 */
export class Registration {
  readonly account: RegistrationAccount;
  /** The transport used: the account's, or the one its first hop's URI names. */
  readonly transportName: TransportProtocol;
  readonly #transport: RegistrationTransport;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #backoff: BackoffPolicy;
  readonly #keepAliveMs: number;
  readonly #delegate: RegistrationDelegate;
  readonly #exchange: RegisterExchange;
  readonly #target: string;
  #state: RegistrationState = 'idle';
  #generation = 0;
  #timer: TimerHandle | undefined;
  #keepAliveTimer: TimerHandle | undefined;
  #flowUnsubscribe: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  /** Until when the registrar holds our binding (clock ms), as far as we know. */
  #boundUntil: number | undefined;
  readonly #unregisterTimeoutMs: number;
  #status: StatusFields = { failures: 0 };

  /**
   * @throws RegistrationError `SIP_ERR_REG_ACCOUNT` when the registrar is not a sip/sips URI or the
   * username is empty.
   */
  constructor(
    account: RegistrationAccount,
    transport: RegistrationTransport,
    options: RegistrationOptions,
    delegate: RegistrationDelegate = {},
  ) {
    const m = /^sips?:(?:[^@;]*@)?([^;?]+)/i.exec(account.registrar);
    if (m?.[1] === undefined || account.username === '') {
      throw new RegistrationError(
        'SIP_ERR_REG_ACCOUNT',
        `account ${account.id}: registrar must be a sip: URI and username non-empty (got "${account.registrar}")`,
      );
    }
    this.account = account;
    this.transportName = account.transport ?? transportOfUri(account.outboundProxy ?? account.registrar);
    this.#transport = transport;
    this.#clock = options.clock;
    this.#log = options.logger ?? silentLogger;
    this.#random = options.random ?? Math.random;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#keepAliveMs = options.keepAliveMs ?? 30_000;
    this.#unregisterTimeoutMs = options.unregisterTimeoutMs ?? 4000;
    this.#delegate = delegate;
    const scheme = account.registrar.toLowerCase().startsWith('sips:') ? 'sips' : 'sip';
    this.#target = account.outboundProxy ?? account.registrar;
    this.#exchange = new RegisterExchange(
      {
        account,
        aor: `${scheme}:${account.username}@${account.domain ?? m[1]}`,
        target: this.#target,
        transport: this.transportName,
      },
      transport,
      options,
      this.#log,
    );
  }

  get state(): RegistrationState {
    return this.#state;
  }

  get status(): RegistrationStatus {
    return { accountId: this.account.id, state: this.#state, ...this.#status };
  }

  /** Starts registering (from `idle` or `unregistered`); does nothing in other states. */
  start(): void {
    if (this.#state === 'idle' || this.#state === 'unregistered') {
      this.#stopping = undefined;
      this.#attempt('registering');
    }
  }

  /**
   * Tries again at once instead of waiting for the backoff timer (e.g. when the application knows
   * the network or the registrar is back). Only in `failed`; returns whether an attempt started.
   */
  retryNow(): boolean {
    if (this.#state !== 'failed') {
      return false;
    }
    this.#attempt('registering');

    return true;
  }

  /**
   * Unregisters (`Expires: 0`) when a binding may exist, then stays `unregistered`. Resolves when
   * done (whatever the registrar answered). Safe to call more than once.
   */
  async stop(): Promise<void> {
    if (this.#stopping !== undefined) {
      return await this.#stopping;
    }
    if (this.#state === 'unregistered') {
      return;
    }
    this.#stopping = this.#unregister();
    await this.#stopping;
  }

  async #unregister(): Promise<void> {
    const now = this.#clock.now();
    const hadBinding =
      this.#state === 'registered' ||
      this.#state === 'refreshing' ||
      this.#state === 'registering' ||
      (this.#state === 'failed' && this.#boundUntil !== undefined && this.#boundUntil > now);
    const generation = ++this.#generation;
    this.#clearTimers();
    if (!hadBinding || this.#status.contact === undefined) {
      this.#boundUntil = undefined;
      this.#transition('unregistered', { nextAttemptAt: undefined, nextRefreshAt: undefined });

      return;
    }
    this.#transition('unregistering', { nextRefreshAt: undefined, nextAttemptAt: undefined });
    // NOTE: bounded, so that shutdown does not wait for Timer F when the registrar is gone.
    let timer: TimerHandle | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = this.#clock.setTimeout(
        () =>
          resolve({
            kind: 'failure',
            status: 408,
            reason: `no answer to the unregistration within ${this.#unregisterTimeoutMs} ms`,
            error: 'SIP_ERR_TX_TIMEOUT',
          }),
        this.#unregisterTimeoutMs,
      );
    });
    const outcome = await Promise.race([this.#transaction(generation, 0), timeout]);
    if (timer !== undefined) {
      this.#clock.clearTimeout(timer);
    }
    this.#generation++;
    this.#boundUntil = undefined;
    const s =
      outcome.kind === 'failure'
        ? { lastStatus: outcome.status, lastReason: outcome.reason, lastError: outcome.error }
        : outcome.kind === 'ok'
          ? { lastStatus: 200, lastReason: 'OK', lastError: undefined }
          : {};
    this.#transition('unregistered', { ...s, expiresAt: undefined, grantedExpires: undefined });
  }

  #attempt(next: 'registering' | 'refreshing'): void {
    this.#clearTimer();
    this.#transition(next, {
      nextAttemptAt: undefined,
      ...(next === 'registering' ? { nextRefreshAt: undefined } : {}),
    });
    const generation = ++this.#generation;
    this.#transaction(generation, this.#exchange.expires).then(
      (outcome) => {
        if (generation === this.#generation) {
          this.#settle(outcome);
        }
      },
      (err: unknown) => {
        // NOTE: #transaction catches transport errors; anything here is a bug, never a crash.
        this.#log.error({ err, account: this.account.id }, 'registration attempt failed unexpectedly');
        if (generation === this.#generation) {
          this.#settle({ kind: 'failure', status: 500, reason: String(err), error: 'SIP_ERR_INTERNAL' });
        }
      },
    );
  }

  #settle(outcome: Outcome): void {
    if (outcome.kind === 'cancelled') {
      return;
    }
    const now = this.#clock.now();
    if (outcome.kind === 'ok' && outcome.granted > 0) {
      const delay = refreshDelayMs(outcome.granted);
      this.#boundUntil = now + outcome.granted * 1000;
      this.#transition('registered', {
        lastStatus: 200,
        lastReason: 'OK',
        lastError: undefined,
        failures: 0,
        grantedExpires: outcome.granted,
        expiresAt: now + outcome.granted * 1000,
        nextRefreshAt: now + delay,
      });
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#attempt('refreshing');
      }, delay);
      this.#watchFlow();

      return;
    }
    const failure =
      outcome.kind === 'failure'
        ? outcome
        : {
            status: 200,
            reason: 'registrar granted no binding (expires=0)',
            error: 'SIP_ERR_REG_NO_BINDING',
          };
    const failures = this.#status.failures + 1;
    const delay =
      'retryAfterS' in failure && failure.retryAfterS !== undefined
        ? failure.retryAfterS * 1000
        : backoffDelayMs(failures, this.#backoff, this.#random());
    this.#clearFlowWatch();
    this.#log.warn(
      { account: this.account.id, status: failure.status, reason: failure.reason, retryInMs: delay },
      'registration failed',
    );
    this.#transition('failed', {
      lastStatus: failure.status,
      lastReason: failure.reason,
      lastError: failure.error,
      failures,
      expiresAt: undefined,
      nextRefreshAt: undefined,
      nextAttemptAt: now + delay,
    });
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#attempt('registering');
    }, delay);
  }

  /** One REGISTER exchange (exchange.ts), cancelled when a newer attempt or `stop()` started. */
  #transaction(generation: number, expires: number): Promise<Outcome> {
    return this.#exchange.run(
      expires,
      () => generation === this.#generation,
      (contact) => {
        this.#status = { ...this.#status, contact };
      },
    );
  }

  /** TCP/TLS: keep-alives on the flow, and re-register at once when it closes. */
  #watchFlow(): void {
    if (this.transportName === 'udp') {
      return;
    }
    const t = this.#transport;
    if (this.#flowUnsubscribe === undefined && t.onFlowClosed !== undefined) {
      this.#flowUnsubscribe = t.onFlowClosed(this.#target, this.transportName, () => {
        this.#flowUnsubscribe = undefined;
        this.#flowLost('connection closed');
      });
    }
    if (this.#keepAliveMs > 0 && t.keepAlive !== undefined && this.#keepAliveTimer === undefined) {
      const tick = (): void => {
        this.#keepAliveTimer = this.#clock.setTimeout(tick, this.#keepAliveMs);
        t.keepAlive?.(this.#target, this.transportName).catch((err: unknown) => {
          this.#log.debug({ err, account: this.account.id }, 'keep-alive failed');
          this.#flowLost('keep-alive failed');
        });
      };
      this.#keepAliveTimer = this.#clock.setTimeout(tick, this.#keepAliveMs);
    }
  }

  #flowLost(why: string): void {
    if (this.#state === 'registered' || this.#state === 'refreshing') {
      this.#log.info({ account: this.account.id, why }, 'flow to the registrar lost: registering again');
      this.#clearFlowWatch();
      this.#attempt('registering');
    }
  }

  #clearFlowWatch(): void {
    this.#flowUnsubscribe?.();
    this.#flowUnsubscribe = undefined;
    if (this.#keepAliveTimer !== undefined) {
      this.#clock.clearTimeout(this.#keepAliveTimer);
      this.#keepAliveTimer = undefined;
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #clearTimers(): void {
    this.#clearTimer();
    this.#clearFlowWatch();
  }

  #transition(next: RegistrationState, changes: Partial<StatusFields>): void {
    const previous = this.#state;
    assertTransition(previous, next);
    this.#state = next;
    const merged: Record<string, unknown> = { ...this.#status, ...changes };
    for (const key of Object.keys(merged)) {
      if (merged[key] === undefined) {
        delete merged[key];
      }
    }
    this.#status = merged as unknown as StatusFields;
    this.#log.info(
      { account: this.account.id, from: previous, to: next, lastStatus: this.#status.lastStatus },
      'registration state',
    );
    this.#delegate.onStateChange?.(this.status, previous);
  }
}
