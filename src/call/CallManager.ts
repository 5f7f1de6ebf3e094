/**
 * The SIP stack's delegate for incoming requests and calls: `screen` (per-source rate limit →
 * silent drop, allow list → 403 for non-INVITE requests) before the stack answers anything;
 * `onInvite`: digest authentication when `sip.inbound.auth` is set (401 challenge, 403 for wrong
 * credentials), then admission (allow list, shutdown, max calls, per-source limit, STT capacity; a
 * refusal is counted in the refused log, without a call record), then one {@link CallSession} per
 * dialog; `onRefused`: the same count for the INVITEs the stack refused itself (488, 400, …); and
 * the graceful end of every call at shutdown.
 */
import { systemClock, type Clock } from '../../lib/clock.js';
import {
  type IncomingCall,
  type InviteSummary,
  type RefusalReason,
  type ScreenSource,
  type ScreenVerdict,
  type SipRequest,
  type SipStackDelegate,
} from '../../sip/index.js';
import type { Admission, Unavailable } from './Admission.js';
import type { CallMeta } from '../events.js';
import type { Logger } from '../logger.js';
import { parseMetadata, SiprecMetadataError, type RecordingMetadata } from '../siprec/metadata.js';
import { CallSession, type CallSessionDeps } from './CallSession.js';
import { InboundAuth, type AuthDecision } from './InboundAuth.js';
import { MAX_RECORDED_STREAMS, RecordingSession } from './RecordingSession.js';

interface CallManagerOptions extends CallSessionDeps {
  readonly admission: Admission;
  readonly logger: Logger;
  /**
   * The configured account a call came in for (matched on the Request-URI/To user), or null for a
   * direct call.
   */
  readonly accountFor?: (call: InviteSummary) => string | null;
  /** The clock of digest nonces (`sip.inbound.auth`; default the system clock). */
  readonly authClock?: Clock;
}

