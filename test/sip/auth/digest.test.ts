import { describe, expect, it } from 'vitest';
import { computeDigestResponse, formatNc, parseAlgorithm } from '../../../sip/auth/digest.js';

// RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
const RFC7616 = {
  username: 'Mufasa',
  password: 'Circle of Life',
  realm: 'http-auth@example.org',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: '00000001',
  qop: 'auth',
  method: 'GET',
  uri: '/dir/index.html',
} as const;

describe('computeDigestResponse: RFC vectors', () => {
  it('RFC 7616 §3.9.1 MD5', () => {
    expect(computeDigestResponse({ ...RFC7616, algorithm: 'MD5' })).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('RFC 7616 §3.9.1 SHA-256', () => {
    expect(computeDigestResponse({ ...RFC7616, algorithm: 'SHA-256' })).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('RFC 2617 §3.5 (MD5, qop=auth)', () => {
    expect(
      computeDigestResponse({
        algorithm: 'MD5',
        username: 'Mufasa',
        password: 'Circle Of Life',
        realm: 'testrealm@host.com',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        cnonce: '0a4f113b',
        nc: '00000001',
        qop: 'auth',
        method: 'GET',
        uri: '/dir/index.html',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });

  it('RFC 2069 §2.4 (no qop)', () => {
    expect(
      computeDigestResponse({
        algorithm: 'MD5',
        username: 'Mufasa',
        password: 'CircleOfLife',
        realm: 'testrealm@host.com',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        method: 'GET',
        uri: '/dir/index.html',
      }),
    ).toBe('1949323746fe6a43ef61f9606e7febea');
  });
});

// No RFC gives -sess, SHA-512-256 or auth-int vectors; these expected values were computed with
// the openssl CLI from the RFC 7616 §3.9.1 inputs (a second implementation), e.g. for MD5-sess:
//   H() { printf '%s' "$1" | openssl dgst -md5 -r | cut -d' ' -f1; }
//   HA1=$(H "$(H 'Mufasa:http-auth@example.org:Circle of Life'):$NONCE:$CNONCE")
//   H "$HA1:$NONCE:00000001:$CNONCE:auth:$(H 'GET:/dir/index.html')"
// (the same pipeline reproduces the two RFC values above).
describe('computeDigestResponse: vectors from openssl', () => {
  it.each([
    ['MD5-sess', 'e783283f46242139c486a698fec7211d'],
    ['SHA-256-sess', '2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7'],
    ['SHA-512-256', '430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0'],
    ['SHA-512-256-sess', '3f2a34f923c38b0fb26dce2fdfc2ce326c23cecf86fbb1444f3e51fbbc2cb92e'],
  ] as const)('%s', (algorithm, expected) => {
    expect(computeDigestResponse({ ...RFC7616, algorithm })).toBe(expected);
  });

  it('SHA-256 with qop=auth-int hashes the body into A2', () => {
    expect(
      computeDigestResponse({
        ...RFC7616,
        algorithm: 'SHA-256',
        qop: 'auth-int',
        nc: '00000002',
        method: 'INVITE',
        uri: 'sip:bob@example.org',
        body: 'v=0\r\n',
      }),
    ).toBe('21468b02aafd4fe0a3d84bfddaf3618cc087adff4bb3c92d0a5f99c3035fcb9a');
  });

  it('accepts a stored HA1 instead of the password', () => {
    // HA1 = MD5("Mufasa:http-auth@example.org:Circle of Life"), from `openssl dgst -md5`
    const ha1 = '3d78807defe7de2157e2b0b6573a855f';
    expect(computeDigestResponse({ ...RFC7616, algorithm: 'MD5', password: undefined, ha1 })).toBe(
      '8ca523f5e9506fed4657c9700eebdbec',
    );
  });
});

describe('helpers', () => {
  it('formats nonce counts as 8 hex digits', () => {
    expect(formatNc(1)).toBe('00000001');
    expect(formatNc(255)).toBe('000000ff');
  });

  it('parses algorithm names case-insensitively, absent = MD5', () => {
    expect(parseAlgorithm(undefined)).toBe('MD5');
    expect(parseAlgorithm('sha-256')).toBe('SHA-256');
    expect(parseAlgorithm('SHA-256-SESS')).toBe('SHA-256-sess');
    expect(parseAlgorithm('AKAv1-MD5')).toBeUndefined();
  });
});
