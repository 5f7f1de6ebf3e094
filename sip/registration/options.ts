/** The registration client's account, options, status and delegate. */
import type { Clock } from '../../lib/clock.js';
import type { RegistrationState } from './state.js';
import type { BackoffPolicy } from './timing.js';
import type { Logger } from '../../lib/logger.js';
import type { TransportProtocol } from '../transport/types.js';

/** One account to register. */
export interface RegistrationAccount {
  /** A name for logs and events (e.g. `trunk-1`). */
  readonly id: string;
  /** The registrar's URI, used as Request-URI: `sip:host[:port]` (or `sips:`). */
  readonly registrar: string;
  /** The AOR user (`sip:username@domain`). */
  readonly username: string;
  /** The AOR domain; by default the registrar's `host[:port]`. */
  readonly domain?: string;
  /** Digest username when it differs from `username`. */
  readonly authUsername?: string;
  readonly password: string;
  /** Only answer challenges of this realm. */
  readonly realm?: string;
  /** First hop (`sip:host:port`), also put in a Route header (`;lr`). */
  readonly outboundProxy?: string;
  /**
   * The transport; by default taken from the first hop's URI (outbound proxy, else registrar):
   * `sips:` → tls, `;transport=tcp|tls|udp`, else udp (RFC 3263 without DNS).
   */
  readonly transport?: TransportProtocol;
  /** Requested binding lifetime in seconds (default 3600; the registrar's value wins). */
  readonly expires?: number;
  readonly displayName?: string;
}

export interface RegistrationOptions {
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Number in [0, 1) for the backoff jitter (default Math.random). */
  readonly random?: () => number;
  readonly backoff?: Partial<BackoffPolicy>;
  /** CRLF keep-alive interval on TCP/TLS flows (default 30 s; 0 disables). */
  readonly keepAliveMs?: number;
  /**
   * RFC 5626 outbound: add `Supported: outbound`, `+sip.instance` and `reg-id=1` to the Contact.
   * Off by default (`;ob` and the kept-open flow are used either way on TCP/TLS).
   */
  readonly outbound?: boolean;
  /** `urn:uuid:…` for `+sip.instance` (a random one by default). */
  readonly instanceId?: string;
  readonly userAgent?: string;
  /** The Allow header of our REGISTERs (what we accept in calls routed to us). */
  readonly allow?: string;
  /** Produces the cnonce of digest answers (tests). */
  readonly cnonce?: () => string;
  /** `stop()` waits at most this long for the unregistration's answer (default 4 s). */
  readonly unregisterTimeoutMs?: number;
}

/** A snapshot of a registration, passed to the delegate on every change. Times are clock ms. */
export interface RegistrationStatus {
  readonly accountId: string;
  readonly state: RegistrationState;
  /** Status code of the last final response (408 after a timeout, 503 after a transport error). */
  readonly lastStatus?: number;
  readonly lastReason?: string;
  /** Code of the last local error (`SIP_ERR_TX_TIMEOUT`, `SIP_ERR_TRANSPORT`, `SIP_ERR_AUTH_REJECTED`...). */
  readonly lastError?: string;
  /** Seconds granted by the registrar in the last 200. */
  readonly grantedExpires?: number;
  /** When the binding expires (clock ms) while registered. */
  readonly expiresAt?: number;
  /** When the next refresh is sent (clock ms) while registered. */
  readonly nextRefreshAt?: number;
  /** When the next attempt is made (clock ms) in `failed`. */
  readonly nextAttemptAt?: number;
  /** Consecutive failed attempts. */
  readonly failures: number;
  /** The Contact URI we registered. */
  readonly contact?: string;
}

/** Upward notifications (optional methods). */
export interface RegistrationDelegate {
  onStateChange?(status: RegistrationStatus, previous: RegistrationState): void;
}