function formatSource(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function fromHeader(call: InviteSummary): string {
  return call.fromDisplayName ? `"${call.fromDisplayName}" <${call.from}>` : call.from;
}

/** `Retry-After` of our 503s (to INVITE and OPTIONS), in seconds. */
const RETRY_AFTER_S = 30;

export class CallManager implements SipStackDelegate {
  readonly #o: CallManagerOptions;
  /** Why the last OPTIONS got 503, or null when it got 200 (logged when it changes). */
  #unavailable: Unavailable['reason'] | null = null;
  readonly #sessions = new Map<string, CallSession | RecordingSession>();
  /** `sip.inbound.auth`, when configured. */
  readonly #auth: InboundAuth | null;

  constructor(options: CallManagerOptions) {
    this.#o = options;
    const auth = options.config.sip.inbound.auth;
    this.#auth = auth ? new InboundAuth(auth, options.authClock ?? systemClock) : null;
  }

  /** Calls in progress (from INVITE to the end of their flush). */
  get size(): number {
    return this.#sessions.size;
  }

  sessions(): (CallSession | RecordingSession)[] {
    return [...this.#sessions.values()];
  }

  /**
   * Admission before the SIP stack answers anything: over the source's rate limit the request is
   * dropped unanswered (the stack counts and logs it at debug); a non-INVITE request from outside
   * `allowFrom` gets 403 (an INVITE gets its 403 from `onInvite`, with a call record).
   */
  screen(req: SipRequest, source: ScreenSource): ScreenVerdict {
    const d = this.#o.admission.screen(source.address, req.method);
    if (d.action === 'reject') {
      this.#o.logger.debug(
        { source: source.address, method: req.method, status: d.status, reason: d.reason },
        'request refused',
      );
      return { status: d.status };
    }
    if (d.action === 'accept' && req.method === 'OPTIONS') {
      return this.#optionsAnswer();
    }
    return d.action;
  }

  /**
   * An OPTIONS probe (a load balancer's, e.g. Kamailio's dispatcher) gets the truth: the stack's
   * `200` while a call would be taken, `503` with `Retry-After` while draining, at `maxCalls` or
   * with the STT full (`whenFull: "reject"`). Each change of the answer is logged once.
   */
  #optionsAnswer(): ScreenVerdict {
    const a = this.#o.admission.availability(this.#onThePhone(), this.#o.pool.canAdmit());
    const reason = a.ok ? null : a.reason;
    if (reason !== this.#unavailable) {
      this.#o.logger.info({ from: this.#unavailable, to: reason }, 'availability (OPTIONS answer) changed');
      this.#unavailable = reason;
    }
    return reason === null ? 'accept' : { status: 503, retryAfter: RETRY_AFTER_S };
  }

  /**
   * Calls on the phone network: one hung up and only waiting for its transcript (`ending`: the STT
   * flush, a deferred transcription) holds no SIP dialog or RTP port any more.
   */
  #onThePhone(): number {
    return this.#o.calls.active().filter((r) => r.state !== 'ending').length;
  }

  onInvite(call: IncomingCall): void {
    const auth = this.#auth;
    // Outsiders (allowFrom) get their 403 from admission, without a challenge.
    if (auth?.challenges('INVITE') && this.#o.admission.allowed(call.source.address)) {
      auth.check(call.request).then(
        (d) => this.#authenticated(call, auth, d),
        (err: unknown) => {
          this.#o.logger.error({ err }, 'checking credentials failed');
          if (call.state === 'offered') {
            call.reject(500);
          }
        },
      );
      return;
    }
    this.#admit(call, null);
  }

  /** The verdict on an INVITE's credentials: admission, a (new) challenge, or 403. */
  #authenticated(call: IncomingCall, auth: InboundAuth, d: AuthDecision): void {
    if (call.state !== 'offered') {
      return; // CANCELled while the credentials were checked
    }
    const { metrics, logger, calls } = this.#o;
    const source = call.source.address;
    switch (d.action) {
      case 'accept':
        this.#admit(call, d.username);
        return;
      case 'challenge':
        metrics.admissionRefused.inc({ reason: 'auth-required' });
        logger.debug({ source, reason: d.reason, stale: d.stale }, 'INVITE challenged (401)');
        call.challenge({ header: auth.challenge(d.stale) });
        return;
      case 'forbid':
        metrics.admissionRefused.inc({ reason: 'auth-failed' });
        call.reject(403);
        calls.refuse({ source, to: call.to, status: 403, reason: 'auth-failed' });
        logger.debug({ source, reason: d.reason, username: d.username }, 'INVITE credentials refused (403)');
        return;
    }
  }

  #admit(call: IncomingCall, user: string | null): void {
    const { admission, calls, pool } = this.#o;
    const source = call.source.address;
    const onThePhone = this.#onThePhone();
    const fromSource = this.sessions().filter(
      (s) => s.call.source.address === source && s.state !== 'ending' && s.state !== 'ended',
    ).length;
    let recording: { metadata: RecordingMetadata; streams: number } | null = null;
    if (call.recording) {
      recording = this.#readRecording(call);
      if (!recording) {
        return;
      }
    }
    // The STT capacity is checked here, not taken: the slot is taken at the ACK (CallSession).
    // A recording session needs one slot per stream; with fewer (`whenFull: "defer"`, pending
    // budget left) all its channels are deferred, so it never holds a slot while waiting for one.
    const sttHasSlot =
      pool.canAdmit() && (recording === null || (pool.freeSlots() ?? Infinity) >= recording.streams);
    const decision = admission.admitCall(source, onThePhone, sttHasSlot, fromSource);
    if (decision.action === 'reject') {
      call.reject(decision.status, decision.status === 503 ? { retryAfter: RETRY_AFTER_S } : {});
      calls.refuse({ source, to: call.to, status: decision.status, reason: decision.reason });
      return;
    }
    const record = calls.create(this.#meta(call));
    const log = calls.logger(record.id);
    log.info(
      { transport: call.transport, source: record.meta.source, ...(user === null ? {} : { user }) },
      'incoming call',
    );
    if (recording && call.recording) {
      const session = new RecordingSession(
        record.id,
        call,
        log,
        this.#o,
        call.recording.streams,
        recording.metadata,
      );
      this.#sessions.set(record.id, session);
      void session.done.then(() => this.#sessions.delete(record.id));
      void session.start({ deferred: decision.deferred });
      return;
    }
    const session = new CallSession(record.id, call, log, this.#o);
    this.#sessions.set(record.id, session);
    void session.done.then(() => this.#sessions.delete(record.id));
    void session.start({ ringMs: this.#o.config.sip.inbound.ringMs, deferred: decision.deferred });
  }

  /**
   * A recording session's metadata and stream count, or null after refusing it: `400` with the
   * reason in a Warning when the metadata is missing or malformed, `488` without a stream we can
   * receive (counted in the refused log as `bad-metadata` / `no-stream`).
   */
  #readRecording(call: IncomingCall): { metadata: RecordingMetadata; streams: number } | null {
    const { calls, logger } = this.#o;
    const rec = call.recording;
    const source = call.source.address;
    const refuse = (status: number, reason: string, why: string): null => {
      call.reject(status, {
        reason: status === 400 ? 'Bad Recording Metadata' : 'Not Acceptable Here',
        warning: `399 sipscribe "${why.replace(/["\\]/g, "'")}"`,
      });
      calls.refuse({ source, to: call.to, status, reason });
      logger.debug({ source, status, why }, 'recording session refused');
      return null;
    };
    if (!rec) {
      return null;
    }
    let metadata: RecordingMetadata;
    try {
      if (rec.metadataXml === undefined) {
        throw new SiprecMetadataError('SIPREC_ERR_XML', 'recording session without metadata');
      }
      metadata = parseMetadata(rec.metadataXml);
    } catch (err) {
      if (!(err instanceof SiprecMetadataError)) {
        throw err;
      }
      return refuse(400, 'bad-metadata', err.message);
    }
    if (rec.streams.length === 0) {
      return refuse(488, 'no-stream', 'no audio stream we can receive');
    }
    return { metadata, streams: Math.min(rec.streams.length, MAX_RECORDED_STREAMS) };
  }

  /**
   * An INVITE the SIP stack refused before `onInvite` (488: no PCMU/PCMA in the offer; 400 bad
   * SDP; the request checks): counted in the calls by outcome and in the refused log (per source
   * and reason), without a call record.
   */
  onRefused(call: InviteSummary, status: number, reason: RefusalReason): void {
    this.#o.calls.refuse({ source: call.source.address, to: call.to, status, reason });
  }

  #meta(call: InviteSummary): CallMeta {
    return {
      sipCallId: call.callId,
      from: fromHeader(call),
      to: call.to,
      account: this.#o.accountFor?.(call) ?? null,
      transport: call.transport,
      codec: null,
      source: formatSource(call.source.address, call.source.port),
    };
  }

  /**
   * Drain: waits until every call in progress has ended by itself (the caller's BYE, a CANCEL, an
   * RTP timeout…) and its transcript is flushed, at most `timeoutMs`. New calls must already be
   * refused (`Admission.stopAccepting`). Resolves true when none is left; `cut` resolving ends
   * the wait early (a second SIGTERM).
   */
  async drained(timeoutMs: number, cut?: Promise<void>): Promise<boolean> {
    const sessions = this.sessions();
    if (sessions.length === 0) {
      return true;
    }
    if (timeoutMs <= 0) {
      return false;
    }
    this.#o.logger.info({ calls: sessions.length, timeoutMs }, 'draining: waiting for the calls in progress');
    const all = Promise.all(sessions.map((s) => s.done)).then(() => true);
    const late = await this.#late(cut ? Promise.race([all, cut]) : all, timeoutMs);
    if (late || this.size > 0) {
      this.#o.logger.warn({ calls: this.size }, 'drain ended: ending the calls left');
      return false;
    }
    return true;
  }

  /**
   * Ends every call through the STT flush (reason `shutdown`), waiting at most `deadlineMs`; calls
   * still flushing then are cut (their transcript as it stands is published).
   */
  async shutdown(deadlineMs: number): Promise<void> {
    const sessions = this.sessions();
    if (sessions.length === 0) {
      return;
    }
    this.#o.logger.info({ calls: sessions.length, deadlineMs }, 'ending active calls');
    const all = Promise.all(sessions.map((s) => s.end('shutdown')));
    if (await this.#late(all, deadlineMs)) {
      this.#o.logger.warn({ calls: this.size }, 'shutdown deadline passed: cutting the STT flush');
      for (const s of this.sessions()) {
        s.abort();
      }
      await this.#late(all, 2000);
    }
  }

  /** Waits for `p` at most `ms`; true when the time ran out first. */
  async #late(p: Promise<unknown>, ms: number): Promise<boolean> {
    const { clock } = this.#o;
    let timer: ReturnType<typeof clock.setTimeout> | undefined;
    const late = await Promise.race([
      p.then(() => false),
      new Promise<boolean>((r) => (timer = clock.setTimeout(() => r(true), ms))),
    ]);
    if (timer !== undefined) {
      clock.clearTimeout(timer);
    }
    return late;
  }
}
