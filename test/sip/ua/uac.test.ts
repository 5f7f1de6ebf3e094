/**
 * The UAC in memory: INVITE with our offer, ACK for the 2xx and again for each retransmitted
 * 2xx (RFC 3261 §13.2.2.4, also after Timer M), CANCEL with the INVITE's branch (§9.1), BYE.
 */
import { describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest } from '../../../sip/message/SipMessage.js';
import { memoryStack, SIPP_OFFER } from '../support/memoryStack.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function reply(req: SipMessage, status: number, extra: string[] = [], body = ''): string {
  return [
    `SIP/2.0 ${status} X`,
    ...req.getAll('via').map((v) => `Via: ${v}`),
    `From: ${req.get('from')}`,
    `To: ${req.get('to')}${status > 100 ? ';tag=callee1' : ''}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.get('cseq')}`,
    ...extra,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

async function dialed() {
  const ms = memoryStack();
  const call = ms.stack.dial({ to: 'sip:bob@127.0.0.1:5070', local: { address: '127.0.0.1', port: 20000 } });
  await flush();
  const invite = ms.take()[0] as SipRequest;
  return { ms, call, invite };
}

describe('UAC', () => {
  it('sends an INVITE with our offer, ACKs the 200 and every retransmission of it', async () => {
    const { ms, call, invite } = await dialed();
    expect(invite.method).toBe('INVITE');
    expect(invite.bodyText).toContain('m=audio 20000 RTP/AVP 0 8 101');
    expect(invite.get('contact')).toBe('<sip:sipscribe@127.0.0.1:5062;transport=udp>');
    const ok = reply(invite, 200, ['Contact: <sip:bob@127.0.0.1:5070>'], SIPP_OFFER);
    ms.send(ok);
    expect(await call.answered).toMatchObject({ port: 6100, codec: 'PCMU' });
    await flush();
    const [ack] = ms.take() as SipRequest[];
    expect([ack?.method, ack?.uri, ack?.toTag, ack?.cseq.seq]).toEqual([
      'ACK',
      'sip:bob@127.0.0.1:5070',
      'callee1',
      1,
    ]);
    ms.send(ok);
    await flush();
    expect((ms.take()[0] as SipRequest | undefined)?.method).toBe('ACK');
    ms.clock.advance(32_000); // Timer M: the 2xx now reaches the dialog as a stray response
    ms.send(ok);
    await flush();
    expect((ms.take()[0] as SipRequest | undefined)?.method).toBe('ACK');
    const bye = call.hangup();
    await flush();
    const byeReq = ms.take()[0] as SipRequest;
    expect(byeReq.method).toBe('BYE');
    ms.send(reply(byeReq, 200));
    await bye;
    expect(call.endReason).toBe('bye-local');
  });

  it('CANCEL after a provisional carries the INVITE branch; 487 rejects the call', async () => {
    const { ms, call, invite } = await dialed();
    ms.send(reply(invite, 180));
    call.cancel();
    await flush();
    const cancel = ms.take()[0] as SipRequest;
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.via?.branch).toBe(invite.via?.branch);
    expect(cancel.cseq).toEqual({ seq: 1, method: 'CANCEL' });
    ms.send(reply(cancel, 200));
    ms.send(reply(invite, 487));
    await expect(call.answered).rejects.toMatchObject({ code: 'SIP_ERR_CALL_REJECTED', status: 487 });
    expect(call.endReason).toBe('cancel');
  });

  it('times out with 408 when nobody answers (Timer B)', async () => {
    const { ms, call } = await dialed();
    ms.clock.advance(32_000);
    await expect(call.answered).rejects.toMatchObject({ status: 408 });
    expect(call.endReason).toBe('timeout');
  });
});
