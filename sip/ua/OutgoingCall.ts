/**
 * The UAC side of a call (RFC 3261 §13.2, §9.1, §15): INVITE with our SDP offer, ACK for the 2xx
 * (re-sent for retransmitted 2xx), CANCEL before the answer, BYE, and BYE from the peer. A 2xx
 * from another fork of the INVITE is ACKed and that dialog ended with BYE (§13.2.2.4).
 */
import { DigestClient, type DigestAccount } from '../auth/DigestClient.js';
import { Dialog, isSipsUri } from '../dialog/Dialog.js';
import { CallRejectedError, SipStateError } from '../errors.js';
import { createCancel, createRequest, createResponse, newCallId, newTag } from '../message/build.js';
import { serialize, type HeaderField, type SipRequest, type SipResponse } from '../message/SipMessage.js';
import type { MediaDescription } from '../sdp/media.js';
import type { SrtpPolicy } from '../sdp/crypto.js';
import type { LocalMedia } from '../sdp/offerAnswer.js';
import type { ServerTransaction } from '../transaction/ServerTransaction.js';
import type { Flow, Target, TransportProtocol } from '../transport/types.js';
import { parseDtmfRelay } from './dtmf.js';
import { readSessionBody } from './recording.js';
import { Reliable2xx } from './Reliable2xx.js';
import { SdpSession } from './SdpSession.js';
import { CallEvents, type CallHost, type DialogUser, type EndReason } from './types.js';

export { CallRejectedError };

export interface DialOptions {
  /** Request-URI / To (e.g. `sip:alice@127.0.0.1:5062`). */
  to: string;
  /** From URI (default `sip:sipscribe@<our address>`). */
  from?: string;
  /** Where to send (outbound proxy URI or host:port); default: the `to` URI. */
  target?: string;
  transport?: TransportProtocol;
  /** Our RTP address and port for the offer. */
  local: LocalMedia;
  headers?: readonly HeaderField[];
  /** Credentials for 401/407 challenges to the INVITE (and BYE), RFC 3261 §22.2. */
  auth?: DigestAccount;
  /**
   * SRTP of our offer (SDES, the stack's `srtpSuites`): `off` (default) plain RTP/AVP, `optional`
   * RTP/AVP with a=crypto (best effort), `required` RTP/SAVP.
   */
  srtp?: SrtpPolicy;
}

type OutgoingCallState = 'calling' | 'early' | 'confirmed' | 'ended';

const TRANSITIONS: Readonly<Record<OutgoingCallState, readonly OutgoingCallState[]>> = {
  calling: ['early', 'confirmed', 'ended'],
  early: ['confirmed', 'ended'],
  confirmed: ['ended'],
  ended: [],
};

export class OutgoingCall extends CallEvents implements DialogUser {
  readonly callId = newCallId();
  readonly localTag = newTag();
  /** Resolves with the remote media of the 2xx answer; rejects with {@link CallRejectedError}. */
  readonly answered: Promise<MediaDescription>;
  readonly #host: CallHost;
  readonly #opts: DialOptions;
  readonly #target: Target;
  #state: OutgoingCallState = 'calling';
  #invite: SipRequest | undefined;
  #flow: Flow | undefined;
  /** Our Contact (a SIPS URI when we dial a `sips:` URI over TLS). */
  #contact = '';
  #dialog: Dialog | undefined;
  #ack: Buffer | undefined;
  /** Dialogs of other forks we ended, by To tag: their ACK, re-sent for their retransmitted 2xx. */
  readonly #forks = new Map<string, { ack?: Buffer; flow?: Flow }>();
  #cancelRequested = false;
  #from = '';
  readonly #sdp: SdpSession;
  #reliable: Reliable2xx | undefined;
  readonly #digest: DigestClient | undefined;
  #resolve!: (m: MediaDescription) => void;
  #reject!: (e: Error) => void;
  #endReason: EndReason | undefined;

  constructor(host: CallHost, opts: DialOptions, target: Target) {
    super();
    this.#host = host;
    this.#opts = opts;
    this.#target = target;
    this.#sdp = new SdpSession(host.codecs, { policy: opts.srtp ?? 'off', suites: host.srtpSuites });
    this.#digest = opts.auth ? new DigestClient(opts.auth) : undefined;
    this.answered = new Promise<MediaDescription>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Callers that only await `ended` must not see an unhandled rejection.
    this.answered.catch(() => undefined);
  }

