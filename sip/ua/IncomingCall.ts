/**
 * The UAS side of one INVITE and the dialog it creates (RFC 3261 §13.3, §14, §15; RFC 6026;
 * RFC 3311 UPDATE; RFC 4028 session timers; INFO with application/dtmf-relay). src/ decides what
 * to do with it (`ring`, `answer`, `reject`, `challenge`) and hears `ended`, `mediaUpdated` and
 * `dtmf` events.
 */
import { randomInt } from 'node:crypto';
import { Dialog } from '../dialog/Dialog.js';
import { SdpError, SipStateError } from '../errors.js';
import { createResponse, newTag } from '../message/build.js';
import { setBody, type HeaderField, type SipRequest, type SipResponse } from '../message/SipMessage.js';
import type { MediaDescription } from '../sdp/media.js';
import { answerOffer, createOffer, describeOffer, readAnswer, type LocalMedia } from '../sdp/offerAnswer.js';
import type { InviteServerTransaction, ServerTransaction } from '../transaction/ServerTransaction.js';
import type { Flow, HostPort, TransportProtocol } from '../transport/types.js';
import { inspectInfo } from './dtmf.js';
import { sendRefresh } from './refresh.js';
import { Reliable2xx } from './Reliable2xx.js';
import {
  parseSessionExpires,
  sessionExpiresAnswer,
  SessionTimer,
  type Refresher,
  type SessionExpires,
} from './sessionTimer.js';
import { CallEvents, type CallHost, type DialogUser, type EndReason } from './types.js';

export type IncomingCallState = 'offered' | 'ringing' | 'answered' | 'confirmed' | 'ended';

const TRANSITIONS: Readonly<Record<IncomingCallState, readonly IncomingCallState[]>> = {
  offered: ['ringing', 'answered', 'ended'],
  ringing: ['answered', 'ended'],
  answered: ['confirmed', 'ended'],
  confirmed: ['ended'],
  ended: [],
};

export interface RejectOptions {
  reason?: string;
  /** Seconds, for 503/486/480 (RFC 3261 §20.33). */
  retryAfter?: number;
  /** A Warning header value (e.g. `399 host "text"`). */
  warning?: string;
  headers?: readonly HeaderField[];
}

export interface ChallengeOptions {
  /** The WWW-Authenticate / Proxy-Authenticate value(s) (from sip/auth's `DigestVerifier.challenge()`). */
  header: string | readonly string[];
  /** 407 with Proxy-Authenticate instead of 401 with WWW-Authenticate. */
  proxy?: boolean;
}

export class IncomingCall extends CallEvents implements DialogUser {
  readonly callId: string;
  /** From URI and display name. */
  readonly from: string;
  readonly fromDisplayName: string | undefined;
  /** To URI (the user called). */
  readonly to: string;
  readonly transport: TransportProtocol;
  readonly source: HostPort;
  /** The caller's media from the offer, or undefined for a late offer (INVITE without SDP). */
  readonly offer: MediaDescription | undefined;
  /** Why the INVITE's SDP could not be read (the stack then answers 400), if it could not. */
  readonly offerError: SdpError | undefined;
  /** The INVITE (for Authorization headers and anything else policy needs). */
  readonly request: SipRequest;
  readonly localTag = newTag();
  readonly #tx: InviteServerTransaction;
  readonly #host: CallHost;
  readonly #flow: Flow;
  readonly #reliable: Reliable2xx;
  readonly #session: SessionTimer;
  readonly #sessionId = String(randomInt(1, 2 ** 31));
  #sdpVersion = 1;
  #state: IncomingCallState = 'offered';
  #dialog: Dialog | undefined;
  #local: LocalMedia | undefined;
  #localSdp: string | undefined;
  #remote: MediaDescription | undefined;
  #pendingBye = false;
  #refreshing = false;
  #se: SessionExpires | undefined;
  #refresher: Refresher | undefined;
  #endReason: EndReason | undefined;
  #settle!: () => void;
  /** Resolves once the INVITE got its final response (answered, rejected or cancelled). */
  readonly settled: Promise<void> = new Promise((resolve) => {
    this.#settle = resolve;
  });

