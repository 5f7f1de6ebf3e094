/**
 * The UAS side of one INVITE and the dialog it creates (RFC 3261 §13.3, §14, §15; RFC 6026;
 * RFC 3311 UPDATE; RFC 4028 session timers; INFO with application/dtmf-relay). src/ decides what
 * to do with it (`ring`, `answer`, `reject`, `challenge`) and hears `confirmed` (the ACK),
 * `ended`, `mediaUpdated` and `dtmf` events.
 */
import { Dialog, secureDialog } from '../dialog/Dialog.js';
import { SdpError, SipBodyError, SipStateError } from '../errors.js';
import { createResponse, newTag } from '../message/build.js';
import { setBody, type HeaderField, type SipRequest, type SipResponse } from '../message/SipMessage.js';
import { formatHost } from '../message/uri.js';
import type { MediaDescription } from '../sdp/media.js';
import { describeStreams, type LocalMedia, type OfferedStream } from '../sdp/offerAnswer.js';
import type { InviteServerTransaction, ServerTransaction } from '../transaction/ServerTransaction.js';
import type { Flow, HostPort, TransportProtocol } from '../transport/types.js';
import { sendRefresh } from './refresh.js';
import { Reliable2xx } from './Reliable2xx.js';
import { sdpRefusal, SdpSession } from './SdpSession.js';
import { parseSessionExpires, UasSessionTimer, type Refresher } from './sessionTimer.js';
import { CallEvents, type CallHost, type DialogUser, type EndReason } from './types.js';
import { isRecordingRequest, readSessionBody, type RecordingSession } from './recording.js';
import { onUasDialogRequest, type UasDialogContext } from './uasInDialog.js';

type IncomingCallState = 'offered' | 'ringing' | 'answered' | 'confirmed' | 'ended';

const TRANSITIONS: Readonly<Record<IncomingCallState, readonly IncomingCallState[]>> = {
  offered: ['ringing', 'answered', 'ended'],
  ringing: ['answered', 'ended'],
  answered: ['confirmed', 'ended'],
  confirmed: ['ended'],
  ended: [],
};

interface RejectOptions {
  reason?: string;
  /** Seconds, for 503/486/480 (RFC 3261 §20.33). */
  retryAfter?: number;
  /** A Warning header value (e.g. `399 host "text"`). */
  warning?: string;
  headers?: readonly HeaderField[];
}

interface ChallengeOptions {
  /** The WWW-Authenticate / Proxy-Authenticate value(s) (from sip/auth's `DigestVerifier.challenge()`). */
  header: string | readonly string[];
  /** 407 with Proxy-Authenticate instead of 401 with WWW-Authenticate. */
  proxy?: boolean;
}

/** Who called whom, and how: what an application records about an INVITE, answered or not. */
export interface InviteSummary {
  readonly callId: string;
  /** From URI and display name. */
  readonly from: string;
  readonly fromDisplayName: string | undefined;
  /** To URI (the user called). */
  readonly to: string;
  readonly transport: TransportProtocol;
  readonly source: HostPort;
  /**
   * The index in `SipStackOptions.listen` of the listener the INVITE came in on; undefined when it
   * came over a connection we opened (a registration's).
   */
  readonly listener: number | undefined;
  /** The INVITE (for Authorization headers and anything else policy needs). */
  readonly request: SipRequest;
}

/** The summary of an INVITE received on `flow` (from listener `listener`, if any). */
export function summarizeInvite(invite: SipRequest, flow: Flow, listener: number | undefined): InviteSummary {
  const from = invite.from;
  return {
    callId: invite.callId,
    from: from?.uri.raw ?? '',
    fromDisplayName: from?.displayName,
    to: invite.to?.uri.raw ?? '',
    transport: flow.protocol,
    source: flow.remote,
    listener,
    request: invite,
  };
}

