import { describe, expect, it } from 'vitest';
import { SipBodyError } from '../../../sip/errors.js';
import { parseContentType, parseMultipart } from '../../../sip/message/multipart.js';

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'latin1');

describe('parseMultipart (RFC 2046 §5.1)', () => {
  it("reads RFC 2046 §5.1.1's example: preamble and epilogue ignored, an untyped part is text/plain", () => {
    // The body of the example message in RFC 2046 §5.1.1, with CRLF line breaks.
    const body = crlf([
      'This is the preamble.  It is to be ignored, though it',
      'is a handy place for composition agents to include an',
      'explanatory note to non-MIME conformant readers.',
      '',
      '--simple boundary',
      '',
      'This is implicitly typed plain US-ASCII text.',
      'It does NOT end with a linebreak.',
      '--simple boundary',
      'Content-type: text/plain; charset=us-ascii',
      '',
      'This is explicitly typed plain US-ASCII text.',
      'It DOES end with a linebreak.',
      '',
      '--simple boundary--',
      '',
      'This is the epilogue.  It is also to be ignored.',
      '',
    ]);
    const parts = parseMultipart(body, 'multipart/mixed; boundary="simple boundary"');
    expect(parts).toHaveLength(2);
    expect(parts[0]?.type).toBe('text/plain');
    expect(parts[0]?.headers).toEqual([]);
    expect(parts[0]?.body.toString()).toBe(
      'This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak.',
    );
    expect(parts[1]?.type).toBe('text/plain');
    expect(parts[1]?.headers).toEqual([{ name: 'Content-type', value: 'text/plain; charset=us-ascii' }]);
    expect(parts[1]?.body.toString()).toBe(
      'This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n',
    );
  });

  it('reads a SIPREC body (RFC 7866): SDP and metadata parts with their dispositions', () => {
    const body = crlf([
      '--foobar',
      'Content-Type: application/sdp',
      '',
      'v=0',
      'm=audio 49170 RTP/AVP 0',
      '',
      '--foobar',
      'Content-Type: application/rs-metadata+xml',
      'Content-Disposition: recording-session',
      '',
      '<recording/>',
      '--foobar--',
      '',
    ]);
    const parts = parseMultipart(body, 'multipart/mixed;boundary=foobar');
    expect(parts.map((p) => [p.type, p.disposition, p.body.toString()])).toEqual([
      ['application/sdp', undefined, 'v=0\r\nm=audio 49170 RTP/AVP 0\r\n'],
      ['application/rs-metadata+xml', 'recording-session', '<recording/>'],
    ]);
  });

  it('takes bare LF line breaks, transport padding after a delimiter, folded part headers and case-insensitive names', () => {
    const body = Buffer.from(
      '--b  \nCONTENT-TYPE:\n Application/SDP\n\nv=0\n--b\t\ncontent-disposition: Session; handling=required\n\nx\n--b--',
    );
    const parts = parseMultipart(body, 'Multipart/Mixed; Boundary=b');
    expect(parts.map((p) => [p.type, p.disposition, p.body.toString()])).toEqual([
      ['application/sdp', undefined, 'v=0'],
      ['text/plain', 'session', 'x'],
    ]);
  });

  it('does not take the boundary inside a line, or a line that only starts with it, as a delimiter', () => {
    const body = crlf(['--b', '', 'text --b inside', '--bc not a delimiter', '--b--']);
    const parts = parseMultipart(body, 'multipart/mixed;boundary=b');
    expect(parts).toHaveLength(1);
    expect(parts[0]?.body.toString()).toBe('text --b inside\r\n--bc not a delimiter');
  });

  it('keeps an empty part and binary octets as they are', () => {
    const octets = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x80]);
    const body = Buffer.concat([
      Buffer.from('--b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n'),
      octets,
      Buffer.from('\r\n--b--\r\n'),
    ]);
    const parts = parseMultipart(body, 'multipart/mixed;boundary=b');
    expect(parts[0]?.body.length).toBe(0);
    expect(parts[1]?.body.equals(octets)).toBe(true);
  });

  const malformed: [string, string, string, RegExp][] = [
    ['no boundary parameter', 'multipart/mixed', '--b\r\n\r\nx\r\n--b--', /no valid boundary/],
    ['a boundary of 71 characters', `multipart/mixed;boundary=${'a'.repeat(71)}`, '', /no valid boundary/],
    ['a boundary ending with a space', 'multipart/mixed;boundary="ab "', '', /no valid boundary/],
    ['not a multipart type', 'application/sdp', 'v=0', /not a multipart type/],
    ['no delimiter at all', 'multipart/mixed;boundary=b', 'v=0\r\n', /no delimiter line/],
    [
      'no close delimiter (truncated)',
      'multipart/mixed;boundary=b',
      '--b\r\n\r\nv=0\r\n',
      /no close delimiter/,
    ],
    ['only a close delimiter', 'multipart/mixed;boundary=b', '--b--\r\n', /no body part/],
    [
      'a part line that is no header field',
      'multipart/mixed;boundary=b',
      '--b\r\nv=0\r\n--b--',
      /not a header field/,
    ],
    [
      'a malformed part Content-Type',
      'multipart/mixed;boundary=b',
      '--b\r\nContent-Type: application\r\n\r\nx\r\n--b--',
      /bad part Content-Type/,
    ],
  ];
  for (const [name, type, body, why] of malformed) {
    it(`refuses ${name} with SIP_ERR_MULTIPART`, () => {
      const err = (() => {
        try {
          parseMultipart(Buffer.from(body), type);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(SipBodyError);
      expect((err as SipBodyError).code).toBe('SIP_ERR_MULTIPART');
      expect((err as SipBodyError).message).toMatch(why);
    });
  }

  it('bounds the number of parts and of part header fields', () => {
    const many = `${'--b\r\n\r\nx\r\n'.repeat(9)}--b--`;
    expect(() => parseMultipart(Buffer.from(many), 'multipart/mixed;boundary=b')).toThrow(
      /more than 8 body parts/,
    );
    const headers = `--b\r\n${'X-A: 1\r\n'.repeat(17)}\r\nx\r\n--b--`;
    expect(() => parseMultipart(Buffer.from(headers), 'multipart/mixed;boundary=b')).toThrow(
      /more than 16 header fields/,
    );
    expect(
      parseMultipart(Buffer.from(many), 'multipart/mixed;boundary=b', { maxParts: 9, maxPartHeaders: 1 }),
    ).toHaveLength(9);
  });

  it('reads in time linear in the body: 60,000 near-delimiters take milliseconds', () => {
    const body = Buffer.from(`--b\r\n\r\n${'\n--bx'.repeat(60_000)}\r\n--b--`);
    const t0 = performance.now();
    expect(parseMultipart(body, 'multipart/mixed;boundary=b')).toHaveLength(1);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

describe('parseContentType', () => {
  it('reads the media type and quoted or token parameters', () => {
    const ct = parseContentType('multipart/mixed;boundary="unique boundary"; x=1');
    expect(ct?.type).toBe('multipart/mixed');
    expect(ct?.params.get('boundary')).toBe('unique boundary');
    expect(parseContentType('nonsense')).toBeUndefined();
  });
});