  get state(): OutgoingCallState {
    return this.#state;
  }

  #to(next: OutgoingCallState): void {
    if (!TRANSITIONS[this.#state].includes(next)) {
      throw new SipStateError(`call ${this.callId}: ${this.#state} → ${next} is not allowed`);
    }
    this.#host.logger.debug({ callId: this.callId, from: this.#state, to: next }, 'call state');
    this.#state = next;
  }

  get endReason(): EndReason | undefined {
    return this.#endReason;
  }

  /** Sends the INVITE (called by SipStack.dial). */
  start(): void {
    void this.#send();
  }

  async #send(): Promise<void> {
    const host = this.#host;
    const tx = host.signalling;
    let flow: Flow;
    try {
      flow = await tx.flowFor(this.#target);
    } catch (err) {
      host.logger.info({ err, target: this.#target }, 'dial: transport failure');
      this.#fail(503, 'Service Unavailable', 'transport-error');
      return;
    }
    this.#flow = flow;
    // RFC 3261 §8.1.1.8: a SIPS Request-URI asks for a SIPS Contact (over TLS).
    this.#contact = host.contactFor(flow, flow.protocol === 'tls' && isSipsUri(this.#opts.to));
    const sb = tx.sentBy(flow);
    this.#from =
      this.#opts.from ?? `sip:sipscribe@${sb.address.includes(':') ? `[${sb.address}]` : sb.address}`;
    this.#sdp.offer(this.#opts.local);
    await this.#sendInvite(1, []);
  }

  /** One INVITE (a new transaction; CSeq + 1 and credentials after a 401/407, RFC 3261 §22.2). */
  async #sendInvite(cseq: number, auth: readonly HeaderField[]): Promise<void> {
    const host = this.#host;
    const flow = this.#flow;
    if (!flow) {
      return;
    }
    const invite = createRequest({
      method: 'INVITE',
      uri: this.#opts.to,
      from: `<${this.#from}>;tag=${this.localTag}`,
      to: `<${this.#opts.to}>`,
      callId: this.callId,
      cseq,
      contact: this.#contact,
      headers: [...host.commonHeaders('request'), ...(this.#opts.headers ?? []), ...auth],
      body: this.#sdp.sdp ?? '',
      contentType: 'application/sdp',
    });
    this.#invite = invite;
    try {
      await host.signalling.createClient(invite, flow, {
        onProvisional: (res) => this.#onProvisional(res),
        onFinal: (res) => this.#onFinal(res),
        onTimeout: () => this.#fail(408, 'Request Timeout', 'timeout'),
      });
    } catch {
      this.#fail(503, 'Service Unavailable', 'transport-error');
    }
  }

  /** Answers a 401/407 with credentials when we have them; true when a new INVITE went out. */
  #retryWithDigest(res: SipResponse): boolean {
    const invite = this.#invite;
    if (!this.#digest || !invite || (res.status !== 401 && res.status !== 407) || this.#cancelRequested) {
      return false;
    }
    const values = res.getAll(res.status === 401 ? 'www-authenticate' : 'proxy-authenticate');
    const outcome = this.#digest.respond(res.status, values, { method: 'INVITE', uri: invite.uri });
    if (outcome.kind !== 'retry') {
      this.#host.logger.info(
        { callId: this.callId, reason: outcome.reason },
        'dial: digest challenge not answered',
      );
      return false;
    }
    void this.#sendInvite(invite.cseq.seq + 1, outcome.headers);
    return true;
  }

  #onProvisional(res: SipResponse): void {
    if (this.#state === 'calling' && res.status > 100) {
      this.#to('early');
    }
    if (this.#cancelRequested && res.status >= 100) {
      this.#sendCancel();
    }
  }

