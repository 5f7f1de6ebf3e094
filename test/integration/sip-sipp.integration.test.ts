/**
 * SIPp (a real UAC) calls sipscribe's SipStack over UDP and TCP: codec choices, 488, CANCEL
 * (487), BYE from the caller, and a lost ACK (2xx retransmitted, call continues).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/processes.js';
import { sippCall, type SipTransport } from '../helpers/sipp.js';
import { startAnswerer, type Answerer } from '../sip/support/answerer.js';

let uas: Answerer | undefined;

afterEach(async () => {
  await uas?.stop();
  uas = undefined;
});
afterAll(async () => {
  await stopAll();
});

function answerLine(messages: string): string {
  return /m=audio \d+ RTP\/AVP [0-9 ]+/.exec(messages.split('SIP/2.0 200 OK')[1] ?? '')?.[0] ?? '';
}

describe.each<SipTransport>(['udp', 'tcp'])('SIPp UAC → sipscribe over %s', (transport) => {
  it('PCMU+PCMA offer: answered PCMU with telephone-event, BYE from the caller', async () => {
    uas = await startAnswerer({ ringMs: 100 });
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_call.xml', { transport, durationMs: 300 });
    expect(r.code, r.output).toBe(0);
    expect(r.responses).toEqual(expect.arrayContaining([100, 180, 200]));
    expect(answerLine(r.messages)).toMatch(/RTP\/AVP 0 101$/);
    expect(await uas.calls[0]?.ended).toBe('bye-remote');
    expect(uas.calls[0]?.remote).toMatchObject({
      codec: 'PCMU',
      payloadType: 0,
      telephoneEventPayloadType: 101,
    });
  });

  it('PCMA-only offer: answered PCMA', async () => {
    uas = await startAnswerer();
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_call_pcma.xml', { transport, durationMs: 300 });
    expect(r.code, r.output).toBe(0);
    expect(answerLine(r.messages)).toMatch(/RTP\/AVP 8 101$/);
    expect(await uas.calls[0]?.ended).toBe('bye-remote');
  });

  it('PCMA-first offer: our preference (PCMU) wins', async () => {
    uas = await startAnswerer();
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_call_pcma_first.xml', {
      transport,
      durationMs: 300,
    });
    expect(r.code, r.output).toBe(0);
    expect(answerLine(r.messages)).toMatch(/RTP\/AVP 0 101$/);
  });

  it('PCMA preferred by configuration: answered PCMA to a PCMU+PCMA offer', async () => {
    uas = await startAnswerer({ codecs: ['PCMA', 'PCMU'] });
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_call.xml', { transport, durationMs: 300 });
    expect(r.code, r.output).toBe(0);
    expect(answerLine(r.messages)).toMatch(/RTP\/AVP 8 101$/);
  });

  it('no common codec: 488 with a Warning', async () => {
    uas = await startAnswerer();
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_nocodec.xml', { transport });
    expect(r.code, r.output).toBe(0);
    expect(r.responses).toContain(488);
    expect(r.messages).toMatch(/Warning: 305 [^\r\n]+ "Incompatible media format"/);
    expect(uas.calls).toHaveLength(0);
  });

  it('CANCEL before the answer: 200 for the CANCEL and 487', async () => {
    uas = await startAnswerer({ ringMs: 3000 });
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_cancel.xml', { transport });
    expect(r.code, r.output).toBe(0);
    expect(r.responses).toEqual(expect.arrayContaining([180, 200, 487]));
    expect(await uas.calls[0]?.ended).toBe('cancel');
  });
});

// UDP only: over TCP the first hop cannot lose the ACK, and SIPp 3.6 treats a retransmitted 200 that
// arrives over TCP during a <pause> as an unexpected message (it detects retransmissions on UDP only).
describe.each<SipTransport>(['udp'])('SIPp UAC → sipscribe over %s, lost ACK', (transport) => {
  it('retransmits the 200 until the late ACK and the call continues to the BYE', async () => {
    uas = await startAnswerer();
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_lost_ack.xml', { transport });
    expect(r.code, r.output).toBe(0);
    const oks = (r.messages.match(/SIP\/2\.0 200 OK[\s\S]*?CSeq: 1 INVITE/g) ?? []).length;
    expect(oks).toBeGreaterThanOrEqual(3);
    expect(await uas.calls[0]?.ended).toBe('bye-remote');
    expect(uas.stack.counters.retransmissionsSent).toBeGreaterThanOrEqual(2);
  });
});

describe.each<SipTransport>(['udp', 'tcp'])('SIPp UAC → sipscribe mid-call requests over %s', (transport) => {
  it('re-INVITE hold, INFO DTMF, UPDATE unhold on a new port, in-dialog OPTIONS, BYE', async () => {
    uas = await startAnswerer();
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_midcall.xml', { transport });
    expect(r.code, r.output).toBe(0);
    const rec = uas.calls[0];
    expect(await rec?.ended).toBe('bye-remote');
    expect(rec?.media.map((m) => m.direction)).toEqual(['sendonly', 'sendrecv']);
    expect(rec?.media[1]?.port).toBe((rec?.remote?.port ?? 0) + 2);
    expect(rec?.dtmf).toEqual(['5']);
  });
});

describe('SIPp UAC → sipscribe, session timers (RFC 4028)', () => {
  it('we are the refresher: two UPDATE refreshes at half the interval, then the caller hangs up', async () => {
    uas = await startAnswerer({ minSE: 2 });
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_session_refresh.xml', { transport: 'udp' });
    expect(r.code, r.output).toBe(0);
    expect((r.messages.match(/^UPDATE sip:/gm) ?? []).length).toBe(2);
    expect(await uas.calls[0]?.ended).toBe('bye-remote');
  });

  it('the caller should refresh and does not: we send BYE before the session expires', async () => {
    uas = await startAnswerer({ minSE: 2 });
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_session_expire.xml', { transport: 'tcp' });
    expect(r.code, r.output).toBe(0);
    expect(await uas.calls[0]?.ended).toBe('session-expired');
  });
});
