import { randomBytes, randomUUID } from 'node:crypto';
import { DigestClient, type AuthorizationHeader } from '../auth/DigestClient.js';
import type { Clock, TimerHandle } from '../clock.js';
import { contactUri, grantedExpires, transportOfUri } from './contact.js';
import { buildRegister } from './request.js';
import { RegistrationError } from './errors.js';
import { assertTransition, type RegistrationState } from './state.js';
import { backoffDelayMs, DEFAULT_BACKOFF, refreshDelayMs, type BackoffPolicy } from './timing.js';
import type {
  OutgoingRegister,
  RegisterResponse,
  RegistrationLogger,
  RegistrationTransport,
  SipTransportName,
} from './types.js';
import type {
  RegistrationAccount,
  RegistrationDelegate,
  RegistrationOptions,
  RegistrationStatus,
} from './options.js';

export type { RegistrationAccount, RegistrationDelegate, RegistrationOptions, RegistrationStatus };

type StatusFields = Omit<RegistrationStatus, 'accountId' | 'state'>;

type Outcome =
  | { readonly kind: 'ok'; readonly granted: number }
  | {
      readonly kind: 'failure';
      readonly status: number;
      readonly reason: string;
      readonly error?: string;
      readonly retryAfterS?: number;
    }
  | { readonly kind: 'cancelled' };

const NO_LOG: RegistrationLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const DEFAULT_ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE';

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
  readonly transportName: SipTransportName;
  readonly #transport: RegistrationTransport;
  readonly #clock: Clock;
  readonly #log: RegistrationLogger;
  readonly #random: () => number;
  readonly #backoff: BackoffPolicy;
  readonly #keepAliveMs: number;
  readonly #opts: RegistrationOptions;
  readonly #delegate: RegistrationDelegate;
  readonly #digest: DigestClient;
  readonly #callId = `${randomBytes(12).toString('hex')}@sipscribe`;
  readonly #fromTag = randomBytes(6).toString('hex');
  readonly #instanceId: string;
  readonly #aor: string;
  readonly #target: string;
  #cseq = 0;
  #expires: number;
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
    this.#log = options.logger ?? NO_LOG;
    this.#random = options.random ?? Math.random;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#keepAliveMs = options.keepAliveMs ?? 30_000;
    this.#unregisterTimeoutMs = options.unregisterTimeoutMs ?? 4000;
    this.#opts = options;
    this.#delegate = delegate;
    this.#expires = account.expires ?? 3600;
    this.#instanceId = options.instanceId ?? `urn:uuid:${randomUUID()}`;
    const scheme = account.registrar.toLowerCase().startsWith('sips:') ? 'sips' : 'sip';
    this.#aor = `${scheme}:${account.username}@${account.domain ?? m[1]}`;
    this.#target = account.outboundProxy ?? account.registrar;
    this.#digest = new DigestClient(
      {
        username: account.authUsername ?? account.username,
        password: account.password,
        ...(account.realm !== undefined ? { realm: account.realm } : {}),
      },
      options.cnonce !== undefined ? { cnonce: options.cnonce } : {},
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
    this.#transaction(generation, this.#expires).then(
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

  /** One REGISTER exchange, following digest challenges and 423 until a final verdict. */
  async #transaction(generation: number, expires: number): Promise<Outcome> {
    let local;
    try {
      local = await this.#transport.localContact(this.#target, this.transportName);
    } catch (err) {
      return transportFailure(err);
    }
    if (generation !== this.#generation) {
      return { kind: 'cancelled' };
    }
    const contact = contactUri(this.account.username, local, true);
    this.#status = { ...this.#status, contact };
    let auth: readonly AuthorizationHeader[] = this.#digest.authorize({
      method: 'REGISTER',
      uri: this.account.registrar,
    });
    let intervalRetries = 0;
    for (let round = 0; round < 10; round++) {
      const request = this.#request(contact, expires, auth);
      let res: RegisterResponse;
      try {
        res = await this.#transport.sendRegister(request);
      } catch (err) {
        return transportFailure(err);
      }
      if (generation !== this.#generation) {
        return { kind: 'cancelled' };
      }
      this.#log.debug({ account: this.account.id, status: res.status, expires }, 'REGISTER answered');
      if (res.status === 401 || res.status === 407) {
        const challenges = res.getAll(res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate');
        const answer = this.#digest.respond(res.status, challenges, {
          method: 'REGISTER',
          uri: this.account.registrar,
        });
        if (answer.kind === 'retry') {
          auth = answer.headers;
          continue;
        }

        return {
          kind: 'failure',
          status: res.status,
          reason: `${res.reason}: ${answer.reason}`,
          error: answer.kind === 'rejected' ? 'SIP_ERR_AUTH_REJECTED' : 'SIP_ERR_AUTH_UNSUPPORTED',
        };
      }
      this.#digest.accepted();
      if (res.status === 423 && expires > 0) {
        const min = Number((res.get('Min-Expires') ?? '').trim());
        if (Number.isInteger(min) && min > expires && intervalRetries++ < 2) {
          this.#log.info(
            { account: this.account.id, minExpires: min },
            '423 Interval Too Brief: raising expires',
          );
          this.#expires = min;
          expires = min;
          auth = this.#digest.authorize({ method: 'REGISTER', uri: this.account.registrar });
          continue;
        }
      }
      if (res.status >= 200 && res.status < 300) {
        if (expires === 0) {
          return { kind: 'ok', granted: 0 };
        }
        const granted = grantedExpires(contact, res.getAll('Contact'), res.get('Expires')) ?? expires;

        return { kind: 'ok', granted };
      }
      const retryAfter = Number((res.get('Retry-After') ?? '').trim().split(/[\s;(]/)[0]);

      return {
        kind: 'failure',
        status: res.status,
        reason: res.reason,
        ...(Number.isInteger(retryAfter) && retryAfter > 0 ? { retryAfterS: retryAfter } : {}),
      };
    }

    return { kind: 'failure', status: 500, reason: 'too many REGISTER rounds', error: 'SIP_ERR_REG_LOOP' };
  }

  #request(contact: string, expires: number, auth: readonly AuthorizationHeader[]): OutgoingRegister {
    return buildRegister({
      account: this.account,
      aor: this.#aor,
      fromTag: this.#fromTag,
      callId: this.#callId,
      cseq: ++this.#cseq,
      contact,
      expires,
      auth,
      target: this.#target,
      transport: this.transportName,
      outbound: this.#opts.outbound === true && this.transportName !== 'udp',
      instanceId: this.#instanceId,
      allow: this.#opts.allow ?? DEFAULT_ALLOW,
      ...(this.#opts.userAgent !== undefined ? { userAgent: this.#opts.userAgent } : {}),
    });
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

function transportFailure(err: unknown): Outcome {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'SIP_ERR_TX_TIMEOUT') {
    return { kind: 'failure', status: 408, reason: `Request Timeout (${message})`, error: code };
  }

  return {
    kind: 'failure',
    status: 503,
    reason: `Service Unavailable (${message})`,
    error: typeof code === 'string' ? code : 'SIP_ERR_TRANSPORT',
  };
}
