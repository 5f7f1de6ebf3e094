/**
 * A third-party SIPREC client (SIPp, test/fixtures/sipp/uac_siprec*.xml) against sipscribe's SIP
 * stack as a recorder (`siprec` option) over UDP and TCP: a multipart INVITE (SDP with two
 * labelled streams + rs-metadata) is answered 200 with two a=recvonly streams, one codec each,
 * +sip.srs; a malformed multipart body is answered 400 with a Warning.
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

describe.each<SipTransport>(['udp', 'tcp'])('SIPREC client (SIPp) → sipscribe over %s', (transport) => {
  it('two labelled streams + metadata: 200 with two recvonly m-lines (PCMU, PCMA), then BYE', async () => {
    uas = await startAnswerer({ siprec: true });
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_siprec.xml', { transport, durationMs: 200 });
    expect(r.code, r.output).toBe(0);
    expect(r.responses).toContain(200);
    const ok = r.messages.split('SIP/2.0 200 OK')[1] ?? '';
    expect(ok.match(/m=audio \d+ RTP\/AVP \d+/g)?.map((m) => m.replace(/ \d+ RTP/, ' _ RTP'))).toEqual([
      'm=audio _ RTP/AVP 0',
      'm=audio _ RTP/AVP 8',
    ]);
    expect(ok.match(/a=recvonly/g)).toHaveLength(2);
    const call = uas.calls[0];
    expect(call?.call.recording?.metadataXml).toMatch(/<name>Alice<\/name>/);
    expect(call?.call.recording?.streams.map((s) => [s.label, s.media.codec, s.media.direction])).toEqual([
      ['96', 'PCMU', 'sendonly'],
      ['98', 'PCMA', 'sendonly'],
    ]);
    const [s96, s98] = call?.call.recording?.streams ?? [];
    expect(s98?.media.port).toBe((s96?.media.port ?? 0) + 2);
    expect(call?.streams?.map((s) => s.label)).toEqual(['96', '98']);
    expect(await call?.ended).toBe('bye-remote');
  });

  it('a multipart body without its close delimiter: 400 with a Warning, no call', async () => {
    uas = await startAnswerer({ siprec: true });
    const r = await sippCall(`127.0.0.1:${uas.port}`, 'uac_siprec_bad_multipart.xml', { transport });
    expect(r.code, r.output).toBe(0);
    expect(r.responses).toContain(400);
    expect(uas.calls).toHaveLength(0);
    expect(uas.stack.counters.malformedRejected).toBe(1);
  });
});
