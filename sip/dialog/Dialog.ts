/**
 * Dialog state (RFC 3261 §12): identifiers, route set, remote target and CSeq counters, and the
 * construction of in-dialog requests (§12.2.1.1).
 */
import { createRequest } from '../message/build.js';
import { parseNameAddr } from '../message/nameAddr.js';
import type { HeaderField, SipRequest, SipResponse } from '../message/SipMessage.js';
import { targetFromUri } from '../transport/target.js';
import type { Flow, Target } from '../transport/types.js';

export interface DialogInit {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Full From/To values as we write them: ours with our tag, theirs with their tag. */
  localParty: string;
  remoteParty: string;
  remoteTarget: string;
  routeSet: string[];
  localSeq: number;
  remoteSeq: number;
  /** The flow the dialog was established on (reused for TCP/TLS while open). */
  flow: Flow;
  /** Our Contact value. */
  contact: string;
}

/** `callId|localTag|remoteTag`. */
export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}

function contactUri(value: string | undefined): string | undefined {
  return value === undefined ? undefined : parseNameAddr(value)?.uri.raw;
}

export class Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly localParty: string;
  readonly remoteParty: string;
  remoteTarget: string;
  readonly routeSet: string[];
  localSeq: number;
  remoteSeq: number;
  flow: Flow;
  readonly contact: string;

  constructor(init: DialogInit) {
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localParty = init.localParty;
    this.remoteParty = init.remoteParty;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.flow = init.flow;
    this.contact = init.contact;
  }

  get id(): string {
    return dialogId(this.callId, this.localTag, this.remoteTag);
  }

  /** UAS side (§12.1.1): from the INVITE we answered with `localTag`. */
  static fromInvite(invite: SipRequest, localTag: string, flow: Flow, contact: string): Dialog {
    const to = invite.get('to') ?? '';
    return new Dialog({
      callId: invite.callId,
      localTag,
      remoteTag: invite.fromTag ?? '',
      localParty: invite.toTag === undefined ? `${to};tag=${localTag}` : to,
      remoteParty: invite.get('from') ?? '',
      remoteTarget: contactUri(invite.getAll('contact')[0]) ?? invite.from?.uri.raw ?? invite.uri,
      routeSet: invite.getAll('record-route'),
      localSeq: 0,
      remoteSeq: invite.cseq.seq,
      flow,
      contact,
    });
  }

  /** UAC side (§12.1.2): from our INVITE and the 2xx (route set reversed). */
  static fromResponse(invite: SipRequest, res: SipResponse, flow: Flow, contact: string): Dialog {
    return new Dialog({
      callId: invite.callId,
      localTag: invite.fromTag ?? '',
      remoteTag: res.toTag ?? '',
      localParty: invite.get('from') ?? '',
      remoteParty: res.get('to') ?? '',
      remoteTarget: contactUri(res.getAll('contact')[0]) ?? invite.uri,
      routeSet: res.getAll('record-route').reverse(),
      localSeq: invite.cseq.seq,
      remoteSeq: -1,
      flow,
      contact,
    });
  }

  /** A new in-dialog request (§12.2.1.1) with the next local CSeq (ACK/CANCEL reuse theirs). */
  createRequest(
    method: string,
    opts: { headers?: readonly HeaderField[]; body?: string; contentType?: string; cseq?: number } = {},
  ): SipRequest {
    const cseq = opts.cseq ?? ++this.localSeq;
    return createRequest({
      method,
      uri: this.remoteTarget,
      from: this.localParty,
      to: this.remoteParty,
      callId: this.callId,
      cseq,
      routes: this.routeSet,
      contact: method === 'BYE' || method === 'ACK' ? undefined : this.contact,
      headers: opts.headers,
      body: opts.body,
      contentType: opts.contentType,
    });
  }

  /**
   * Where in-dialog requests go: the open TCP/TLS connection the dialog was made on, else the
   * first route (loose routing) or the remote target (§12.2.1.1, §18.1.1).
   */
  nextHop(): Flow | Target | undefined {
    if (this.flow.reliable && !this.flow.closed) {
      return this.flow;
    }
    const first = this.routeSet[0];
    const uri = first !== undefined ? contactUri(first) : this.remoteTarget;
    return uri === undefined ? undefined : targetFromUri(uri, this.flow.protocol);
  }
}