  constructor(invite: SipRequest, tx: InviteServerTransaction, flow: Flow, host: CallHost) {
    super();
    this.request = invite;
    this.#tx = tx;
    this.#flow = flow;
    this.#host = host;
    this.#reliable = new Reliable2xx(host, flow);
    this.#session = new SessionTimer(host.clock);
    this.callId = invite.callId;
    const from = invite.from;
    this.from = from?.uri.raw ?? '';
    this.fromDisplayName = from?.displayName;
    this.to = invite.to?.uri.raw ?? '';
    this.transport = flow.protocol;
    this.source = flow.remote;
    let offer: MediaDescription | undefined;
    try {
      offer = invite.body.length > 0 ? describeOffer(invite.bodyText, host.codecs) : undefined;
    } catch (err) {
      if (!(err instanceof SdpError)) {
        throw err;
      }
      this.offerError = err;
    }
    this.offer = offer;
    this.#se = parseSessionExpires(invite.get('session-expires'));
  }

  get state(): IncomingCallState {
    return this.#state;
  }

  /** The negotiated remote media once answered. */
  get remoteMedia(): MediaDescription | undefined {
    return this.#remote;
  }

  /** Why the call ended, once ended. */
  get endReason(): EndReason | undefined {
    return this.#endReason;
  }

