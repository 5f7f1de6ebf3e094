/**
 * The UAC in memory: INVITE with our offer, ACK for the 2xx and again for each retransmitted
 * 2xx (RFC 3261 §13.2.2.4, also after Timer M), CANCEL with the INVITE's branch (§9.1), BYE.
 */
import { describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest } from '../../../sip/message/SipMessage.js';
import { DigestVerifier } from '../../../sip/auth/DigestVerifier.js';
import { memoryStack, SIPP_OFFER, streamPeer } from '../support/memoryStack.js';

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

  it('answers a 401 with credentials in a new INVITE (CSeq + 1) that the verifier accepts', async () => {
    const ms = memoryStack();
    const verifier = new DigestVerifier({
      realm: 'test',
      clock: ms.clock,
      lookup: (user) => (user === 'alice' ? { password: 'secret' } : undefined),
    });
    const call = ms.stack.dial({
      to: 'sip:bob@127.0.0.1:5070',
      local: { address: '127.0.0.1', port: 20000 },
      auth: { username: 'alice', password: 'secret' },
    });
    await flush();
    const first = ms.take()[0] as SipRequest;
    ms.send(
      reply(
        first,
        401,
        verifier.challenge().map((v) => `WWW-Authenticate: ${v}`),
      ),
    );
    await flush();
    const sent = ms.take() as SipRequest[];
    expect(sent.map((m) => m.method)).toEqual(['ACK', 'INVITE']);
    const second = sent[1]!;
    expect(second.cseq).toEqual({ seq: 2, method: 'INVITE' });
    expect([second.callId, second.fromTag]).toEqual([first.callId, first.fromTag]);
    const verdict = await verifier.verify(second.getAll('authorization'), {
      method: 'INVITE',
      uri: second.uri,
    });
    expect(verdict).toMatchObject({ ok: true, username: 'alice' });
    ms.send(reply(second, 200, ['Contact: <sip:bob@127.0.0.1:5070>'], SIPP_OFFER));
    expect((await call.answered).codec).toBe('PCMU');
  });

  it('without credentials a 401 rejects the call with status 401', async () => {
    const { ms, call, invite } = await dialed();
    ms.send(reply(invite, 401, ['WWW-Authenticate: Digest realm="x", nonce="n", qop="auth"']));
    await expect(call.answered).rejects.toMatchObject({ status: 401 });
  });

  it('answers a re-INVITE from the callee (hold) and stops retransmitting on its ACK', async () => {
    const { ms, call, invite } = await dialed();
    ms.send(reply(invite, 200, ['Contact: <sip:bob@127.0.0.1:5070>'], SIPP_OFFER));
    await call.answered;
    await flush();
    ms.take();
    const updates: string[] = [];
    call.on('mediaUpdated', (d) => updates.push(d.direction));
    const reinvite = calleeReinvite(invite, 'z9hG4bK-re1', 7, SIPP_OFFER.replace('a=sendrecv', 'a=sendonly'));
    ms.send(reinvite);
    const ok = ms.responses().find((r) => r.status === 200);
    expect(ok?.bodyText).toContain('a=recvonly');
    expect(updates).toEqual(['sendonly']);
    ms.clock.advance(600);
    expect(ms.responses().map((r) => r.status)).toEqual([200]);
    ms.send(
      reinvite
        .replace('INVITE sip:', 'ACK sip:')
        .replace('z9hG4bK-re1', 'z9hG4bK-re1ack')
        .replace('CSeq: 7 INVITE', 'CSeq: 7 ACK'),
    );
    ms.clock.advance(5000);
    expect(ms.responses()).toHaveLength(0);
    expect(call.state).toBe('confirmed');
  });

  it('refuses a re-INVITE without PCMU/PCMA with 488 only: no 200, the call goes on', async () => {
    const { ms, call, invite } = await dialed();
    ms.send(reply(invite, 200, ['Contact: <sip:bob@127.0.0.1:5070>'], SIPP_OFFER));
    await call.answered;
    await flush();
    ms.take();
    const g729 = SIPP_OFFER.replace('RTP/AVP 0 8 101', 'RTP/AVP 18').replace(/a=rtpmap:[^\r]*\r\n/g, '');
    const reinvite = calleeReinvite(invite, 'z9hG4bK-re2', 8, g729);
    ms.send(reinvite);
    expect(ms.responses().map((r) => r.status)).toEqual([488]);
    // Timer G (RFC 3261 §17.2.1): the 488 is retransmitted at T1, never a 200.
    ms.clock.advance(600);
    expect(ms.responses().map((r) => r.status)).toEqual([488]);
    ms.send(
      reinvite
        .replace('INVITE sip:', 'ACK sip:')
        .replace(/Content-Type[^]*$/, 'Content-Length: 0\r\n\r\n')
        .replace('CSeq: 8 INVITE', 'CSeq: 8 ACK'),
    );
    ms.clock.advance(5000);
    expect(ms.responses()).toHaveLength(0);
    expect(call.state).toBe('confirmed');
  });

  it('ACKs and BYEs a 200 that raced our CANCEL', async () => {
    const { ms, call, invite } = await dialed();
    ms.send(reply(invite, 180));
    call.cancel();
    await flush();
    ms.take();
    ms.send(reply(invite, 200, ['Contact: <sip:bob@127.0.0.1:5070>'], SIPP_OFFER));
    await flush();
    await flush();
    expect(ms.take().map((m) => (m.kind === 'request' ? m.method : m.status))).toEqual(['ACK', 'BYE']);
    expect(call.endReason).toBe('bye-local');
  });

  it('a re-INVITE from the callee with a new Contact moves the remote target: our BYE goes there', async () => {
    const { ms, call, invite } = await dialed();
    ms.send(reply(invite, 200, ['Contact: <sip:bob@127.0.0.1:5070>'], SIPP_OFFER));
    await call.answered;
    await flush();
    ms.take();
    const reinvite = calleeReinvite(invite, 'z9hG4bK-re3', 9, SIPP_OFFER).replace(
      'Contact: <sip:bob@127.0.0.1:5070>',
      'Contact: <sip:bob@127.0.0.8:5098>',
    );
    ms.send(reinvite);
    expect(ms.responses().map((r) => r.status)).toEqual([200]);
    void call.hangup();
    await flush();
    const sent = ms.udp.sent.at(-1);
    const bye = ms.take().at(-1) as SipRequest;
    expect([bye.method, bye.uri]).toEqual(['BYE', 'sip:bob@127.0.0.8:5098']);
    expect(sent?.to).toEqual({ address: '127.0.0.8', port: 5098 });
  });

  it('dialled through a proxy that does not record-route: ACK and BYE go to the callee, not over the proxy connection', async () => {
    const ms = memoryStack();
    const proxy = streamPeer(ms, { address: '127.0.0.1', port: 5080 });
    const callee = streamPeer(ms, { address: '127.0.0.1', port: 5090 });
    const call = ms.stack.dial({
      to: 'sip:bob@example.org',
      target: 'sip:127.0.0.1:5080;transport=tcp',
      local: { address: '127.0.0.1', port: 20000 },
    });
    await flush();
    const [invite] = proxy.messages() as SipRequest[];
    expect(invite?.method).toBe('INVITE');
    proxy.write(reply(invite!, 200, ['Contact: <sip:bob@127.0.0.1:5090;transport=tcp>'], SIPP_OFFER));
    await call.answered;
    await flush();
    void call.hangup();
    await flush();
    expect(callee.messages().map((m) => (m.kind === 'request' ? m.method : m.status))).toEqual([
      'ACK',
      'BYE',
    ]);
    expect(proxy.messages()).toEqual([]);
  });

  it('dialling a sips: URI over TLS offers a sips: Contact (RFC 3261 §8.1.1.8)', async () => {
    const ms = memoryStack();
    const tls = streamPeer(ms, { address: '127.0.0.1', port: 5071 }, 'tls');
    ms.stack.dial({ to: 'sips:bob@127.0.0.1:5071', local: { address: '127.0.0.1', port: 20000 } });
    await flush();
    const [invite] = tls.messages() as SipRequest[];
    expect(invite?.get('contact')).toBe('<sips:sipscribe@127.0.0.1:5062>');
  });

  it('a 2xx from a second fork: ACKed, then that dialog ended with BYE; the first dialog stays (§13.2.2.4)', async () => {
    const { ms, call, invite } = await dialed();
    ms.send(reply(invite, 200, ['Contact: <sip:bob@127.0.0.1:5070>'], SIPP_OFFER));
    await call.answered;
    await flush();
    ms.take();
    const fork = reply(invite, 200, ['Contact: <sip:bob2@127.0.0.1:5072>'], SIPP_OFFER).replace(
      'tag=callee1',
      'tag=callee2',
    );
    ms.send(fork);
    await flush();
    await flush();
    const sent = ms.take() as SipRequest[];
    expect(sent.map((m) => [m.method, m.uri, m.toTag])).toEqual([
      ['ACK', 'sip:bob2@127.0.0.1:5072', 'callee2'],
      ['BYE', 'sip:bob2@127.0.0.1:5072', 'callee2'],
    ]);
    expect(sent[1]?.cseq).toEqual({ seq: 2, method: 'BYE' });
    // The fork's retransmitted 2xx is ACKed again, without a second BYE.
    ms.send(fork);
    await flush();
    expect((ms.take() as SipRequest[]).map((m) => [m.method, m.toTag])).toEqual([['ACK', 'callee2']]);
    expect(call.state).toBe('confirmed');
    void call.hangup();
    await flush();
    const bye = ms.take()[0] as SipRequest;
    expect([bye.method, bye.uri, bye.toTag]).toEqual(['BYE', 'sip:bob@127.0.0.1:5070', 'callee1']);
  });
});

/** A re-INVITE from the callee (the dialog's other side) carrying `sdp`, as text. */
function calleeReinvite(invite: SipRequest, branch: string, cseq: number, sdp: string): string {
  return [
    `INVITE sip:sipscribe@127.0.0.1:5062 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=${branch};rport`,
    `From: ${invite.get('to')};tag=callee1`,
    `To: ${invite.get('from')}`,
    `Call-ID: ${invite.callId}`,
    `CSeq: ${cseq} INVITE`,
    'Contact: <sip:bob@127.0.0.1:5070>',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '',
    sdp,
  ].join('\r\n');
}
