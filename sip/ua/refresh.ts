/**
 * Sending a session refresh inside a dialog (RFC 4028 §7.4/§9): UPDATE without a body when the
 * peer allows UPDATE, else a re-INVITE carrying our current SDP (then ACKed, RFC 3261 §13.2.2.4).
 */
import type { Dialog } from '../dialog/Dialog.js';
import type { HeaderField } from '../message/SipMessage.js';
import type { Flow, Target } from '../transport/types.js';
import type { CallSignalling } from './types.js';

/** Sends the refresh and resolves with the final status (408 on timeout, 503 on transport failure). */
export async function sendRefresh(
  signalling: CallSignalling,
  dialog: Dialog,
  hop: Flow | Target,
  opts: { useUpdate: boolean; headers: readonly HeaderField[]; sdp: string | undefined },
): Promise<number> {
  if (opts.useUpdate) {
    try {
      const res = await signalling.request(dialog.createRequest('UPDATE', { headers: opts.headers }), hop);
      if (res.status < 300) {
        dialog.refreshTarget(res);
      }
      return res.status;
    } catch (err) {
      return (err as { code?: string }).code === 'SIP_ERR_TX_TIMEOUT' ? 408 : 503;
    }
  }
  const req = dialog.createRequest('INVITE', {
    headers: opts.headers,
    ...(opts.sdp !== undefined ? { body: opts.sdp, contentType: 'application/sdp' } : {}),
  });
  return await new Promise<number>((resolve) => {
    signalling
      .createClient(req, hop, {
        onFinal: (res) => {
          if (res.status < 300) {
            dialog.refreshTarget(res);
            const ack = dialog.createRequest('ACK', { cseq: req.cseq.seq });
            signalling.sendStateless(ack, hop).catch(() => undefined);
          }
          resolve(res.status);
        },
        onTimeout: () => resolve(408),
      })
      .catch(() => resolve(503));
  });
}
