import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../../sip/auth/challenge.js';
import { parseAuthHeader, quote } from '../../../sip/auth/params.js';

describe('parseAuthHeader', () => {
  it('parses the RFC 3261 §25 example challenge with folded whitespace', () => {
    const v = parseAuthHeader(
      'Digest realm="atlanta.com",\r\n domain="sip:ss1.carrier.com", qop="auth",\r\n' +
        ' nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5',
    );
    expect(v.scheme).toBe('Digest');
    expect(Object.fromEntries(v.params)).toEqual({
      realm: 'atlanta.com',
      domain: 'sip:ss1.carrier.com',
      qop: 'auth',
      nonce: 'f84f1cec41e6cbe5aea9c8e88d359',
      opaque: '',
      stale: 'FALSE',
      algorithm: 'MD5',
    });
  });

  it('unescapes quoted pairs and round-trips through quote()', () => {
    const v = parseAuthHeader(`Digest username=${quote('a"b\\c')}`);
    expect(v.params.get('username')).toBe('a"b\\c');
  });

  it.each([
    ['', 'missing scheme'],
    ['Digest realm', 'expected "="'],
    ['Digest realm="x', 'unterminated'],
    ['Digest realm="x" nonce="y"', 'expected ","'],
    ['Digest realm="x", realm="y"', 'duplicate'],
    ['Digest realm=', 'empty value'],
  ])('rejects %j (%s) with SIP_ERR_AUTH_MALFORMED', (value, message) => {
    expect(() => parseAuthHeader(value)).toThrow(message);
    try {
      parseAuthHeader(value);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('SIP_ERR_AUTH_MALFORMED');
    }
  });
});

describe('parseChallenge', () => {
  it('reads realm, nonce, algorithm, qop list, opaque and stale', () => {
    const c = parseChallenge(
      'Digest realm="sip-lab", nonce="abc", qop="auth,auth-int", algorithm=sha-256-sess, opaque="o", stale=true',
    );
    expect(c).toEqual({
      realm: 'sip-lab',
      nonce: 'abc',
      algorithm: 'SHA-256-sess',
      algorithmGiven: true,
      qop: ['auth', 'auth-int'],
      opaque: 'o',
      stale: true,
    });
  });

  it.each([
    ['Basic realm="x"', 'SIP_ERR_AUTH_UNSUPPORTED'],
    ['Digest realm="x", nonce="n", algorithm=AKAv1-MD5', 'SIP_ERR_AUTH_UNSUPPORTED'],
    ['Digest realm="x", nonce="n", qop="token"', 'SIP_ERR_AUTH_UNSUPPORTED'],
    ['Digest nonce="n"', 'SIP_ERR_AUTH_MISSING_PARAM'],
  ])('%j → %s', (value, code) => {
    expect(() => parseChallenge(value)).toThrow(expect.objectContaining({ code }) as Error);
  });
});