  /** Session-timer interval in force (seconds), or undefined. */
  get sessionExpires(): { interval: number; refresher: Refresher } | undefined {
    return this.#se && this.#refresher
      ? { interval: this.#se.interval, refresher: this.#refresher }
      : undefined;
  }

  #to(next: IncomingCallState): void {
    if (!TRANSITIONS[this.#state].includes(next)) {
      throw new SipStateError(`call ${this.callId}: ${this.#state} → ${next} is not allowed`);
    }
    this.#host.logger.debug({ callId: this.callId, from: this.#state, to: next }, 'call state');
    this.#state = next;
  }

  #response(status: number, extra: readonly HeaderField[] = [], reason?: string): SipResponse {
    const res = createResponse(this.request, status, {
      toTag: this.localTag,
      headers: [...this.#host.commonHeaders('response'), ...extra],
      ...(reason !== undefined ? { reason } : {}),
    });
    return res;
  }

  /** Sends 180 Ringing (with our To tag and Contact). */
  ring(): void {
    if (this.#state !== 'offered') {
      throw new SipStateError(`ring() in state ${this.#state}`);
    }
    this.#to('ringing');
    this.#tx.respond(this.#response(180, [{ name: 'Contact', value: this.#host.contactFor(this.#flow) }]));
  }

  /** Rejects the INVITE with a final status ≥ 300 (486, 503 + Retry-After, 403, 480, 603, ...). */
  reject(status: number, opts: RejectOptions = {}): void {
    if (this.#state !== 'offered' && this.#state !== 'ringing') {
      throw new SipStateError(`reject() in state ${this.#state}`);
    }
    if (status < 300 || status > 699) {
      throw new RangeError(`reject status must be 300–699, got ${status}`);
    }
    const extra: HeaderField[] = [...(opts.headers ?? [])];
    if (opts.retryAfter !== undefined) {
      extra.push({ name: 'Retry-After', value: String(opts.retryAfter) });
    }
    if (opts.warning !== undefined) {
      extra.push({ name: 'Warning', value: opts.warning });
    }
    this.#tx.respond(this.#response(status, extra, opts.reason));
    this.#end('rejected');
  }

  /** Challenges the caller for credentials: 401 (WWW-Authenticate) or 407 (Proxy-Authenticate). */
  challenge(opts: ChallengeOptions): void {
    const name = opts.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
    const values = typeof opts.header === 'string' ? [opts.header] : opts.header;
    this.reject(opts.proxy ? 407 : 401, { headers: values.map((value) => ({ name, value })) });
  }

  /**
   * Answers with 200 OK and our SDP for `local` (where we receive RTP). Resolves with the
   * negotiated remote media: at once for an offer in the INVITE, on the ACK for a late offer.
   * When no codec is acceptable it answers 488 with a Warning and rejects (SDP_ERR_NO_CODEC).
   */
  answer(local: LocalMedia): Promise<MediaDescription> {
    if (this.#state !== 'offered' && this.#state !== 'ringing') {
      return Promise.reject(new SipStateError(`answer() in state ${this.#state}`));
    }
    const ids = { sessionId: this.#sessionId, version: this.#sdpVersion };
    let sdp: string;
    let remote: MediaDescription | undefined;
    if (this.request.body.length > 0) {
      try {
        ({ sdp, remote } = answerOffer(this.request.bodyText, this.#host.codecs, local, ids));
      } catch (err) {
        this.reject(488, { warning: `305 ${this.#flow.local.address} "Incompatible media format"` });
        return Promise.reject(err instanceof SdpError ? err : new SdpError('SDP_ERR_PARSE', String(err)));
      }
    } else {
      sdp = createOffer(this.#host.codecs, local, ids);
    }
    this.#local = local;
    this.#localSdp = sdp;
    const extra: HeaderField[] = [{ name: 'Contact', value: this.#host.contactFor(this.#flow) }];
    extra.push(...this.#sessionHeaders(this.request));
    const ok = this.#response(200, extra);
    setBody(ok, sdp, 'application/sdp');
    this.#dialog = Dialog.fromInvite(
      this.request,
      this.localTag,
      this.#flow,
      this.#host.contactFor(this.#flow),
    );
    this.#host.addDialog(this.#dialog, this);
    this.#to('answered');
    this.#tx.respond(ok);
    this.#settle();
    return new Promise<MediaDescription>((resolve, reject) => {
      this.#start2xx(this.request.cseq.seq, ok, (ack) => {
        if (remote !== undefined) {
          return;
        }
        try {
          this.#remote = readAnswer(ack.bodyText, this.#host.codecs);
          resolve(this.#remote);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          void this.#bye('error');
        }
      });
      if (remote !== undefined) {
        this.#remote = remote;
        resolve(remote);
      } else {
        this.on('ended', () => reject(new SipStateError('call ended before the ACK brought an answer')));
      }
    });
  }

  /** Ends the call: BYE once confirmed (after the ACK, RFC 3261 §15), 480 before answering. */
  async hangup(): Promise<void> {
    switch (this.#state) {
      case 'offered':
      case 'ringing':
        this.reject(480);
        return;
      case 'answered':
        this.#pendingBye = true;
        return;
      case 'confirmed':
        await this.#bye('bye-local');
        return;
      case 'ended':
        return;
    }
  }

  /** Stack shutdown: BYE or 503. */
  async shutdown(): Promise<void> {
    if (this.#state === 'offered' || this.#state === 'ringing') {
      this.reject(503);
    } else if (this.#state !== 'ended') {
      await this.#bye('shutdown');
    }
  }

  /** CANCEL for our INVITE (RFC 3261 §9.2): 487 if not answered yet. */
  onCancel(): void {
    if (this.#state === 'offered' || this.#state === 'ringing') {
      this.#tx.respond(this.#response(487));
      this.#end('cancel');
    }
  }

  // ---- 2xx reliability (RFC 3261 §13.3.1.4, RFC 6026) -------------------------------------

  #start2xx(cseq: number, res: SipResponse, onAck?: (ack: SipRequest) => void): void {
    this.#reliable.start(
      cseq,
      res,
      (ack) => {
        if (this.#state === 'answered') {
          this.#to('confirmed');
          this.#startSessionTimer();
        }
        onAck?.(ack);
        if (this.#pendingBye) {
          this.#pendingBye = false;
          void this.#bye('bye-local');
        }
      },
      () => {
        this.#host.logger.info({ callId: this.callId }, 'no ACK for our 2xx: ending the call');
        void this.#bye('ack-timeout');
      },
    );
  }

  // ---- in-dialog requests ------------------------------------------------------------------

  onDialogRequest(req: SipRequest, tx: ServerTransaction | undefined): void {
    if (req.method === 'ACK') {
      this.#reliable.ack(req);
      return;
    }
    if (!tx) {
      return;
    }
    const dialog = this.#dialog;
    if (!dialog || this.#state === 'ended') {
      tx.respond(createResponse(req, 481));
      return;
    }
    if (req.cseq.seq <= dialog.remoteSeq) {
      tx.respond(createResponse(req, 500, { reason: 'CSeq Out of Order' }));
      return;
    }
    dialog.remoteSeq = req.cseq.seq;
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200, { headers: this.#host.commonHeaders('response') }));
        this.#end('bye-remote');
        return;
      case 'INVITE':
      case 'UPDATE':
        this.#onModify(req, tx);
        return;
      case 'INFO':
        this.#onInfo(req, tx);
        return;
      case 'OPTIONS':
        tx.respond(createResponse(req, 200, { headers: this.#host.commonHeaders('response') }));
        return;
      default:
        tx.respond(createResponse(req, 501, { headers: this.#host.commonHeaders('response') }));
    }
  }

  #onInfo(req: SipRequest, tx: ServerTransaction): void {
    const { status, reason, accept, event } = inspectInfo(req);
    tx.respond(
      createResponse(req, status, {
        ...(reason !== undefined ? { reason } : {}),
        ...(accept !== undefined ? { headers: [{ name: 'Accept', value: accept }] } : {}),
      }),
    );
    if (event) {
      this.emit('dtmf', event);
    }
  }

  /** re-INVITE or UPDATE: new offer (hold/unhold, new address), or a session refresh. */
  #onModify(req: SipRequest, tx: ServerTransaction): void {
    if (this.#refreshing) {
      tx.respond(createResponse(req, 491));
      return;
    }
    if (req.method === 'INVITE' && this.#reliable.pending) {
      tx.respond(createResponse(req, 500, { headers: [{ name: 'Retry-After', value: '1' }] }));
      return;
    }
    const se = parseSessionExpires(req.get('session-expires'));
    if (se && se.interval < this.#host.sessionTimer.minSE) {
      tx.respond(
        createResponse(req, 422, {
          headers: [{ name: 'Min-SE', value: String(this.#host.sessionTimer.minSE) }],
        }),
      );
      return;
    }
    const extra: HeaderField[] = [
      ...this.#host.commonHeaders('response'),
      { name: 'Contact', value: this.#host.contactFor(this.#flow) },
    ];
    if (se) {
      this.#se = se;
    }
    extra.push(...this.#sessionHeaders(req));
    const ok = createResponse(req, 200, { headers: extra });
    let updated: MediaDescription | undefined;
    const local = this.#local;
    if (req.body.length > 0 && local) {
      try {
        const ids = { sessionId: this.#sessionId, version: ++this.#sdpVersion };
        const { sdp, remote } = answerOffer(req.bodyText, this.#host.codecs, local, ids);
        this.#localSdp = sdp;
        updated = remote;
        setBody(ok, sdp, 'application/sdp');
      } catch {
        tx.respond(
          createResponse(req, 488, {
            headers: [
              { name: 'Warning', value: `305 ${this.#flow.local.address} "Incompatible media format"` },
            ],
          }),
        );
        return;
      }
    } else if (req.method === 'INVITE' && this.#localSdp !== undefined) {
      // re-INVITE without an offer: we offer (our current SDP) and take the answer from the ACK.
      setBody(ok, this.#localSdp, 'application/sdp');
    }
    tx.respond(ok);
    if (req.method === 'INVITE') {
      this.#start2xx(req.cseq.seq, ok, (ack) => {
        if (req.body.length === 0 && ack.body.length > 0) {
          this.#applyRemote(readAnswerSafe(ack.bodyText, this.#host.codecs));
        }
      });
    }
    if (this.#state === 'confirmed') {
      this.#startSessionTimer();
    }
    if (updated) {
      this.#applyRemote(updated);
    }
  }

  #applyRemote(desc: MediaDescription | undefined): void {
    if (!desc) {
      return;
    }
    this.#remote = desc;
    this.emit('mediaUpdated', desc);
  }

  // ---- session timers (RFC 4028) -----------------------------------------------------------

  /** Session-Expires/Require for a 2xx to `req` (RFC 4028 §9). */
  #sessionHeaders(req: SipRequest): HeaderField[] {
    if (!this.#se) {
      return [];
    }
    const { refresher, headers } = sessionExpiresAnswer(this.#se, req);
    this.#refresher = refresher;
    return headers;
  }

  #startSessionTimer(): void {
    const se = this.#se;
    if (!se || !this.#refresher) {
      return;
    }
    this.#session.start(
      se.interval,
      this.#refresher === 'uas',
      () => void this.#refresh(),
      () => {
        this.#host.logger.info({ callId: this.callId }, 'session expired without refresh');
        void this.#bye('session-expired');
      },
    );
  }

  /** We are the refresher: UPDATE when the peer allows it, else re-INVITE with our SDP (§7.4). */
  async #refresh(): Promise<void> {
    const dialog = this.#dialog;
    const se = this.#se;
    if (!dialog || !se || this.#state !== 'confirmed') {
      return;
    }
    const hop = dialog.nextHop();
    if (!hop) {
      return;
    }
    const useUpdate = this.request.getAll('allow').some((m) => m.toUpperCase() === 'UPDATE');
    const headers: HeaderField[] = [
      ...this.#host.commonHeaders('request'),
      { name: 'Session-Expires', value: `${se.interval};refresher=uas` },
    ];
    this.#refreshing = true;
    try {
      this.#refreshed(
        await sendRefresh(this.#host.transactions, dialog, hop, { useUpdate, headers, sdp: this.#localSdp }),
      );
    } finally {
      this.#refreshing = false;
    }
  }

  #refreshed(status: number): void {
    if (this.#state !== 'confirmed') {
      return;
    }
    if (status >= 200 && status < 300) {
      this.#startSessionTimer();
    } else if (status === 408 || status === 481 || status >= 500) {
      void this.#bye('session-expired');
    } else {
      this.#startSessionTimer();
    }
  }

  // ---- ending ------------------------------------------------------------------------------

  async #bye(reason: EndReason): Promise<void> {
    const dialog = this.#dialog;
    if (this.#state === 'ended') {
      return;
    }
    this.#end(reason);
    const hop = dialog?.nextHop();
    if (!dialog || !hop) {
      return;
    }
    try {
      await this.#host.transactions.request(
        dialog.createRequest('BYE', { headers: this.#host.commonHeaders('request') }),
        hop,
      );
    } catch (err) {
      this.#host.logger.debug({ err, callId: this.callId }, 'BYE got no answer');
    }
  }

  #end(reason: EndReason): void {
    if (this.#state === 'ended') {
      return;
    }
    this.#to('ended');
    this.#settle();
    this.#endReason = reason;
    this.#reliable.stop();
    this.#session.stop();
    if (this.#dialog) {
      this.#host.removeDialog(this.#dialog);
    }
    this.emit('ended', reason);
  }
}

function readAnswerSafe(sdp: string, codecs: CallHost['codecs']): MediaDescription | undefined {
  try {
    return readAnswer(sdp, codecs);
  } catch {
    return undefined;
  }
}
