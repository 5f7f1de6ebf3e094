/**
 * Requests inside the dialog of an answered incoming call (RFC 3261 §12.2.2, §14.2, §15.1.2;
 * RFC 3311 UPDATE; RFC 4028 §9 refreshes; INFO with application/dtmf-relay): ACK for our 2xx,
 * CSeq order (500), BYE, re-INVITE/UPDATE (491 while our refresh is pending, 500 + Retry-After
 * while our 2xx awaits its ACK, 422 below Min-SE, 400 for a malformed Session-Expires/Min-SE, 488 for an offer we cannot answer), INFO,
 * OPTIONS, 501 for the rest.
 */
import type { Dialog } from '../dialog/Dialog.js';
import { createResponse } from '../message/build.js';
import type { HeaderField, SipRequest, SipResponse } from '../message/SipMessage.js';
import { formatHost } from '../message/uri.js';
import { SipBodyError } from '../errors.js';
import type { MediaDescription } from '../sdp/media.js';
import type { OfferedStream } from '../sdp/offerAnswer.js';
import type { ServerTransaction } from '../transaction/ServerTransaction.js';
import type { Flow } from '../transport/types.js';
import { inspectInfo } from './dtmf.js';
import type { Reliable2xx } from './Reliable2xx.js';
import { bodyRefusal, sdpRefusal, type SdpSession } from './SdpSession.js';
import { readSessionBody, type SessionBody } from './recording.js';
import { readSessionTimer, type UasSessionTimer } from './sessionTimer.js';
import type { CallHost, DtmfEvent, EndReason } from './types.js';

/** The parts of an incoming call its in-dialog requests act on (built once per call). */
export interface UasDialogContext {
  readonly host: CallHost;
  readonly flow: Flow;
  readonly reliable: Reliable2xx;
  readonly session: UasSessionTimer;
  readonly sdp: SdpSession;
  /** The dialog, or undefined before the answer and once the call ended (requests get 481). */
  dialog(): Dialog | undefined;
  /** True once the ACK confirmed the call. */
  confirmed(): boolean;
  /** Sends the 2xx to an INVITE reliably (RFC 3261 §13.3.1.4); `onAck` when its ACK arrives. */
  start2xx(cseq: number, res: SipResponse, onAck: (ack: SipRequest) => void): void;
  end(reason: EndReason): void;
  /** The remote media changed (records it and emits `mediaUpdated`). */
  mediaUpdated(desc: MediaDescription): void;
  dtmf(event: DtmfEvent): void;
  /**
   * A re-INVITE/UPDATE was accepted that carried a recording session's streams (answered stream
   * by stream) and/or recording metadata.
   */
  recording(streams: OfferedStream[] | undefined, metadataXml: string | undefined): void;
}

/** Handles one request inside the call's dialog (ACK without a transaction). */
export function onUasDialogRequest(
  call: UasDialogContext,
  req: SipRequest,
  tx: ServerTransaction | undefined,
): void {
  if (req.method === 'ACK') {
    call.reliable.ack(req);
    return;
  }
  if (!tx) {
    return;
  }
  const dialog = call.dialog();
  if (!dialog) {
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
      tx.respond(createResponse(req, 200, { headers: call.host.commonHeaders('response') }));
      call.end('bye-remote');
      return;
    case 'INVITE':
    case 'UPDATE':
      onModify(call, req, tx);
      return;
    case 'INFO':
      onInfo(call, req, tx);
      return;
    case 'OPTIONS':
      tx.respond(createResponse(req, 200, { headers: call.host.commonHeaders('response') }));
      return;
    default:
      tx.respond(createResponse(req, 501, { headers: call.host.commonHeaders('response') }));
  }
}

function onInfo(call: UasDialogContext, req: SipRequest, tx: ServerTransaction): void {
  const { status, reason, accept, event } = inspectInfo(req);
  tx.respond(
    createResponse(req, status, {
      ...(reason !== undefined ? { reason } : {}),
      ...(accept !== undefined ? { headers: [{ name: 'Accept', value: accept }] } : {}),
    }),
  );
  if (event) {
    call.dtmf(event);
  }
}

/** re-INVITE or UPDATE: new offer (hold/unhold, new address), or a session refresh. */
function onModify(call: UasDialogContext, req: SipRequest, tx: ServerTransaction): void {
  const { host, flow } = call;
  if (call.session.refreshing) {
    tx.respond(createResponse(req, 491));
    return;
  }
  if (req.method === 'INVITE' && call.reliable.pending) {
    tx.respond(createResponse(req, 500, { headers: [{ name: 'Retry-After', value: '1' }] }));
    return;
  }
  const timer = readSessionTimer(req, host.sessionTimer.minSE);
  if (!timer.ok) {
    tx.respond(
      createResponse(req, timer.status, {
        headers: timer.headers,
        ...(timer.reason !== undefined ? { reason: timer.reason } : {}),
      }),
    );
    return;
  }
  let body: SessionBody;
  try {
    body = readSessionBody(req, host.siprec);
  } catch (err) {
    if (!(err instanceof SipBodyError)) {
      throw err;
    }
    host.counters.malformedRejected++;
    const refusal = bodyRefusal(err, formatHost(flow.local.address));
    tx.respond(
      createResponse(req, refusal.status, {
        reason: refusal.reason,
        headers: [{ name: 'Warning', value: refusal.warning }],
      }),
    );
    return;
  }
  const se = timer.se;
  const extra: HeaderField[] = [
    ...host.commonHeaders('response'),
    { name: 'Contact', value: call.dialog()?.contact ?? host.contactFor(flow) },
  ];
  const ok = createResponse(req, 200, { headers: extra });
  const reoffer = call.sdp.reoffer(req, ok, body.sdp);
  if (reoffer.refused) {
    // A refused request changes nothing, its Session-Expires included (RFC 4028 §9: the 2xx does).
    const refusal = sdpRefusal(reoffer.error, formatHost(flow.local.address));
    const malformed = reoffer.error.code !== 'SDP_ERR_NO_CODEC' && reoffer.error.code !== 'SDP_ERR_SRTP';
    host.counters.malformedRejected += malformed ? 1 : 0;
    tx.respond(
      createResponse(req, refusal.status, {
        headers: [{ name: 'Warning', value: refusal.warning }],
        ...(refusal.reason !== undefined ? { reason: refusal.reason } : {}),
      }),
    );
    return;
  }
  if (se) {
    call.session.adopt(se);
  }
  for (const h of call.session.answerHeaders(req)) {
    ok.add(h.name, h.value);
  }
  tx.respond(ok);
  call.dialog()?.refreshTarget(req); // RFC 3261 §12.2.2: an accepted target refresh
  if (req.method === 'INVITE') {
    call.start2xx(req.cseq.seq, ok, (ack) => {
      if (req.body.length === 0 && ack.body.length > 0) {
        const answer = readAnswerSafe(call.sdp, ack.bodyText);
        if (answer) {
          call.mediaUpdated(answer);
        }
      }
    });
  }
  if (call.confirmed()) {
    call.session.start();
  }
  if (reoffer.remote) {
    call.mediaUpdated(reoffer.remote);
  }
  if (reoffer.streams || body.metadataXml !== undefined) {
    call.recording(reoffer.streams, body.metadataXml);
  }
}

function readAnswerSafe(session: SdpSession, sdp: string): MediaDescription | undefined {
  try {
    return session.readAnswer(sdp);
  } catch {
    return undefined;
  }
}
