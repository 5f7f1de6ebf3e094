import { describe, expect, it } from 'vitest';
import { DigestClient } from '../../../sip/auth/DigestClient.js';
import { parseAuthHeader } from '../../../sip/auth/params.js';

const RFC_CHALLENGE = (algorithm: string): string =>
  `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
  'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
const RFC_CNONCE = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
const GET = { method: 'GET', uri: '/dir/index.html' };
const mufasa = (): DigestClient =>
  new DigestClient({ username: 'Mufasa', password: 'Circle of Life' }, { cnonce: () => RFC_CNONCE });

function params(value: string): ReadonlyMap<string, string> {
  return parseAuthHeader(value).params;
}

function retryHeaders(outcome: ReturnType<DigestClient['respond']>): { name: string; value: string }[] {
  if (outcome.kind !== 'retry') {
    throw new Error(`expected retry, got ${outcome.kind}: ${outcome.reason}`);
  }

  return [...outcome.headers];
}

describe('DigestClient', () => {
  it('answers the RFC 7616 §3.9.1 challenge (SHA-256) with the RFC response', () => {
    const [h] = retryHeaders(mufasa().respond(401, [RFC_CHALLENGE('SHA-256')], GET));
    expect(h?.name).toBe('Authorization');
    const p = params(h?.value ?? '');
    expect(p.get('response')).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    expect(p.get('algorithm')).toBe('SHA-256');
    expect(p.get('qop')).toBe('auth');
    expect(p.get('nc')).toBe('00000001');
    expect(p.get('cnonce')).toBe(RFC_CNONCE);
    expect(p.get('opaque')).toBe('FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS');
    expect(p.get('uri')).toBe('/dir/index.html');
    // RFC 7616 §3.4: algorithm, qop and nc are never quoted
    expect(h?.value).toMatch(/algorithm=SHA-256(,|$)/);
    expect(h?.value).toMatch(/qop=auth(,|$)/);
    expect(h?.value).toMatch(/nc=00000001(,|$)/);
  });

  it('takes the topmost challenge it supports (RFC 8760 §2.4)', () => {
    const outcome = mufasa().respond(
      401,
      [RFC_CHALLENGE('AKAv1-MD5'), RFC_CHALLENGE('MD5'), RFC_CHALLENGE('SHA-256')],
      GET,
    );
    const [h, extra] = retryHeaders(outcome);
    expect(extra).toBeUndefined();
    expect(params(h?.value ?? '').get('response')).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('answers a 407 with Proxy-Authorization', () => {
    const [h] = retryHeaders(mufasa().respond(407, [RFC_CHALLENGE('MD5')], GET));
    expect(h?.name).toBe('Proxy-Authorization');
  });

  it('omits algorithm when the challenge did (RFC 2617 form) and handles no qop (RFC 2069)', () => {
    const client = new DigestClient({ username: 'Mufasa', password: 'CircleOfLife' });
    const [h] = retryHeaders(
      client.respond(
        401,
        ['Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"'],
        GET,
      ),
    );
    const p = params(h?.value ?? '');
    // RFC 2069 §2.4
    expect(p.get('response')).toBe('1949323746fe6a43ef61f9606e7febea');
    expect(p.has('algorithm')).toBe(false);
    expect(p.has('qop')).toBe(false);
    expect(p.has('nc')).toBe(false);
    expect(p.has('cnonce')).toBe(false);
  });

  it('increments the nonce count for each later request with the same nonce', () => {
    const client = mufasa();
    retryHeaders(client.respond(401, [RFC_CHALLENGE('MD5')], GET));
    client.accepted();
    const [second] = client.authorize(GET);
    const [third] = client.authorize(GET);
    expect(params(second?.value ?? '').get('nc')).toBe('00000002');
    expect(params(third?.value ?? '').get('nc')).toBe('00000003');
  });

  it('a challenge after fresh credentials without stale means rejected', () => {
    const client = mufasa();
    retryHeaders(client.respond(401, [RFC_CHALLENGE('MD5')], GET));
    const again = client.respond(401, [RFC_CHALLENGE('MD5').replace('7ypf', 'abcd')], GET);
    expect(again.kind).toBe('rejected');
  });

  it('stale=true is retried with the new nonce, not counted as a failure', () => {
    const client = mufasa();
    retryHeaders(client.respond(401, [RFC_CHALLENGE('MD5')], GET));
    const stale = client.respond(401, [`${RFC_CHALLENGE('MD5').replace('7ypf', 'NEW1')}, stale=TRUE`], GET);
    expect(stale.kind).toBe('retry');
    expect(stale.kind === 'retry' && stale.stale).toBe(true);
    const [h] = retryHeaders(stale);
    expect(params(h?.value ?? '').get('nonce')).toMatch(/^NEW1/);
    expect(params(h?.value ?? '').get('nc')).toBe('00000001');
  });

  it('gives up after too many stale challenges in a row', () => {
    const client = new DigestClient({ username: 'u', password: 'p' }, { maxStaleRetries: 2 });
    const kinds = [0, 1, 2].map(
      (i) => client.respond(401, [`Digest realm="r", nonce="n${i}", stale=true`], GET).kind,
    );
    expect(kinds).toEqual(['retry', 'retry', 'rejected']);
  });

  it('a fresh challenge after preemptive credentials (old nonce) is answered once', () => {
    const client = mufasa();
    retryHeaders(client.respond(401, [RFC_CHALLENGE('MD5')], GET));
    client.accepted();
    client.authorize(GET);
    expect(client.respond(401, [RFC_CHALLENGE('MD5').replace('7ypf', 'zzzz')], GET).kind).toBe('retry');
    expect(client.respond(401, [RFC_CHALLENGE('MD5').replace('7ypf', 'yyyy')], GET).kind).toBe('rejected');
  });

  it('answers only the configured realm', () => {
    const client = new DigestClient({ username: 'u', password: 'p', realm: 'mine' });
    const outcome = client.respond(401, ['Digest realm="other", nonce="n"'], GET);
    expect(outcome.kind).toBe('unsupported');
    expect(outcome.kind !== 'retry' && outcome.reason).toContain('other');
  });

  it('reports unsupported schemes and malformed challenges instead of throwing', () => {
    const client = mufasa();
    expect(client.respond(401, ['Basic realm="x"'], GET).kind).toBe('unsupported');
    expect(client.respond(401, ['Digest realm="x'], GET).kind).toBe('unsupported');
    expect(client.respond(401, [], GET).kind).toBe('unsupported');
  });
});
