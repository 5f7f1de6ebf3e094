/**
 * The SIP stack src/ drives: transports + transactions + the user agent (UAS for incoming
 * INVITEs, UAC for `dial`), with policy left to the delegate: `screen(req, source)` admits, drops
 * (no answer at all) or refuses every new out-of-dialog request before a transaction exists,
 * `onInvite(call)` decides to ring, answer, reject or challenge, and `onRefused(call, status,
 * reason)` hears about INVITEs the stack refused itself (488 no common codec, 400 unreadable SDP).
 */
import { systemClock, type Clock } from '../../lib/clock.js';
import { newCounters, type SipCounters } from '../counters.js';
import { dialogId, type Dialog } from '../dialog/Dialog.js';
import { RepeatedLog, silentLogger, type Logger } from '../../lib/logger.js';
import { createResponse, newTag } from '../message/build.js';
import { formatHost } from '../message/uri.js';
import type { HeaderField, SipRequest, SipResponse } from '../message/SipMessage.js';
import type { SrtpPolicy, SrtpSuiteInfo } from '../sdp/crypto.js';
import type { Codec } from '../sdp/media.js';
import type { InviteServerTransaction, ServerTransaction } from '../transaction/ServerTransaction.js';
import type { TimerConfig } from '../transaction/timers.js';
import { TransactionLayer } from '../transaction/TransactionLayer.js';
import { targetFromUri } from '../transport/target.js';
import { TransportLayer, type ListenEntry, type TlsClientOptions } from '../transport/TransportLayer.js';
import type { Flow, Target, TransportProtocol } from '../transport/types.js';
import { supportedOptions } from './checks.js';
import { IncomingCall, summarizeInvite, type InviteSummary } from './IncomingCall.js';
import { OutgoingCall, type DialOptions } from './OutgoingCall.js';
import { answerOutOfDialog, MergedRequests } from './outOfDialog.js';
import { bodyRefusal, sdpRefusal } from './SdpSession.js';
import { RequestScreen, type ScreenSource, type ScreenVerdict } from './screen.js';
import type { CallHost, CallSignalling, DialogUser, SessionTimerOptions } from './types.js';

export interface SipStackOptions {
  listen: readonly ListenEntry[];
  clock?: Clock;
  logger?: Logger;
  timers?: Partial<TimerConfig>;
  /** Server / User-Agent header value. */
  userAgent?: string;
  tls?: TlsClientOptions;
  /** Codec preference, first preferred (default PCMU, PCMA). */
  codecs?: readonly Codec[];
  /**
   * The SRTP suites the media layer implements, strongest first (rtp/'s `SRTP_SUITES`; default
   * none: plain RTP only, whatever `srtpPolicy` says).
   */
  srtpSuites?: readonly SrtpSuiteInfo[];
  maxMessageSize?: number;
  /** TCP/TLS idle timeout in ms. */
  idleTimeoutMs?: number;
  /** TLS handshake timeout in ms. */
  tlsHandshakeTimeoutMs?: number;
  /** Maximum inbound TCP/TLS connections per listener. */
  maxConnections?: number;
  sessionTimer?: Partial<SessionTimerOptions>;
  /**
   * An INVITE the application neither answers nor rejects within this time is answered 480
   * (default 180 s), so that a forgotten call cannot hold its transaction forever.
   */
  inviteTimeoutMs?: number;
  /**
   * Act as a SIPREC recording server (RFC 7866; default false): `Require: siprec` is supported,
   * multipart/mixed INVITE bodies are read, recording sessions are offered to the application as
   * `IncomingCall.recording`.
   */
  siprec?: boolean;
}

export type { ScreenSource, ScreenVerdict };

/** Why the stack itself refused an INVITE before `onInvite` (reported to `onRefused`). */
export type RefusalReason = 'no-codec' | 'bad-sdp' | 'request-check' | 'srtp';

