/**
 * Where in-dialog requests go, on the wire (RFC 3261 §12.2): target refresh by re-INVITE/UPDATE
 * (§12.2.2, and §12.2.1.2 for the 2xx to our own refresh), the route set before the remote target
 * and connection reuse only towards that next hop (§12.2.1.1, §18.1.1), the strict-routing
 * rewrite (§12.2.1.1), and `sips:` Contacts in secure dialogs (§12.1.1, RFC 5630).
 */
import { describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest } from '../../../sip/message/SipMessage.js';
import type { HostPort } from '../../../sip/transport/types.js';
import {
  callerRequest,
  memoryStack,
  SIPP_OFFER,
  streamPeer,
  type MemoryStack,
} from '../support/memoryStack.js';

const LOCAL = { address: '127.0.0.1', port: 20000 };
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** An answered and ACKed call from the UDP caller; `invite` is the INVITE's text. */
function confirmed(invite = callerRequest({ body: SIPP_OFFER })) {
  const ms = memoryStack((call) => void call.answer(LOCAL));
  ms.send(invite);
  const ok = ms.responses().find((r) => r.status === 200)!;
  ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }));
  return { ms, call: ms.calls[0]!, ok, tag: ok.toTag ?? '' };
}

/** 200 OK to `req` (same Via, From, To, Call-ID, CSeq), with extra header lines. */
function ok200(req: SipMessage, extra: string[] = []): string {
  return [
    'SIP/2.0 200 OK',
    ...req.getAll('via').map((v) => `Via: ${v}`),
    `From: ${req.get('from')}`,
    `To: ${req.get('to')}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.get('cseq')}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The stack's hangup BYE, with where the fake UDP socket sent it. */
async function hangupBye(
  ms: MemoryStack,
  hangup: () => Promise<void>,
): Promise<{ bye: SipRequest; to: HostPort }> {
  void hangup();
  await flush();
  const sent = ms.udp.sent[0];
  const bye = ms.take()[0] as SipRequest;
  expect(bye.method).toBe('BYE');
  return { bye, to: sent!.to };
}

const NEW_CONTACT = 'Contact: <sip:sipp@127.0.0.9:5099>';
const withContact = (text: string, contact: string): string =>
  text.replace('Contact: <sip:sipp@127.0.0.1:5070>', contact);

describe('target refresh (RFC 3261 §12.2.2)', () => {
  it('a re-INVITE with a new Contact moves the remote target: our BYE goes there', async () => {
    const c = confirmed();
    c.ms.send(
      withContact(callerRequest({ method: 'INVITE', cseq: 2, toTag: c.tag, body: SIPP_OFFER }), NEW_CONTACT),
    );
    expect(c.ms.responses().map((r) => r.status)).toEqual([200]);
    c.ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack2', cseq: 2, toTag: c.tag }));
    const { bye, to } = await hangupBye(c.ms, () => c.call.hangup());
    expect(bye.uri).toBe('sip:sipp@127.0.0.9:5099');
    expect(to).toEqual({ address: '127.0.0.9', port: 5099 });
  });

  it('an UPDATE with a new Contact moves the remote target', async () => {
    const c = confirmed();
    c.ms.send(withContact(callerRequest({ method: 'UPDATE', cseq: 2, toTag: c.tag }), NEW_CONTACT));
    expect(c.ms.responses().map((r) => r.status)).toEqual([200]);
    const { bye, to } = await hangupBye(c.ms, () => c.call.hangup());
    expect([bye.uri, to.address, to.port]).toEqual(['sip:sipp@127.0.0.9:5099', '127.0.0.9', 5099]);
  });

  it('a refused re-INVITE (488) leaves the remote target as it was (RFC 6141 §3.4: only a 2xx refreshes)', async () => {
    const c = confirmed();
    const g729 = SIPP_OFFER.replace('RTP/AVP 0 8 101', 'RTP/AVP 18').replace(/a=rtpmap:[^\r]*\r\n/g, '');
    c.ms.send(
      withContact(callerRequest({ method: 'INVITE', cseq: 2, toTag: c.tag, body: g729 }), NEW_CONTACT),
    );
    expect(c.ms.responses().map((r) => r.status)).toEqual([488]);
    const { bye } = await hangupBye(c.ms, () => c.call.hangup());
    expect(bye.uri).toBe('sip:sipp@127.0.0.1:5070');
  });

  it('the 2xx to our own refresh (UPDATE) with a new Contact moves the target (§12.2.1.2)', async () => {
    const c = confirmed(
      callerRequest({
        body: SIPP_OFFER,
        headers: ['Session-Expires: 100', 'Allow: INVITE, ACK, BYE, UPDATE'],
      }),
    );
    c.ms.take();
    c.ms.clock.advance(50_000);
    await flush();
    const upd = c.ms.take()[0] as SipRequest;
    expect(upd.method).toBe('UPDATE');
    c.ms.send(ok200(upd, [NEW_CONTACT, 'Session-Expires: 100;refresher=uas']));
    await flush();
    const { bye, to } = await hangupBye(c.ms, () => c.call.hangup());
    expect([bye.uri, to.address, to.port]).toEqual(['sip:sipp@127.0.0.9:5099', '127.0.0.9', 5099]);
  });
});

describe('next hop: route set, then remote target; a connection only when it leads there', () => {
  const inviteOverTcp = (via: string, extra: string[]): string =>
    callerRequest({ body: SIPP_OFFER, headers: extra })
      .replace(/^Via: .*$/m, via)
      .replace('Contact: <sip:sipp@127.0.0.1:5070>', 'Contact: <sip:sipp@127.0.0.1:5070;transport=tcp>');

  it('BYE follows the Record-Route to its proxy, not back over the connection the INVITE came on', async () => {
    const ms = memoryStack((call) => void call.answer(LOCAL));
    const edge = streamPeer(ms, { address: '127.0.0.1', port: 5080 });
    const core = streamPeer(ms, { address: '127.0.0.1', port: 5090 });
    // The edge proxy (5080) forwards without record-routing; the core proxy (5090) record-routed.
    edge.write(
      inviteOverTcp(
        'Via: SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bK-edge, SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-ua',
        ['Record-Route: <sip:127.0.0.1:5090;transport=tcp;lr>'],
      ),
    );
    await flush();
    const ok = edge.messages().find((m) => m.kind === 'response' && m.status === 200)!;
    edge.write(
      callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }).replace(
        /^Via: .*$/m,
        'Via: SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bK-edgeack',
      ),
    );
    await flush();
    void ms.calls[0]!.hangup();
    await flush();
    const viaCore = core.messages() as SipRequest[];
    expect(viaCore.map((m) => m.method)).toEqual(['BYE']);
    expect(viaCore[0]!.getAll('route')).toEqual(['<sip:127.0.0.1:5090;transport=tcp;lr>']);
    expect(edge.messages()).toEqual([]);
  });

  /**
   * A caller connected over TCP from an ephemeral `port` with `via` and `contact`: its call is
   * answered, ACKed and hung up by us; what came back over the caller's own connection.
   */
  async function directTcpCall(port: number, via: string, contact: string): Promise<SipMessage[]> {
    const ms = memoryStack((call) => void call.answer(LOCAL));
    const ua = streamPeer(ms, { address: '127.0.0.1', port });
    ua.write(
      inviteOverTcp(`Via: SIP/2.0/TCP ${via};branch=z9hG4bK-ua`, []).replace(
        'Contact: <sip:sipp@127.0.0.1:5070;transport=tcp>',
        `Contact: <${contact}>`,
      ),
    );
    await flush();
    const ok = ua.messages().find((m) => m.kind === 'response' && m.status === 200)!;
    ua.write(
      callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }).replace(
        'SIP/2.0/UDP',
        'SIP/2.0/TCP',
      ),
    );
    await flush();
    void ms.calls[0]!.hangup();
    await flush();
    return ua.messages();
  }
  const byes = (msgs: SipMessage[]): string[][] =>
    msgs.map((m) => (m.kind === 'request' ? [m.method, m.uri] : [String(m.status)]));

  it('reuses the caller’s own connection when it leads to the remote target (Via sent-by = Contact)', async () => {
    // The caller connected from an ephemeral port; its Via and Contact name its listener, 5070.
    const back = await directTcpCall(40123, '127.0.0.1:5070', 'sip:sipp@127.0.0.1:5070;transport=tcp');
    expect(byes(back)).toEqual([['BYE', 'sip:sipp@127.0.0.1:5070;transport=tcp']]);
  });

  it('reuses the connection of a caller that reached us directly (one Via, no route set), as behind a NAT', async () => {
    // A softphone behind a NAT: its Via and Contact name its private address, which we cannot
    // reach; the connection it opened is the only way back.
    const back = await directTcpCall(40127, '192.168.1.20:5060', 'sip:sipp@192.168.1.20:5060;transport=tcp');
    expect(byes(back)).toEqual([['BYE', 'sip:sipp@192.168.1.20:5060;transport=tcp']]);
  });

  it('reuses the caller’s connection for a Contact with ;ob (RFC 5626 §5.3), whatever its address', async () => {
    const back = await directTcpCall(40125, '10.1.1.1:5070', 'sip:sipp@10.1.1.1:5070;transport=tcp;ob');
    expect(byes(back)).toEqual([['BYE', 'sip:sipp@10.1.1.1:5070;transport=tcp;ob']]);
  });
});

describe('strict routing (RFC 3261 §12.2.1.1)', () => {
  it('a first route without ;lr becomes the Request-URI; the remote target goes last in Route', async () => {
    const c = confirmed(
      callerRequest({
        body: SIPP_OFFER,
        headers: ['Record-Route: <sip:strict.example:5080>, <sip:loose.example;lr>'],
      }),
    );
    const { bye, to } = await hangupBye(c.ms, () => c.call.hangup());
    expect(bye.uri).toBe('sip:strict.example:5080');
    expect(bye.getAll('route')).toEqual(['<sip:loose.example;lr>', '<sip:sipp@127.0.0.1:5070>']);
    expect(to).toEqual({ address: 'strict.example', port: 5080 });
  });

  it('a loose first route keeps the remote target as Request-URI and the route set as Route', async () => {
    const c = confirmed(
      callerRequest({
        body: SIPP_OFFER,
        headers: ['Record-Route: <sip:loose.example;lr>, <sip:strict.example>'],
      }),
    );
    const { bye, to } = await hangupBye(c.ms, () => c.call.hangup());
    expect(bye.uri).toBe('sip:sipp@127.0.0.1:5070');
    expect(bye.getAll('route')).toEqual(['<sip:loose.example;lr>', '<sip:strict.example>']);
    expect(to).toEqual({ address: 'loose.example', port: 5060 });
  });
});

describe('Contact over TLS (RFC 3261 §12.1.1, RFC 5630)', () => {
  async function answerOverTls(requestUri: string, contact: string) {
    const ms = memoryStack((call) => void call.answer(LOCAL));
    const tls = streamPeer(ms, { address: '127.0.0.1', port: 40124 }, 'tls');
    tls.write(
      callerRequest({ body: SIPP_OFFER })
        .replace('INVITE sip:alice@127.0.0.1:5062', `INVITE ${requestUri}`)
        .replace('SIP/2.0/UDP 127.0.0.1:5070', 'SIP/2.0/TLS 127.0.0.1:5071')
        .replace('Contact: <sip:sipp@127.0.0.1:5070>', `Contact: <${contact}>`),
    );
    await flush();
    return tls.messages().filter((m) => m.kind === 'response');
  }

  it('a secure dialog (sips: Request-URI over TLS): the 200 carries a sips: Contact', async () => {
    const [ok] = (await answerOverTls('sips:alice@127.0.0.1:5062', 'sips:sipp@127.0.0.1:5071')).filter(
      (r) => r.status === 200,
    );
    expect(ok?.get('contact')).toBe('<sips:sipscribe@127.0.0.1:5062>');
  });

  it('a sip: Request-URI over TLS (hop-by-hop TLS) keeps sip:…;transport=tls', async () => {
    const [ok] = (
      await answerOverTls('sip:alice@127.0.0.1:5062;transport=tls', 'sip:sipp@127.0.0.1:5071;transport=tls')
    ).filter((r) => r.status === 200);
    expect(ok?.get('contact')).toBe('<sip:sipscribe@127.0.0.1:5062;transport=tls>');
  });
});
