/**
 * Hostile lists and header sections (issue #10): a message with more than MAX_LIST_VALUES values
 * of one list header or more than MAX_HEADER_FIELDS header fields is refused by the parser, and
 * the answer to any malformed request echoes its Via list only when that list is valid (else its
 * top value alone, which routes the answer): an answer is never larger than the request it answers.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../sip/message/parser.js';
import type { SipResponse } from '../../../sip/message/SipMessage.js';
import { memoryTransport, sipText } from '../support/memory.js';

const TOP_VIA = 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-top;rport';

function request(extra: readonly string[], method = 'OPTIONS', vias = [TOP_VIA]): string {
  return sipText([
    `${method} sip:alice@127.0.0.1 SIP/2.0`,
    ...vias,
    'From: <sip:bob@127.0.0.1>;tag=1',
    'To: <sip:alice@127.0.0.1>',
    'Call-ID: c1',
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
    ...extra,
  ]);
}

function exchange(text: string) {
  const m = memoryTransport();
  const delivered: unknown[] = [];
  m.transport.setDelegate({ onRequest: (r) => delivered.push(r), onResponse: (r) => delivered.push(r) });
  m.udp.deliver(text);
  const sent = m.udp.sent.map((s) => s.data);
  return { m, delivered, sent, responses: sent.map((d) => parseMessage(d) as SipResponse) };
}

describe('list headers and header sections are bounded', () => {
  it('Via of a valid value and 65,000 commas → one 400 with only the top Via, smaller than the request', () => {
    const text = request([], 'OPTIONS', [`${TOP_VIA}${','.repeat(65_000)}`]);
    const { m, delivered, sent, responses } = exchange(text);
    expect(delivered).toEqual([]);
    expect(responses.map((r) => r.status)).toEqual([400]);
    expect(responses[0]?.reason).toMatch(/SIP_ERR_TOO_MANY_VALUES/);
    expect(responses[0]?.getAll('via')).toEqual([
      'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-top;rport=5070;received=127.0.0.1',
    ]);
    expect(sent[0]!.length).toBeLessThan(1000);
    expect(m.counters.malformedRejected).toBe(1);
  });

  it('101 Via header lines → 400 with the top Via only', () => {
    const vias = Array.from(
      { length: 101 },
      (_, i) => `Via: SIP/2.0/UDP 10.0.0.${i % 250}:5060;branch=z9hG4bK-${i}`,
    );
    const { delivered, responses } = exchange(request([], 'OPTIONS', [TOP_VIA, ...vias]));
    expect(delivered).toEqual([]);
    expect(responses.map((r) => r.status)).toEqual([400]);
    expect(responses[0]?.getAll('via')).toHaveLength(1);
  });

  it('an INVITE with 200 Record-Route values → 400, not handed on (its 2xx would echo them)', () => {
    const rr = `Record-Route: ${Array.from({ length: 200 }, () => '<sip:p.example;lr>').join(', ')}`;
    const { delivered, responses } = exchange(request([rr], 'INVITE'));
    expect(delivered).toEqual([]);
    expect(responses.map((r) => r.status)).toEqual([400]);
  });

  it('2,000 header fields → 400 SIP_ERR_TOO_MANY_HEADERS, nothing handed on', () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-${i}: 1`);
    const { delivered, responses } = exchange(request(many));
    expect(delivered).toEqual([]);
    expect(responses.map((r) => [r.status, r.reason])).toEqual([
      [400, 'Bad Request (SIP_ERR_TOO_MANY_HEADERS)'],
    ]);
  });

  it('a response with 65,000 empty Via values is dropped and counted', () => {
    const res = sipText([
      `SIP/2.0 200 OK`,
      `${TOP_VIA}${','.repeat(65_000)}`,
      'From: <sip:bob@127.0.0.1>;tag=1',
      'To: <sip:alice@127.0.0.1>;tag=2',
      'Call-ID: c1',
      'CSeq: 1 OPTIONS',
    ]);
    const { m, delivered, sent } = exchange(res);
    expect([delivered, sent]).toEqual([[], []]);
    expect(m.counters.malformedDropped).toBe(1);
  });

  it('still answers a request through 70 proxies (70 Vias, 70 Record-Routes) with every Via echoed', () => {
    const vias = Array.from(
      { length: 70 },
      (_, i) => `Via: SIP/2.0/UDP 10.0.0.${i + 1}:5060;branch=z9hG4bK-${i}`,
    );
    const rr = `Record-Route: ${Array.from({ length: 70 }, (_, i) => `<sip:10.0.0.${i + 1};lr>`).join(', ')}`;
    const { delivered } = exchange(request([rr], 'OPTIONS', vias));
    expect(delivered).toHaveLength(1);
    // A malformed one (bad Contact) is answered along the same 70 hops.
    const bad = exchange(request([rr, 'Contact: <sip:x@y'], 'OPTIONS', vias));
    expect(bad.responses.map((r) => [r.status, r.getAll('via').length])).toEqual([[400, 70]]);
  });
});