export interface SipStackDelegate {
  /**
   * Admission before anything else: called for every new out-of-dialog request (no To tag, not
   * an ACK, not a CANCEL matching an INVITE transaction) before a server transaction exists and
   * before any response (not even 100 Trying). A dropped request leaves no state; its
   * retransmissions are screened again. A status is answered through a server transaction, so
   * retransmissions of the request are absorbed. Without `screen` everything is accepted.
   */
  screen?(req: SipRequest, source: ScreenSource): ScreenVerdict;
  /** A new INVITE, already answered with 100 Trying. Call ring/answer/reject/challenge. */
  onInvite?(call: IncomingCall): void;
  /**
   * An INVITE the stack refused itself before `onInvite`, reported so that every call attempt can
   * be recorded: `'no-codec'` (an offer without any of our codecs, 488 with a Warning),
   * `'bad-sdp'` (400 Bad SDP with a Warning), `'request-check'` (a check of RFC 3261 §8.2: 416
   * URI scheme, 420 Require, 415 body type, 406, 400 bad header; not the 422 of the session-timer
   * negotiation, which the caller follows with a new INVITE at once).
   */
  onRefused?(call: InviteSummary, status: number, reason: RefusalReason): void;
  /**
   * The SRTP policy of an incoming call (RFC 4568 SDES; see `sdp/crypto.ts`), asked once per
   * INVITE before its offer is read; `off` without it. An offer the policy refuses gets 488 with a
   * Warning 303 saying why, reported to `onRefused` with reason `'srtp'`.
   */
  srtpPolicy?(call: InviteSummary): SrtpPolicy;
}

/** Methods we implement (RFC 3261 §20.5 Allow). */
const ALLOWED_METHODS: readonly string[] = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO', 'UPDATE'];

