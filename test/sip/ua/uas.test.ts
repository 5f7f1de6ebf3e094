/**
 * The UAS in memory with a fake clock: INVITE handling (100/180/200, 2xx retransmission until ACK,
 * ACK timeout → BYE), CANCEL, BYE, rejects and challenges, re-INVITE/UPDATE, INFO DTMF,
 * OPTIONS, error answers, session timers, late offer.
 */
import { describe, expect, it } from 'vitest';
import type { SipRequest, SipResponse } from '../../../sip/message/SipMessage.js';
import type { EndReason, IncomingCall, MediaDescription } from '../../../sip/index.js';
import { duplexPair } from '../support/memory.js';
import { CALLER, callerRequest, memoryStack, SIPP_OFFER } from '../support/memoryStack.js';

const LOCAL = { address: '127.0.0.1', port: 20000 };

/** Lets promise continuations (flow resolution before a send) run. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function statusOf(ms: ReturnType<typeof memoryStack>): number[] {
  return ms.responses().map((r) => r.status);
}

function answered(
  ms: ReturnType<typeof memoryStack>,
  offer = SIPP_OFFER,
  headers: string[] = [],
): { call: IncomingCall; ok: SipResponse; ended: EndReason[] } {
  ms.send(callerRequest({ body: offer, headers }));
  const call = ms.calls[0]!;
  const ended: EndReason[] = [];
  call.on('ended', (r) => ended.push(r));
  void call.answer(LOCAL);
  const ok = ms.responses().find((r) => r.status === 200)!;
  return { call, ok, ended };
}

describe('UAS INVITE', () => {
  it('100 Trying, then 180 with a To tag and Contact, then 200 with the SDP answer', async () => {
    const ms = memoryStack((call) => call.ring());
    ms.send(callerRequest({ body: SIPP_OFFER }));
    const [trying, ringing] = ms.responses();
    expect(trying?.status).toBe(100);
    expect(trying?.toTag).toBeUndefined();
    expect(ringing?.status).toBe(180);
    expect(ringing?.toTag).toBe(ms.calls[0]?.localTag);
    expect(ringing?.get('contact')).toMatch(/^<sip:sipscribe@127\.0\.0\.1:5062;transport=udp>$/);
    const call = ms.calls[0]!;
    expect(call.offer).toMatchObject({ address: '127.0.0.1', port: 6100, codec: 'PCMU' });
    expect([call.from, call.to, call.transport, call.source]).toEqual([
      'sip:sipp@127.0.0.1:5070',
      'sip:alice@127.0.0.1:5062',
      'udp',
      { address: '127.0.0.1', port: 5070 },
    ]);
    const remote = await call.answer(LOCAL);
    expect(remote).toMatchObject({ port: 6100, codec: 'PCMU', payloadType: 0 });
    const [ok] = ms.responses();
    expect(ok?.status).toBe(200);
    expect(ok?.get('content-type')).toBe('application/sdp');
    expect(ok?.bodyText).toContain('m=audio 20000 RTP/AVP 0 101');
    expect(ok?.get('allow')).toContain('UPDATE');
  });

  it('retransmits the 200 (T1 doubling to T2) until the ACK, then stays up; BYE ends it', () => {
    const ms = memoryStack();
    const { call, ok, ended } = answered(ms);
    const times: number[] = [];
    const start = ms.clock.now();
    for (let i = 0; i < 240; i++) {
      ms.clock.advance(50);
      if (ms.responses().some((r) => r.status === 200)) {
        times.push(ms.clock.now() - start);
      }
    }
    expect(times).toEqual([500, 1500, 3500, 7500, 11500]);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }));
    ms.clock.advance(60_000);
    expect(ms.responses()).toHaveLength(0);
    expect(call.state).toBe('confirmed');
    ms.send(callerRequest({ method: 'BYE', cseq: 2, toTag: ok.toTag }));
    expect(statusOf(ms)).toEqual([200]);
    expect(ended).toEqual(['bye-remote']);
    expect(ms.stack.activeCalls).toBe(0);
  });

  it('retransmits the 2xx over TCP too (end to end, RFC 3261 §13.3.1.4)', async () => {
    const ms = memoryStack((call) => void call.answer(LOCAL));
    const [ours, theirs] = duplexPair();
    ms.stack.transport.attachStream(ours, 'tcp', { address: '127.0.0.1', port: 5062 }, CALLER);
    const got: string[] = [];
    theirs.on('data', (d: Buffer) => got.push(d.toString('latin1')));
    theirs.write(callerRequest({ body: SIPP_OFFER }).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
    await flush();
    const oks = (): number => got.join('').split('SIP/2.0 200 OK').length - 1;
    expect(oks()).toBe(1);
    ms.clock.advance(500);
    await flush();
    expect(oks()).toBe(2);
  });

  it('ends with BYE after 64·T1 without an ACK', async () => {
    const ms = memoryStack();
    const { ended } = answered(ms);
    ms.clock.advance(31_900);
    expect(ended).toEqual([]);
    ms.take();
    ms.clock.advance(100);
    await flush();
    const bye = ms.take().find((m): m is SipRequest => m.kind === 'request');
    expect(bye?.method).toBe('BYE');
    expect(bye?.uri).toBe('sip:sipp@127.0.0.1:5070');
    expect(ended).toEqual(['ack-timeout']);
  });

  it('CANCEL → 200 for the CANCEL and 487 for the INVITE', () => {
    const ms = memoryStack((c) => c.ring());
    ms.send(callerRequest({ body: SIPP_OFFER }));
    ms.take();
    const ended: EndReason[] = [];
    ms.calls[0]!.on('ended', (r) => ended.push(r));
    ms.send(callerRequest({ method: 'CANCEL', branch: 'z9hG4bK-INVITE-1' }));
    const res = ms.responses();
    expect(res.map((r) => [r.status, r.cseq.method])).toEqual([
      [200, 'CANCEL'],
      [487, 'INVITE'],
    ]);
    expect(ended).toEqual(['cancel']);
  });

  it('CANCEL for an unknown transaction → 481', () => {
    const ms = memoryStack();
    ms.send(callerRequest({ method: 'CANCEL', branch: 'z9hG4bK-nothing' }));
    expect(statusOf(ms)).toEqual([481]);
  });

  it('reject(503, retryAfter) and challenge() (401 / 407)', () => {
    const ms = memoryStack((c) => c.reject(503, { retryAfter: 30 }));
    ms.send(callerRequest({ body: SIPP_OFFER }));
    const res = ms.responses();
    expect(res.map((r) => r.status)).toEqual([100, 503]);
    expect(res[1]?.get('retry-after')).toBe('30');

    const ms2 = memoryStack((c) => c.challenge({ header: 'Digest realm="x", nonce="n"' }));
    ms2.send(callerRequest({ body: SIPP_OFFER }));
    expect(ms2.responses()[1]?.get('www-authenticate')).toBe('Digest realm="x", nonce="n"');
    const ms4 = memoryStack((c) =>
      c.challenge({ header: ['Digest algorithm=SHA-256', 'Digest algorithm=MD5'] }),
    );
    ms4.send(callerRequest({ body: SIPP_OFFER }));
    expect(ms4.responses()[1]?.getAll('www-authenticate')).toEqual([
      'Digest algorithm=SHA-256',
      'Digest algorithm=MD5',
    ]);
    const ms3 = memoryStack((c) => c.challenge({ header: 'Digest realm="x"', proxy: true }));
    ms3.send(callerRequest({ body: SIPP_OFFER }));
    const r3 = ms3.responses()[1];
    expect([r3?.status, r3?.get('proxy-authenticate')]).toEqual([407, 'Digest realm="x"']);
  });

  it('no acceptable codec → 488 with Warning 305, the application is not asked', () => {
    const ms = memoryStack();
    ms.send(
      callerRequest({
        body: SIPP_OFFER.replace('RTP/AVP 0 8 101', 'RTP/AVP 9 101').replace(/a=rtpmap:[08] [^\r]*\r\n/g, ''),
      }),
    );
    const res = ms.responses();
    expect(res.map((r) => r.status)).toEqual([100, 488]);
    expect(res[1]?.get('warning')).toMatch(/^305 .* "Incompatible media format"$/);
    expect(ms.calls).toHaveLength(0);
  });

  it('late offer: our offer in the 200, the answer from the ACK', async () => {
    const ms = memoryStack();
    ms.send(callerRequest());
    const call = ms.calls[0]!;
    expect(call.offer).toBeUndefined();
    const p = call.answer(LOCAL);
    const ok = ms.responses().find((r) => r.status === 200)!;
    expect(ok.bodyText).toContain('m=audio 20000 RTP/AVP 0 8 101');
    const answer = SIPP_OFFER.replace('RTP/AVP 0 8 101', 'RTP/AVP 8 101');
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag, body: answer }));
    expect(await p).toMatchObject({ codec: 'PCMA', port: 6100 });
  });
});

describe('UAS in-dialog', () => {
  function confirmed(opts: { headers?: string[] } = {}) {
    const ms = memoryStack();
    const a = answered(ms, SIPP_OFFER, opts.headers);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: a.ok.toTag }));
    const media: MediaDescription[] = [];
    const dtmf: string[] = [];
    a.call.on('mediaUpdated', (d) => media.push(d));
    a.call.on('dtmf', (d) => dtmf.push(`${d.digit}/${d.durationMs}`));
    return { ms, ...a, media, dtmf, tag: a.ok.toTag };
  }

  it('re-INVITE to hold (sendonly) → 200 recvonly, mediaUpdated; unhold with a new address', () => {
    const c = confirmed();
    c.ms.send(
      callerRequest({
        method: 'INVITE',
        cseq: 2,
        toTag: c.tag,
        body: SIPP_OFFER.replace('a=sendrecv', 'a=sendonly'),
      }),
    );
    const ok = c.ms.responses().find((r) => r.status === 200);
    expect(ok?.bodyText).toContain('a=recvonly');
    expect(ok?.bodyText).toMatch(/o=- \d+ 2 IN IP4/);
    expect(c.media.map((m) => m.direction)).toEqual(['sendonly']);
    c.ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack2', cseq: 2, toTag: c.tag }));
    c.ms.send(
      callerRequest({
        method: 'INVITE',
        cseq: 3,
        toTag: c.tag,
        body: SIPP_OFFER.replace(/c=IN IP4 127.0.0.1/, 'c=IN IP4 127.0.0.2').replace('6100', '6200'),
      }),
    );
    expect(c.media[1]).toMatchObject({ address: '127.0.0.2', port: 6200, direction: 'sendrecv' });
  });

  it('UPDATE with an offer → 200 with an answer', () => {
    const c = confirmed();
    c.ms.send(
      callerRequest({
        method: 'UPDATE',
        cseq: 2,
        toTag: c.tag,
        body: SIPP_OFFER.replace('a=sendrecv', 'a=inactive'),
      }),
    );
    const ok = c.ms.responses()[0];
    expect([ok?.status, ok?.bodyText.includes('a=inactive')]).toEqual([200, true]);
    expect(c.media[0]?.direction).toBe('inactive');
  });

  it('INFO application/dtmf-relay → 200 and a dtmf event', () => {
    const c = confirmed();
    c.ms.send(
      callerRequest({
        method: 'INFO',
        cseq: 2,
        toTag: c.tag,
        body: 'Signal=5\r\nDuration=160\r\n',
        contentType: 'application/dtmf-relay',
      }),
    );
    expect(statusOf(c.ms)).toEqual([200]);
    expect(c.dtmf).toEqual(['5/160']);
  });

  it('a request with an old CSeq → 500; unknown dialog → 481; in-dialog OPTIONS → 200', () => {
    const c = confirmed();
    c.ms.send(callerRequest({ method: 'INFO', cseq: 1, branch: 'z9hG4bK-old', toTag: c.tag }));
    c.ms.send(callerRequest({ method: 'BYE', cseq: 5, toTag: 'nope' }));
    c.ms.send(callerRequest({ method: 'OPTIONS', cseq: 6, toTag: c.tag }));
    expect(statusOf(c.ms)).toEqual([500, 481, 200]);
  });

  it('hangup() sends BYE to the Contact and ends bye-local', async () => {
    const c = confirmed();
    const p = c.call.hangup();
    await flush();
    const bye = c.ms.take()[0] as SipRequest;
    expect([bye.method, bye.uri, bye.fromTag, bye.toTag]).toEqual([
      'BYE',
      'sip:sipp@127.0.0.1:5070',
      c.tag,
      'caller1',
    ]);
    c.ms.send(
      [
        'SIP/2.0 200 OK',
        `Via: ${bye.getAll('via')[0]}`,
        `From: ${bye.get('from')}`,
        `To: ${bye.get('to')}`,
        `Call-ID: ${bye.callId}`,
        `CSeq: ${bye.get('cseq')}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    await p;
    expect(c.ended).toEqual(['bye-local']);
  });

  it('hangup() before the ACK waits for it, then sends BYE (RFC 3261 §15)', async () => {
    const ms = memoryStack();
    const { call, ok, ended } = answered(ms);
    void call.hangup();
    await flush();
    expect(ms.take().filter((m) => m.kind === 'request')).toHaveLength(0);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }));
    await flush();
    expect(ms.take().map((m) => (m.kind === 'request' ? m.method : m.status))).toEqual(['BYE']);
    expect(ended).toEqual(['bye-local']);
  });

  it('keeps the Record-Route set: copied into the 200, used as Route for our BYE (loose routing)', async () => {
    const ms = memoryStack();
    ms.send(
      callerRequest({
        body: SIPP_OFFER,
        headers: ['Record-Route: <sip:edge.example;lr>, <sip:core.example:5080;lr>'],
      }),
    );
    const call = ms.calls[0]!;
    void call.answer(LOCAL);
    const ok = ms.responses().find((r) => r.status === 200)!;
    expect(ok.getAll('record-route')).toEqual(['<sip:edge.example;lr>', '<sip:core.example:5080;lr>']);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }));
    void call.hangup();
    await flush();
    const sent = ms.udp.sent[0];
    const bye = ms.take()[0] as SipRequest;
    expect([bye.method, bye.uri]).toEqual(['BYE', 'sip:sipp@127.0.0.1:5070']);
    expect(bye.getAll('route')).toEqual(['<sip:edge.example;lr>', '<sip:core.example:5080;lr>']);
    expect(sent?.to).toEqual({ address: 'edge.example', port: 5060 });
  });

  it('session timer, caller refreshes: BYE at interval − min(32, interval/3) without a refresh', async () => {
    const c = confirmed({ headers: ['Session-Expires: 120;refresher=uac', 'Supported: timer'] });
    expect(c.ok.get('session-expires')).toBe('120;refresher=uac');
    expect(c.ok.get('require')).toBe('timer');
    c.ms.take();
    c.ms.clock.advance(87_000);
    expect(c.ended).toEqual([]);
    c.ms.clock.advance(1_000);
    await flush();
    expect((c.ms.take()[0] as SipRequest | undefined)?.method).toBe('BYE');
    expect(c.ended).toEqual(['session-expired']);
  });

  it('session timer, a refresh (re-INVITE) postpones expiry', () => {
    const c = confirmed({ headers: ['Session-Expires: 120;refresher=uac', 'Supported: timer'] });
    c.ms.clock.advance(60_000);
    c.ms.send(
      callerRequest({
        method: 'UPDATE',
        cseq: 2,
        toTag: c.tag,
        headers: ['Session-Expires: 120;refresher=uac', 'Supported: timer'],
      }),
    );
    expect(statusOf(c.ms)).toEqual([200]);
    c.ms.clock.advance(60_000);
    expect(c.ended).toEqual([]);
    c.ms.clock.advance(28_000);
    expect(c.ended).toEqual(['session-expired']);
  });

  it('session timer, a refused UPDATE (488) changes nothing: the interval in force stays', () => {
    const c = confirmed({ headers: ['Session-Expires: 120;refresher=uac', 'Supported: timer'] });
    c.ms.clock.advance(60_000);
    c.ms.take();
    const g729 = SIPP_OFFER.replace('RTP/AVP 0 8 101', 'RTP/AVP 18').replace(/a=rtpmap:[^\r]*\r\n/g, '');
    c.ms.send(
      callerRequest({
        method: 'UPDATE',
        cseq: 2,
        toTag: c.tag,
        body: g729,
        headers: ['Session-Expires: 1800;refresher=uac', 'Supported: timer'],
      }),
    );
    expect(statusOf(c.ms)).toEqual([488]);
    c.ms.take();
    // The next refresh carries no Session-Expires: the 200 restates the interval in force (120 s).
    c.ms.send(callerRequest({ method: 'UPDATE', cseq: 3, toTag: c.tag, headers: ['Supported: timer'] }));
    const ok = c.ms.responses().find((r) => r.status === 200);
    expect(ok?.get('session-expires')).toBe('120;refresher=uac');
  });

  it('session timer, we refresh: UPDATE at half the interval when the caller allows UPDATE', async () => {
    const c = confirmed({ headers: ['Session-Expires: 100', 'Allow: INVITE, ACK, BYE, CANCEL, UPDATE'] });
    expect(c.ok.get('session-expires')).toBe('100;refresher=uas');
    expect(c.ok.get('require')).toBeUndefined();
    c.ms.take();
    c.ms.clock.advance(50_000);
    await flush();
    const upd = c.ms.take()[0] as SipRequest;
    expect(upd.method).toBe('UPDATE');
    expect(upd.get('session-expires')).toBe('100;refresher=uas');
  });

  it('Session-Expires below Min-SE → 422 with Min-SE', () => {
    const ms = memoryStack();
    ms.send(callerRequest({ body: SIPP_OFFER, headers: ['Session-Expires: 30'] }));
    const r = ms.responses()[0];
    expect([r?.status, r?.get('min-se')]).toEqual([422, '90']);
  });
});

describe('UAS out-of-dialog answers', () => {
  it.each([
    ['OPTIONS', [], 200],
    ['REGISTER', [], 405],
    ['SUBSCRIBE', [], 405],
    ['FOO', [], 501],
    ['BYE', [], 481],
    ['INFO', [], 481],
    ['OPTIONS', ['Require: 100rel, foo'], 420],
  ] as const)('%s %j → %i', (method, headers, status) => {
    const ms = memoryStack();
    ms.send(callerRequest({ method, headers: [...headers] }));
    const r = ms.responses()[0];
    expect(r?.status).toBe(status);
    if (status === 200) {
      expect(r?.get('allow')).toBe('INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE');
      expect(r?.get('accept')).toBe('application/sdp');
      expect(r?.get('supported')).toBe('timer');
    }
    if (status === 420) {
      expect(r?.get('unsupported')).toBe('100rel, foo');
    }
    if (status === 405) {
      expect(r?.get('allow')).toContain('INVITE');
    }
  });

  it('absorbs a retransmitted INVITE (one call, 100 resent)', () => {
    const ms = memoryStack();
    ms.send(callerRequest({ body: SIPP_OFFER }));
    ms.send(callerRequest({ body: SIPP_OFFER }));
    expect(ms.calls).toHaveLength(1);
    expect(statusOf(ms)).toEqual([100, 100]);
  });

  it('an INVITE with no delegate answer policy left pending is not answered by the stack', () => {
    const ms = memoryStack();
    ms.send(callerRequest({ body: SIPP_OFFER }));
    expect(statusOf(ms)).toEqual([100]);
    expect(ms.calls[0]?.state).toBe('offered');
  });
});

describe('UAS resource release', () => {
  it('answers 480 to an INVITE the application forgets, after inviteTimeoutMs', () => {
    const ms = memoryStack(() => undefined, { inviteTimeoutMs: 60_000 });
    ms.send(callerRequest({ body: SIPP_OFFER }));
    ms.take();
    ms.clock.advance(60_000);
    expect(statusOf(ms)).toEqual([480]);
    expect(ms.calls[0]?.endReason).toBe('rejected');
  });

  it('leaves no transaction, dialog, call or timer behind after a complete call', async () => {
    const ms = memoryStack();
    const { ok } = answered(ms);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }));
    ms.send(callerRequest({ method: 'BYE', cseq: 2, toTag: ok.toTag }));
    await flush();
    ms.clock.advance(64 * 500);
    expect(ms.stack.transactions.size).toEqual({ servers: 0, clients: 0 });
    expect(ms.stack.activeCalls).toBe(0);
    expect(ms.clock.pending).toBe(0);
  });
});

describe('UAS under a mix of calls', () => {
  it('releases everything after 300 calls answered, rejected, cancelled and left without ACK', async () => {
    let n = 0;
    const ms = memoryStack((call) => {
      const kind = n++ % 4;
      if (kind === 1) {
        call.reject(486);
      } else if (kind === 2) {
        call.ring();
      } else {
        void call.answer(LOCAL).catch(() => undefined);
      }
    });
    for (let i = 0; i < 300; i++) {
      const callId = `mix-${i}`;
      ms.send(callerRequest({ callId, branch: `z9hG4bK-mix-${i}`, body: SIPP_OFFER }));
      const kind = i % 4;
      const ok = ms.responses().find((r) => r.status === 200);
      if (kind === 0 && ok) {
        ms.send(callerRequest({ callId, method: 'ACK', branch: `z9hG4bK-ack-${i}`, toTag: ok.toTag }));
        ms.send(
          callerRequest({ callId, method: 'BYE', cseq: 2, branch: `z9hG4bK-bye-${i}`, toTag: ok.toTag }),
        );
      } else if (kind === 1) {
        ms.send(callerRequest({ callId, method: 'ACK', branch: `z9hG4bK-mix-${i}`, toTag: 'x' }));
      } else if (kind === 2) {
        ms.send(callerRequest({ callId, method: 'CANCEL', branch: `z9hG4bK-mix-${i}` }));
      }
      // kind 3: answered, ACK never comes → BYE after 64·T1
    }
    await flush();
    ms.clock.advance(64 * 500);
    await flush();
    // Answer the BYEs sent for the ACK timeouts, then let Timer K/J/... run out.
    for (const m of ms.take()) {
      if (m.kind === 'request' && m.method === 'BYE') {
        ms.send(
          [
            'SIP/2.0 200 OK',
            ...m.getAll('via').map((v) => `Via: ${v}`),
            `From: ${m.get('from')}`,
            `To: ${m.get('to')}`,
            `Call-ID: ${m.callId}`,
            `CSeq: ${m.get('cseq')}`,
            'Content-Length: 0',
            '',
            '',
          ].join('\r\n'),
        );
      }
    }
    ms.clock.advance(64 * 500);
    await flush();
    expect(ms.stack.activeCalls).toBe(0);
    expect(ms.stack.transactions.size).toEqual({ servers: 0, clients: 0 });
    expect(ms.clock.pending).toBe(0);
    expect(ms.calls.map((c) => c.endReason).filter((r) => r === 'ack-timeout')).toHaveLength(75);
  });
});

describe('UAS merged requests (RFC 3261 §8.2.2.2)', () => {
  it('answers 482 to the same INVITE arriving with another branch', () => {
    const ms = memoryStack();
    ms.send(callerRequest({ body: SIPP_OFFER, branch: 'z9hG4bK-path1' }));
    ms.send(callerRequest({ body: SIPP_OFFER, branch: 'z9hG4bK-path2' }));
    expect(statusOf(ms)).toEqual([100, 482]);
    expect(ms.calls).toHaveLength(1);
  });
});