export class IncomingCall extends CallEvents implements DialogUser, InviteSummary {
  readonly callId: string;
  /** From URI and display name. */
  readonly from: string;
  readonly fromDisplayName: string | undefined;
  /** To URI (the user called). */
  readonly to: string;
  readonly transport: TransportProtocol;
  readonly source: HostPort;
  readonly listener: number | undefined;
  /** The caller's media from the offer, or undefined for a late offer (INVITE without SDP). */
  readonly offer: MediaDescription | undefined;
  /** Why the INVITE's SDP could not be read (the stack then answers 400), if it could not. */
  readonly offerError: SdpError | undefined;
  /** Why the INVITE's body could not be read (a malformed multipart body: the stack answers 400). */
  readonly bodyError: SipBodyError | undefined;
  /** The INVITE (for Authorization headers and anything else policy needs). */
  readonly request: SipRequest;
  readonly localTag = newTag();
  readonly #tx: InviteServerTransaction;
  readonly #host: CallHost;
  readonly #flow: Flow;
  /** Our Contact (a SIPS URI in a secure dialog). */
  readonly #contact: string;
  readonly #reliable: Reliable2xx;
  readonly #session: UasSessionTimer;
  readonly #sdp: SdpSession;
  readonly #inDialog: UasDialogContext;
  #state: IncomingCallState = 'offered';
  #dialog: Dialog | undefined;
  #remote: MediaDescription | undefined;
  /** The SDP offer of the INVITE (its body, or the SDP part of a multipart body). */
  readonly #offerSdp: string | undefined;
  #recording: RecordingSession | undefined;
  #pendingBye = false;
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
    const recording = host.siprec && isRecordingRequest(invite);
    // RFC 7866: a recorder's Contact carries the +sip.srs feature tag.
    this.#contact = `${host.contactFor(flow, secureDialog(invite, flow))}${recording ? ';+sip.srs' : ''}`;
    this.#reliable = new Reliable2xx(host, flow);
    const summary = summarizeInvite(invite, flow, host.listenerOf(flow));
    this.#sdp = new SdpSession(host.codecs, { policy: host.srtpPolicy(summary), suites: host.srtpSuites });
    this.callId = summary.callId;
    this.from = summary.from;
    this.fromDisplayName = summary.fromDisplayName;
    this.to = summary.to;
    this.transport = summary.transport;
    this.source = summary.source;
    this.listener = summary.listener;
    let offer: MediaDescription | undefined;
    let body: { sdp: string | undefined; metadataXml: string | undefined } = {
      sdp: undefined,
      metadataXml: undefined,
    };
    try {
      body = readSessionBody(invite, host.siprec);
      offer = body.sdp !== undefined ? this.#sdp.describe(body.sdp) : undefined;
      if (recording) {
        const streams = body.sdp !== undefined ? describeStreams(body.sdp, host.codecs) : [];
        this.#recording = { streams, metadataXml: body.metadataXml };
      }
    } catch (err) {
      if (err instanceof SdpError) {
        this.offerError = err;
      } else if (err instanceof SipBodyError) {
        this.bodyError = err;
      } else {
        throw err;
      }
    }
    this.#offerSdp = body.sdp;
    this.offer = offer;
    this.#session = new UasSessionTimer(
      host.clock,
      host.logger,
      this.callId,
      parseSessionExpires(invite.get('session-expires')),
      {
        established: () => this.#state === 'confirmed',
        sendRefresh: (interval) => this.#sendRefresh(interval),
        expire: () => void this.#bye('session-expired'),
      },
    );
    this.#inDialog = {
      host,
      flow,
      reliable: this.#reliable,
      session: this.#session,
      sdp: this.#sdp,
      dialog: () => (this.#state === 'ended' ? undefined : this.#dialog),
      confirmed: () => this.#state === 'confirmed',
      start2xx: (cseq, res, onAck) => this.#start2xx(cseq, res, onAck),
      end: (reason) => this.#end(reason),
      mediaUpdated: (desc) => {
        this.#remote = desc;
        this.emit('mediaUpdated', desc);
      },
      dtmf: (event) => this.emit('dtmf', event),
      recording: (streams, metadataXml) => this.#recordingUpdated(streams, metadataXml),
    };
  }

  /**
   * The SIPREC recording session (RFC 7866) when this INVITE asks for one (`Require: siprec` or a
   * `+sip.src` Contact) and the stack is a recorder (`siprec` option): the audio streams offered
   * (by `answerRecording`, those accepted) with their labels, and the last metadata received.
   */
  get recording(): RecordingSession | undefined {
    return this.#recording;
  }

  /** Whether the INVITE carried an SDP offer (else it is a late offer: we offer in the 200). */
  get hasOffer(): boolean {
    return this.#offerSdp !== undefined;
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
    return this.#session.current;
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
    this.#tx.respond(this.#response(180, [{ name: 'Contact', value: this.#contact }]));
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
    let sdp: string;
    let remote: MediaDescription | undefined;
    if (this.#offerSdp !== undefined) {
      try {
        ({ sdp, remote } = this.#sdp.answer(this.#offerSdp, local));
      } catch (err) {
        return this.#refuseOffer(err);
      }
    } else {
      sdp = this.#sdp.offer(local);
    }
    return this.#accept(sdp, remote);
  }

  /**
   * Answers a recording session (RFC 7866) with 200 OK: stream `recording.streams[i]` is
   * received on `locals[i]` (`a=recvonly`, its own codec and label), streams without a local
   * address are refused with port 0. Resolves with the streams accepted. An INVITE without an SDP
   * offer is answered 400 Bad SDP, one with no stream we can receive 488; the promise rejects.
   */
  answerRecording(locals: readonly LocalMedia[]): Promise<OfferedStream[]> {
    const offered = this.#recording?.streams;
    if (!offered) {
      return Promise.reject(new SipStateError('answerRecording() on a call that is not a recording session'));
    }
    if (this.#state !== 'offered' && this.#state !== 'ringing') {
      return Promise.reject(new SipStateError(`answerRecording() in state ${this.#state}`));
    }
    let result: { sdp: string; streams: OfferedStream[] };
    try {
      if (this.#offerSdp === undefined) {
        throw new SdpError('SDP_ERR_NO_AUDIO', 'a recording session needs the SDP offer in its INVITE');
      }
      const byIndex = new Map<number, LocalMedia>();
      offered.forEach((s, i) => {
        const local = locals[i];
        if (local) {
          byIndex.set(s.index, local);
        }
      });
      result = this.#sdp.answerStreams(this.#offerSdp, byIndex);
    } catch (err) {
      return this.#refuseOffer(err);
    }
    this.#recording = { streams: result.streams, metadataXml: this.#recording?.metadataXml };
    return this.#accept(result.sdp, result.streams[0]?.media).then(() => result.streams);
  }

  /** Refuses an offer we cannot answer (400/488 with a Warning) and rejects with why. */
  #refuseOffer(err: unknown): Promise<never> {
    const error = err instanceof SdpError ? err : new SdpError('SDP_ERR_PARSE', String(err));
    const refusal = sdpRefusal(error, formatHost(this.#flow.local.address));
    this.reject(refusal.status, {
      warning: refusal.warning,
      ...(refusal.reason !== undefined ? { reason: refusal.reason } : {}),
    });
    return Promise.reject(error);
  }

  /** Sends the 200 with `sdp`; resolves with the remote media (`remote`, or from the ACK). */
  #accept(sdp: string, remote: MediaDescription | undefined): Promise<MediaDescription> {
    const extra: HeaderField[] = [{ name: 'Contact', value: this.#contact }];
    extra.push(...this.#session.answerHeaders(this.request));
    const ok = this.#response(200, extra);
    setBody(ok, sdp, 'application/sdp');
    this.#dialog = Dialog.fromInvite(this.request, this.localTag, this.#flow, this.#contact);
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
          this.#remote = this.#sdp.readAnswer(ack.bodyText);
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
          this.#session.start();
          this.emit('confirmed');
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

  // ---- in-dialog requests (uasInDialog.ts) ------------------------------------------------

  onDialogRequest(req: SipRequest, tx: ServerTransaction | undefined): void {
    onUasDialogRequest(this.#inDialog, req, tx);
  }

  // ---- recording sessions (RFC 7866) -------------------------------------------------------

  /** A re-INVITE/UPDATE of a recording session: records it, emits `recordingUpdated` on a change. */
  #recordingUpdated(streams: OfferedStream[] | undefined, metadataXml: string | undefined): void {
    const before = this.#recording;
    if (!before) {
      return;
    }
    const after: RecordingSession = {
      streams: streams ?? before.streams,
      metadataXml: metadataXml ?? before.metadataXml,
    };
    const streamsChanged = JSON.stringify(after.streams) !== JSON.stringify(before.streams);
    const metadataChanged = after.metadataXml !== before.metadataXml;
    this.#recording = after;
    if (streamsChanged || metadataChanged) {
      this.emit('recordingUpdated', { ...after, streamsChanged, metadataChanged });
    }
  }

  // ---- session timers (RFC 4028) -----------------------------------------------------------

  /** We are the refresher: UPDATE when the peer allows it, else re-INVITE with our SDP (§7.4). */
  #sendRefresh(interval: number): Promise<number> | undefined {
    const dialog = this.#dialog;
    const hop = dialog?.nextHop();
    if (!dialog || !hop) {
      return undefined;
    }
    const useUpdate = this.request.getAll('allow').some((m) => m.toUpperCase() === 'UPDATE');
    const headers: HeaderField[] = [
      ...this.#host.commonHeaders('request'),
      { name: 'Session-Expires', value: `${interval};refresher=uas` },
    ];
    return sendRefresh(this.#host.signalling, dialog, hop, { useUpdate, headers, sdp: this.#sdp.sdp });
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
      await this.#host.signalling.request(
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