export class SipStack implements CallHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: SipCounters;
  readonly codecs: readonly Codec[];
  readonly srtpSuites: readonly SrtpSuiteInfo[];
  readonly sessionTimer: SessionTimerOptions;
  readonly transport: TransportLayer;
  readonly transactions: TransactionLayer;
  readonly signalling: CallSignalling;
  readonly userAgent: string;
  readonly siprec: boolean;
  readonly #delegate: SipStackDelegate;
  readonly #dialogs = new Map<string, DialogUser>();
  readonly #calls = new WeakMap<InviteServerTransaction, IncomingCall>();
  readonly #live = new Set<IncomingCall | OutgoingCall>();
  readonly #inviteTimeoutMs: number;
  readonly #screen: RequestScreen;
  readonly #merged: MergedRequests;
  /** INVITEs refused for their SDP, logged once per kind and minute (RepeatedLog). */
  readonly #badSdpLog: RepeatedLog;

  constructor(options: SipStackOptions, delegate: SipStackDelegate = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.counters = newCounters();
    this.codecs = options.codecs ?? ['PCMU', 'PCMA'];
    this.srtpSuites = options.srtpSuites ?? [];
    this.sessionTimer = { minSE: options.sessionTimer?.minSE ?? 90 };
    this.userAgent = options.userAgent ?? 'sipscribe';
    this.siprec = options.siprec ?? false;
    this.#delegate = delegate;
    this.#inviteTimeoutMs = options.inviteTimeoutMs ?? 180_000;
    this.transport = new TransportLayer({
      listen: options.listen,
      clock: this.clock,
      logger: this.logger,
      counters: this.counters,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.maxMessageSize !== undefined ? { maxMessageSize: options.maxMessageSize } : {}),
      ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(options.tlsHandshakeTimeoutMs !== undefined
        ? { tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs }
        : {}),
      ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    });
    this.transactions = new TransactionLayer(
      this.transport,
      {
        clock: this.clock,
        logger: this.logger,
        counters: this.counters,
        ...(options.timers ? { timers: options.timers } : {}),
      },
      {
        onRequest: (req, tx, flow) => this.#onRequest(req, tx, flow),
        onStrayResponse: (res) => this.#onStray2xx(res),
        screen: (req, flow) => this.#screen.admit(req, flow),
      },
    );
    const tx = this.transactions;
    const transport = this.transport;
    this.signalling = {
      timers: tx.timers,
      createClient: (req, target, handlers) => tx.createClient(req, target, handlers),
      request: (req, target, opts) => tx.request(req, target, opts),
      sendStateless: (req, target) => tx.sendStateless(req, target),
      findInviteFor: (cancel) => tx.findInviteFor(cancel),
      flowFor: (target) => transport.flowFor(target),
      sentBy: (flow) => transport.sentBy(flow),
      sendResponse: (res, flow) => transport.sendResponse(res, flow),
    };
    this.#screen = new RequestScreen(delegate, this);
    this.#merged = new MergedRequests(this.clock, this.transactions.timers);
    this.#badSdpLog = new RepeatedLog(this.logger, this.clock);
  }

  /** Binds every listen entry. */
  async start(): Promise<void> {
    await this.transport.start();
    this.logger.info({ listening: this.transport.listening() }, 'SIP stack listening');
  }

  /** Ends every call (BYE / 503), waits up to 2 s for the BYEs, closes the transports. */
  async stop(): Promise<void> {
    const byes = Promise.all([...this.#live].map((c) => c.shutdown().catch(() => undefined)));
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    await Promise.race([byes, new Promise<void>((r) => (timer = this.clock.setTimeout(r, 2000)))]);
    if (timer !== undefined) {
      this.clock.clearTimeout(timer);
    }
    this.transactions.stop();
    this.#badSdpLog.flush();
    await this.transport.stop();
  }

  srtpPolicy(call: InviteSummary): SrtpPolicy {
    return this.#delegate.srtpPolicy?.(call) ?? 'off';
  }

  listenerOf(flow: Flow): number | undefined {
    return this.transport.listenerOf(flow);
  }

  /** What is bound (with actual ports when 0 was asked). */
  listening(): { transport: TransportProtocol; address: string; port: number }[] {
    return this.transport.listening();
  }

  /** Number of calls in progress. */
  get activeCalls(): number {
    return this.#live.size;
  }

  /**
   * Sends an out-of-dialog non-INVITE request (e.g. REGISTER) through a client transaction.
   * `target` is a URI (`sip:`/`sips:`, `;transport=`) or `host:port`, or a resolved target.
   */
  async request(
    req: SipRequest,
    target: string | Target,
    opts: { transport?: TransportProtocol; onProvisional?: (res: SipResponse) => void } = {},
  ): Promise<SipResponse> {
    const t = typeof target === 'string' ? this.#target(target, opts.transport) : target;
    if (!req.has('user-agent')) {
      req.add('User-Agent', this.userAgent);
    }
    return await this.transactions.request(
      req,
      t,
      opts.onProvisional ? { onProvisional: opts.onProvisional } : {},
    );
  }

  /** Where peers reach us for requests sent to `target` (Contact host/port/transport). */
  async localContact(
    target: string | Target,
    transport?: TransportProtocol,
  ): Promise<{ host: string; port: number; transport: TransportProtocol }> {
    return await this.transport.localContact(
      typeof target === 'string' ? this.#target(target, transport) : target,
    );
  }

  /** Places a call (UAC): INVITE with our SDP offer. */
  dial(opts: DialOptions): OutgoingCall {
    const call = new OutgoingCall(this, opts, this.#target(opts.target ?? opts.to, opts.transport));
    this.#track(call);
    call.start();
    return call;
  }

  #target(text: string, transport?: TransportProtocol): Target {
    const t = targetFromUri(text, transport ?? 'udp');
    if (!t) {
      throw new RangeError(`not a SIP URI or host:port: ${text}`);
    }
    return transport && !/^sips:/i.test(text) && !/;transport=/i.test(text)
      ? { ...t, protocol: transport }
      : t;
  }

  #track(call: IncomingCall | OutgoingCall): void {
    this.#live.add(call);
    call.on('ended', () => this.#live.delete(call));
  }

  // ---- CallHost ----------------------------------------------------------------------------

  contactFor(flow: Flow, secure = false): string {
    const sb = this.transport.sentBy(flow);
    const hostPort = `${formatHost(sb.address)}:${sb.port}`;
    return secure && flow.protocol === 'tls'
      ? `<sips:sipscribe@${hostPort}>`
      : `<sip:sipscribe@${hostPort};transport=${flow.protocol}>`;
  }

  commonHeaders(kind: 'request' | 'response'): HeaderField[] {
    return [
      { name: kind === 'response' ? 'Server' : 'User-Agent', value: this.userAgent },
      { name: 'Allow', value: ALLOWED_METHODS.join(', ') },
      { name: 'Supported', value: supportedOptions(this.siprec).join(', ') },
    ];
  }

  addDialog(dialog: Dialog, call: DialogUser): void {
    this.#dialogs.set(dialog.id, call);
  }

  removeDialog(dialog: Dialog): void {
    this.#dialogs.delete(dialog.id);
  }

  // ---- dispatch ----------------------------------------------------------------------------

  #onRequest(req: SipRequest, tx: ServerTransaction | undefined, flow: Flow): void {
    if (!tx) {
      // ACK for a 2xx (or stray).
      const user = this.#dialogs.get(dialogId(req.callId, req.toTag ?? '', req.fromTag ?? ''));
      user?.onDialogRequest(req, undefined);
      return;
    }
    if (this.#screen.answerRefused(req, tx)) {
      return;
    }
    if (req.method === 'CANCEL') {
      const invite = this.transactions.findInviteFor(req);
      if (!invite) {
        tx.respond(createResponse(req, 481));
        return;
      }
      tx.respond(createResponse(req, 200, { headers: this.commonHeaders('response') }));
      this.#calls.get(invite)?.onCancel();
      return;
    }
    if (req.toTag !== undefined) {
      const user = this.#dialogs.get(dialogId(req.callId, req.toTag, req.fromTag ?? ''));
      if (user) {
        user.onDialogRequest(req, tx);
      } else {
        tx.respond(createResponse(req, 481));
      }
      return;
    }
    const answered = answerOutOfDialog(req, tx, flow, this);
    if (answered === null) {
      this.#onInvite(req, tx as InviteServerTransaction, flow);
    } else if (req.method === 'INVITE' && answered !== 422) {
      // (A 422 is a step of the session-timer negotiation: the caller retries at once.)
      this.#refused(summarizeInvite(req, flow, this.listenerOf(flow)), answered, 'request-check');
    }
  }

  #onInvite(req: SipRequest, tx: InviteServerTransaction, flow: Flow): void {
    // RFC 3261 §8.2.2.2: the same request reaching us again by another path (another branch).
    if (this.#merged.merged(req)) {
      tx.respond(createResponse(req, 482, { toTag: newTag() }));
      return;
    }
    tx.respond(createResponse(req, 100, { headers: [] }));
    let call: IncomingCall;
    try {
      call = new IncomingCall(req, tx, flow, this);
    } catch (err) {
      this.logger.error({ err, callId: req.callId }, 'INVITE could not be taken: 500');
      tx.respond(createResponse(req, 500));
      return;
    }
    if (call.bodyError) {
      // A malformed multipart body (RFC 2046): 400 with the problem in the Warning.
      this.counters.malformedRejected++;
      this.#badSdpLog.log(
        'info',
        call.bodyError.code,
        { callId: req.callId, err: call.bodyError.message },
        'INVITE with a malformed body refused (400)',
      );
      const refusal = bodyRefusal(call.bodyError, formatHost(flow.local.address));
      call.reject(refusal.status, { reason: refusal.reason, warning: refusal.warning });
      this.#refused(call, 400, 'bad-sdp');
      return;
    }
    if (call.offerError?.code === 'SDP_ERR_SRTP') {
      const refusal = sdpRefusal(call.offerError, formatHost(flow.local.address));
      this.#badSdpLog.log(
        'info',
        'srtp',
        { callId: req.callId, err: call.offerError.message },
        'INVITE refused by the SRTP policy (488)',
      );
      call.reject(refusal.status, { warning: refusal.warning });
      this.#refused(call, refusal.status, 'srtp');
      return;
    }
    if (call.offerError) {
      // RFC 3261 §21.4.1 / §21.4.26: a malformed body (400) or a wrong value in it (488). The
      // Warning says what was wrong.
      this.counters.malformedRejected++;
      const refusal = sdpRefusal(call.offerError, formatHost(flow.local.address));
      this.#badSdpLog.log(
        'info',
        call.offerError.code,
        { callId: req.callId, err: call.offerError.message, status: refusal.status },
        'INVITE with unusable SDP refused',
      );
      call.reject(refusal.status, {
        warning: refusal.warning,
        ...(refusal.reason !== undefined ? { reason: refusal.reason } : {}),
      });
      this.#refused(call, refusal.status, 'bad-sdp');
      return;
    }
    if (call.hasOffer && call.offer === undefined) {
      call.reject(488, { warning: `305 ${formatHost(flow.local.address)} "Incompatible media format"` });
      this.#refused(call, 488, 'no-codec');
      return;
    }
    this.#calls.set(tx, call);
    this.#track(call);
    const guard = this.clock.setTimeout(() => {
      if (call.state === 'offered' || call.state === 'ringing') {
        this.logger.warn({ callId: call.callId }, 'INVITE left unanswered: 480');
        call.reject(480, { reason: 'No Answer' });
      }
    }, this.#inviteTimeoutMs);
    void call.settled.then(() => this.clock.clearTimeout(guard));
    if (!this.#delegate.onInvite) {
      call.reject(480);
      return;
    }
    try {
      this.#delegate.onInvite(call);
    } catch (err) {
      this.logger.error({ err, callId: call.callId }, 'onInvite threw');
      if (call.state === 'offered' || call.state === 'ringing') {
        call.reject(500);
      }
    }
  }

  #refused(call: InviteSummary, status: number, reason: RefusalReason): void {
    try {
      this.#delegate.onRefused?.(call, status, reason);
    } catch (err) {
      this.logger.error({ err, callId: call.callId }, 'onRefused threw');
    }
  }

  #onStray2xx(res: SipResponse): void {
    const user = this.#dialogs.get(dialogId(res.callId, res.fromTag ?? '', res.toTag ?? ''));
    if (user?.onRetransmitted2xx) {
      user.onRetransmitted2xx();
    } else {
      this.counters.strayResponses++;
    }
  }
}
