import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../../../sip/errors.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { serialize, setBody, SipRequest } from '../../../sip/message/SipMessage.js';
import { FIXTURES } from '../../helpers/paths.js';
import { TORTURE, tortureBytes } from './torture-table.js';

const crlf = (...lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');

describe('parseMessage', () => {
  it('parses a SIPp INVITE byte for byte (padded Content-Length trimmed)', () => {
    const bytes = readFileSync(join(FIXTURES, 'sip', 'messages', 'sipp-invite.sip'));
    const msg = parseMessage(bytes);
    expect(msg).toBeInstanceOf(SipRequest);
    const req = msg as SipRequest;
    expect(req.method).toBe('INVITE');
    expect(req.uri).toBe('sip:alice@127.0.0.1:5062;transport=udp');
    expect(req.get('content-length')).toBe('232');
    expect(req.body.length).toBe(232);
    expect(req.bodyText.startsWith('v=0\r\n')).toBe(true);
    expect(req.cseq).toEqual({ seq: 1, method: 'INVITE' });
    expect(req.fromTag).toBe('1234SIPpTag001');
    expect(req.from?.displayName).toBe('SIPp caller');
    expect(req.via?.branch).toBe('z9hG4bK-1234-1-0');
    expect(req.via?.params.has('rport')).toBe(true);
    expect(serialize(req).equals(bytes)).toBe(true);
  });

  const roundTrip = TORTURE.filter(([f, , e]) => e === 'valid' && f !== 'dblreq').map(([f]) => f);
  it.each(roundTrip)('round-trips RFC 4475 %s byte for byte', (file) => {
    const bytes = tortureBytes(file);
    const msg = parseMessage(bytes, { datagram: true });
    const out = serialize(msg);
    // A datagram without the final empty line gets one on output; everything else is identical.
    expect(out.toString('latin1')).toBe(
      bytes.includes('\r\n\r\n') ? bytes.toString('latin1') : bytes.toString('latin1') + '\r\n',
    );
  });

  it('keeps a body in memory of its own, not in a slab shared with other Buffers', () => {
    // A kept INVITE would otherwise hold a whole 8 KiB pool slab (Buffer.poolSize) alive for the call.
    const bytes = readFileSync(join(FIXTURES, 'sip', 'messages', 'sipp-invite.sip'));
    const req = parseMessage(bytes) as SipRequest;
    expect(req.body.length).toBe(232);
    expect(req.body.buffer.byteLength).toBe(232);
    expect(req.body.byteOffset).toBe(0);
    const ok = new SipRequest('INVITE', 'sip:a@example.com');
    setBody(ok, 'v=0\r\n', 'application/sdp');
    expect(ok.body.buffer.byteLength).toBe(5);
  });

  it('discards octets after Content-Length in a datagram (RFC 4475 §3.1.1.8)', () => {
    const msg = parseMessage(tortureBytes('dblreq'), { datagram: true });
    expect(msg.body.length).toBe(0);
    expect((msg as SipRequest).method).toBe('REGISTER');
  });

  it('expands compact forms and joins folded lines (RFC 3261 §7.3.1, §7.3.3)', () => {
    const msg = parseMessage(
      crlf(
        'OPTIONS sip:a@b SIP/2.0',
        'v: SIP/2.0/UDP h1;branch=z9hG4bK1,',
        ' SIP/2.0/TCP h2;branch=z9hG4bK2',
        'Via: SIP/2.0/UDP h3;branch=z9hG4bK3',
        'f: <sip:x@y>;tag=1',
        't: <sip:a@b>',
        'i: cid',
        'CSeq: 1 OPTIONS',
        'k: timer, 100rel',
        'Supported: path',
        'l: 0',
        '',
        '',
      ),
    );
    expect(msg.getAll('via')).toHaveLength(3);
    expect(msg.getAll('Via')[1]).toBe('SIP/2.0/TCP h2;branch=z9hG4bK2');
    expect(msg.callId).toBe('cid');
    expect(msg.getAll('supported')).toEqual(['timer', '100rel', 'path']);
    expect(msg.get('content-length')).toBe('0');
  });

  it('parses IPv6 hosts in URIs and Via', () => {
    const msg = parseMessage(
      crlf(
        'OPTIONS sip:alice@[::1]:5062 SIP/2.0',
        'Via: SIP/2.0/UDP [::1]:5070;branch=z9hG4bKx;rport',
        'From: <sip:x@[::1]>;tag=1',
        'To: <sip:alice@[::1]>',
        'Call-ID: c',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ),
    );
    expect(msg.via).toMatchObject({ host: '::1', port: 5070, transport: 'UDP' });
    expect(msg.to?.uri.host).toBe('::1');
  });

  const bad: readonly (readonly [string, Buffer, string])[] = [
    ['empty', Buffer.alloc(0), 'SIP_ERR_EMPTY'],
    ['only CRLFs', Buffer.from('\r\n\r\n'), 'SIP_ERR_EMPTY'],
    ['garbage', Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'SIP_ERR_NO_HEADER_END'],
    ['header without colon', crlf('OPTIONS sip:a@b SIP/2.0', 'Via', '', ''), 'SIP_ERR_BAD_HEADER'],
    ['bad start line', crlf('HELLO', 'Via: x', '', ''), 'SIP_ERR_BAD_START_LINE'],
    ['bad version', crlf('OPTIONS sip:a@b SIP/3.0', 'Via: x', '', ''), 'SIP_ERR_BAD_VERSION'],
    ['bad URI', crlf('OPTIONS sip:a@ SIP/2.0', 'Via: x', '', ''), 'SIP_ERR_BAD_URI'],
    ['2-digit status', crlf('SIP/2.0 20 OK', 'Via: x', '', ''), 'SIP_ERR_BAD_STATUS'],
    [
      'body shorter than Content-Length',
      crlf('OPTIONS sip:a@b SIP/2.0', 'l: 10', '', 'abc'),
      'SIP_ERR_TRUNCATED_BODY',
    ],
    [
      'non-numeric Content-Length',
      crlf('OPTIONS sip:a@b SIP/2.0', 'l: x', '', ''),
      'SIP_ERR_BAD_CONTENT_LENGTH',
    ],
  ];
  it.each(bad)('rejects %s with its code', (_name, bytes, code) => {
    expect(() => parseMessage(bytes)).toThrow(SipParseError);
    try {
      parseMessage(bytes);
    } catch (err) {
      expect((err as SipParseError).code).toBe(code);
    }
  });

  it('rejects a message above the maximum size with 513 and keeps its headers', () => {
    const body = 'x'.repeat(2000);
    const bytes = crlf(
      'MESSAGE sip:a@b SIP/2.0',
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      `l: ${body.length}`,
      '',
      body,
    );
    try {
      parseMessage(bytes, { maxSize: 1000 });
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'SIP_ERR_TOO_LARGE', status: 513, isRequest: true });
      expect((err as SipParseError).headers?.[0]?.name).toBe('Via');
    }
  });
});
