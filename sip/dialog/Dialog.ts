/**
 * Dialog state (RFC 3261 §12): identifiers, route set, remote target (refreshed by re-INVITE and
 * UPDATE, §12.2), CSeq counters, the construction of in-dialog requests with loose or strict
 * routing (§12.2.1.1), and where they go (§8.1.2, §18.1.1).
 */
import { createRequest } from '../message/build.js';
import { parseNameAddr } from '../message/nameAddr.js';
import type { HeaderField, SipMessage, SipRequest, SipResponse } from '../message/SipMessage.js';
import { parseUri } from '../message/uri.js';
import { targetFromUri } from '../transport/target.js';
import { defaultPort, type Flow, type HostPort, type Target } from '../transport/types.js';

interface DialogInit {
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
  /** The flow the dialog was established on (reused for TCP/TLS while it leads to the next hop). */
  flow: Flow;
  /**
   * Where the peer at the far end of `flow` also listens: the sent-by of the top Via of the
   * request that came over it (an inbound connection comes from an ephemeral port, RFC 5923 §5).
   */
  flowAliases?: readonly HostPort[];
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

/** True for a `sips:` URI. */
export function isSipsUri(uri: string | undefined): boolean {
  return uri !== undefined && /^sips:/i.test(uri.trim());
}

/**
 * Whether our Contact for a dialog made by `req` (received or sent over `flow`) must be a SIPS URI
 * (RFC 3261 §8.1.1.8, §12.1.1): over TLS, when the Request-URI, the top Record-Route (or without
 * one, the peer's Contact) is `sips:`. Other dialogs over TLS keep `sip:…;transport=tls`, which
 * asks for TLS on the next hop only (RFC 5630 §3.1.3).
 */
export function secureDialog(req: SipRequest, flow: Flow): boolean {
  if (flow.protocol !== 'tls') {
    return false;
  }
  const rr = req.getAll('record-route')[0];
  return (
    isSipsUri(req.uri) ||
    (rr !== undefined ? isSipsUri(contactUri(rr)) : isSipsUri(contactUri(req.getAll('contact')[0])))
  );
}

const normHost = (host: string): string => host.replace(/^\[|\]$/g, '').toLowerCase();

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
  readonly #flowAliases: readonly HostPort[];

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
    this.#flowAliases = init.flowAliases ?? [];
  }

  get id(): string {
    return dialogId(this.callId, this.localTag, this.remoteTag);
  }

  /** UAS side (§12.1.1): from the INVITE we answered with `localTag`. */
  static fromInvite(invite: SipRequest, localTag: string, flow: Flow, contact: string): Dialog {
    const to = invite.get('to') ?? '';
    const via = invite.via;
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
      flowAliases: via ? [{ address: via.host, port: via.port ?? defaultPort(flow.protocol) }] : [],
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

  /**
   * Target refresh (RFC 3261 §12.2.1.2, §12.2.2): the Contact of a re-INVITE or UPDATE we accepted
   * (2xx sent, RFC 6141 §3.4), or of the 2xx to ours, becomes the remote target.
   */
  refreshTarget(msg: SipMessage): void {
    const uri = contactUri(msg.getAll('contact')[0]);
    if (uri !== undefined) {
      this.remoteTarget = uri;
    }
  }

  /**
   * Request-URI and Route of an in-dialog request (§12.2.1.1): with a loose first route (`;lr`)
   * the remote target and the route set; with a strict one, the first route (without the
   * parameters a Request-URI may not carry) and the rest of the route set, the remote target last.
   */
  #addressing(): { uri: string; routes: string[] } {
    const first = this.routeSet[0];
    const firstUri = first === undefined ? undefined : parseNameAddr(first)?.uri;
    if (firstUri === undefined || firstUri.params.has('lr')) {
      return { uri: this.remoteTarget, routes: this.routeSet };
    }
    return {
      uri: firstUri.raw.replace(/\?.*$/, '').replace(/;method=[^;]*/i, ''),
      routes: [...this.routeSet.slice(1), `<${this.remoteTarget}>`],
    };
  }

  /** A new in-dialog request (§12.2.1.1) with the next local CSeq (ACK/CANCEL reuse theirs). */
  createRequest(
    method: string,
    opts: { headers?: readonly HeaderField[]; body?: string; contentType?: string; cseq?: number } = {},
  ): SipRequest {
    const cseq = opts.cseq ?? ++this.localSeq;
    const { uri, routes } = this.#addressing();
    return createRequest({
      method,
      uri,
      from: this.localParty,
      to: this.remoteParty,
      callId: this.callId,
      cseq,
      routes,
      contact: method === 'BYE' || method === 'ACK' ? undefined : this.contact,
      headers: opts.headers,
      body: opts.body,
      contentType: opts.contentType,
    });
  }

  /**
   * Where in-dialog requests go (§12.2.1.1, §8.1.2): the first route (loose or strict), else the
   * remote target. The dialog's own TCP/TLS connection is reused only while it is open and leads
   * there (its remote address, or the Via sent-by of the peer that opened it, is that hop, or the
   * peer's Contact carries RFC 5626 `;ob` with no route set); otherwise the transport layer
   * reuses or opens a connection to the hop itself (§18.1.1).
   */
  nextHop(): Flow | Target | undefined {
    const first = this.routeSet[0];
    const uri = first !== undefined ? contactUri(first) : this.remoteTarget;
    const hop = uri === undefined ? undefined : targetFromUri(uri, this.flow.protocol);
    if (hop === undefined) {
      return undefined;
    }
    const flow = this.flow;
    if (flow.reliable && !flow.closed && flow.protocol === hop.protocol) {
      // RFC 5626 §5.3: a remote target with `;ob` (and no proxy between) asks for its own flow.
      const outbound = first === undefined && parseUri(this.remoteTarget)?.params.has('ob') === true;
      const leads = [flow.remote, ...this.#flowAliases].some(
        (a) => a.port === hop.port && normHost(a.address) === normHost(hop.host),
      );
      if (leads || outbound) {
        return flow;
      }
    }
    return hop;
  }
}