  #onFinal(res: SipResponse): void {
    const invite = this.#invite;
    const flow = this.#flow;
    if (!invite || !flow) {
      return;
    }
    if (res.status >= 300) {
      if (this.#retryWithDigest(res)) {
        return;
      }
      this.#fail(res.status, res.reason, this.#cancelRequested && res.status === 487 ? 'cancel' : 'rejected');
      return;
    }
    if (this.#dialog) {
      if (res.toTag === this.#dialog.remoteTag) {
        this.onRetransmitted2xx();
      } else {
        this.#endFork(invite, res, flow);
      }
      return;
    }
    this.#digest?.accepted();
    const dialog = Dialog.fromResponse(invite, res, flow, this.#contact);
    if (this.#state === 'ended') {
      // A 2xx after we gave up (timeout, CANCEL race): ACK it, then end the dialog (§15).
      this.#dialog = dialog;
      this.#ackAndBye(dialog, flow, (ack) => {
        this.#ack = ack;
      });
      return;
    }
    this.#dialog = dialog;
    this.#host.addDialog(dialog, this);
    const ack = dialog.createRequest('ACK', { cseq: invite.cseq.seq });
    void this.#host.signalling
      .sendStateless(ack, dialog.nextHop() ?? flow)
      .then(() => {
        this.#ack = serialize(ack);
      })
      .catch((err: unknown) => this.#host.logger.debug({ err }, 'ACK not sent'));
    this.#to('confirmed');
    if (this.#cancelRequested) {
      void this.hangup();
    }
    try {
      this.#resolve(this.#sdp.readAnswer(res.bodyText));
    } catch (err) {
      this.#reject(err instanceof Error ? err : new Error(String(err)));
      void this.hangup('error');
    }
  }

  /**
   * A 2xx from another fork (another To tag) after the first one made our dialog (RFC 3261
   * §13.2.2.4): we keep one call, so that fork's dialog is ACKed and ended with BYE at once. Its
   * retransmissions (the transaction passes every 2xx up until Timer M, RFC 6026 §7.2) are
   * ACKed again, without a second BYE.
   */
  #endFork(invite: SipRequest, res: SipResponse, flow: Flow): void {
    const tag = res.toTag ?? '';
    const known = this.#forks.get(tag);
    if (known) {
      if (known.ack && known.flow) {
        known.flow.send(known.ack);
      }
      return;
    }
    const entry: { ack?: Buffer; flow?: Flow } = {};
    this.#forks.set(tag, entry);
    this.#host.logger.info({ callId: this.callId, toTag: tag }, 'dial: 2xx from another fork, ending it');
    this.#ackAndBye(Dialog.fromResponse(invite, res, flow, this.#contact), flow, (ack, sentOn) => {
      entry.ack = ack;
      entry.flow = sentOn;
    });
  }

  /** ACKs the 2xx that made `dialog`, then ends that dialog with BYE (§13.2.2.4, §15). */
  #ackAndBye(dialog: Dialog, flow: Flow, acked: (ack: Buffer, sentOn: Flow) => void): void {
    const tx = this.#host.signalling;
    const ack = dialog.createRequest('ACK', { cseq: dialog.localSeq });
    const hop = dialog.nextHop() ?? flow;
    const bye = dialog.createRequest('BYE', { headers: this.#host.commonHeaders('request') });
    void tx
      .sendStateless(ack, hop)
      .then((sentOn) => {
        acked(serialize(ack), sentOn);
        return tx.request(bye, sentOn);
      })
      .catch((err: unknown) =>
        this.#host.logger.debug({ err, callId: this.callId }, 'ACK/BYE to a 2xx not sent'),
      );
  }

  /** Re-sends the ACK for a retransmitted 2xx (RFC 3261 §13.2.2.4). */
  onRetransmitted2xx(): void {
    const hop = this.#dialog?.nextHop();
    if (this.#ack && hop) {
      if ('send' in hop) {
        hop.send(this.#ack);
      } else {
        void this.#host.signalling.flowFor(hop).then(
          (f) => this.#ack && f.send(this.#ack),
          () => undefined,
        );
      }
    }
  }

  /** Gives up before the answer (CANCEL, RFC 3261 §9.1); BYE if it was answered meanwhile. */
  cancel(): void {
    if (this.#state === 'confirmed') {
      void this.hangup();
      return;
    }
    if (this.#state === 'ended' || this.#cancelRequested) {
      return;
    }
    this.#cancelRequested = true;
    if (this.#state === 'early') {
      this.#sendCancel();
    }
  }

  #sendCancel(): void {
    const invite = this.#invite;
    const flow = this.#flow;
    if (!invite || !flow || this.#state === 'ended') {
      return;
    }
    const cancel = createCancel(invite);
    // Same branch as the INVITE (§9.1): createClient keeps a Via that is already there.
    void this.#host.signalling
      .createClient(cancel, flow, { onFinal: () => undefined, onTimeout: () => undefined })
      .catch(() => undefined);
  }

  /** Sends BYE (after the answer) or CANCEL (before it). */
  async hangup(reason: EndReason = 'bye-local'): Promise<void> {
    if (this.#state === 'calling' || this.#state === 'early') {
      this.cancel();
      return;
    }
    const dialog = this.#dialog;
    if (this.#state !== 'confirmed' || !dialog) {
      return;
    }
    this.#end(reason);
    const hop = dialog.nextHop();
    if (!hop) {
      return;
    }
    try {
      const bye = dialog.createRequest('BYE', { headers: this.#host.commonHeaders('request') });
      // The digest-uri is the Request-URI as sent (the first route under strict routing).
      for (const h of this.#digest?.authorize({ method: 'BYE', uri: bye.uri }) ?? []) {
        bye.add(h.name, h.value);
      }
      await this.#host.signalling.request(bye, hop);
    } catch (err) {
      this.#host.logger.debug({ err }, 'BYE got no answer');
    }
  }

  async shutdown(): Promise<void> {
    await this.hangup('shutdown');
  }

  onDialogRequest(req: SipRequest, tx: ServerTransaction | undefined): void {
    if (!tx) {
      if (req.method === 'ACK') {
        this.#reliable?.ack(req);
      }
      return;
    }
    const dialog = this.#dialog;
    if (!dialog || this.#state === 'ended') {
      tx.respond(createResponse(req, 481));
      return;
    }
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200));
        this.#end('bye-remote');
        return;
      case 'INFO': {
        const ev = parseDtmfRelay(req.bodyText);
        tx.respond(createResponse(req, 200));
        if (ev) {
          this.emit('dtmf', ev);
        }
        return;
      }
      case 'OPTIONS':
        tx.respond(createResponse(req, 200, { headers: this.#host.commonHeaders('response') }));
        return;
      case 'INVITE':
      case 'UPDATE':
        this.#onModify(req, tx);
        return;
      default:
        tx.respond(createResponse(req, 501, { headers: this.#host.commonHeaders('response') }));
    }
  }

  /**
   * re-INVITE / UPDATE from the callee (hold, new address, session refresh as PBXs send them):
   * answered with our media for a new offer, or 200 with our current SDP for a refresh. Session
   * timers are not run on outgoing calls (the callee refreshes or not; see sip/README.md).
   */
  #onModify(req: SipRequest, tx: ServerTransaction): void {
    const headers: HeaderField[] = [
      ...this.#host.commonHeaders('response'),
      { name: 'Contact', value: this.#contact },
    ];
    const se = req.get('session-expires');
    if (se !== undefined) {
      headers.push({ name: 'Session-Expires', value: se });
    }
    const ok = createResponse(req, 200, { headers });
    const reoffer = this.#sdp.reoffer(req, ok, readSessionBody(req, false).sdp);
    if (reoffer.refused) {
      // A final non-2xx: the INVITE server transaction retransmits it and absorbs the ACK
      // (RFC 3261 §17.2.1); the session stays as it was.
      tx.respond(createResponse(req, 488));
      return;
    }
    tx.respond(ok);
    this.#dialog?.refreshTarget(req); // RFC 3261 §12.2.2: an accepted target refresh
    if (reoffer.remote) {
      this.emit('mediaUpdated', reoffer.remote);
    }
    if (req.method === 'INVITE') {
      const flow = this.#flow ?? tx.flow;
      this.#reliable ??= new Reliable2xx(this.#host, flow);
      this.#reliable.start(
        req.cseq.seq,
        ok,
        () => undefined,
        () => void this.hangup('ack-timeout'),
      );
    }
  }

  #fail(status: number, reason: string, end: EndReason): void {
    if (this.#state === 'ended') {
      return;
    }
    this.#reject(new CallRejectedError(status, reason));
    this.#end(end);
  }

  #end(reason: EndReason): void {
    if (this.#state === 'ended') {
      return;
    }
    this.#to('ended');
    this.#endReason = reason;
    this.#reliable?.stop();
    if (this.#dialog) {
      this.#host.removeDialog(this.#dialog);
    }
    this.emit('ended', reason);
  }
}
