import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signatureHeader, verifySignature } from '../../../src/webhooks/signature.js';

describe('webhook signature', () => {
  it('matches an HMAC computed by openssl', () => {
    // printf '1767225600.{"type":"call.started","seq":1}' | openssl dgst -sha256 -hmac whsec_test
    expect(signatureHeader('whsec_test', 1767225600, '{"type":"call.started","seq":1}')).toBe(
      't=1767225600,v1=eccb0b4507f430be4abfec886eda16e4da15098385f8c72ef2868a2bebedc71f',
    );
  });

  it('verifies on the receiver side with node:crypto alone', () => {
    const body = '{"type":"call.ended","seq":9,"transcript":[{"text":"héllo"}]}';
    const header = signatureHeader('s3cret', 1800000000, body);
    // What a receiver does: parse t and v1, HMAC "<t>.<raw body>", compare in constant time.
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    expect(m).not.toBeNull();
    const [, t, v1] = m as unknown as [string, string, string];
    const mac = createHmac('sha256', 's3cret').update(`${t}.${body}`, 'utf8').digest();
    expect(timingSafeEqual(mac, Buffer.from(v1, 'hex'))).toBe(true);
    const wrong = createHmac('sha256', 'other').update(`${t}.${body}`, 'utf8').digest();
    expect(timingSafeEqual(wrong, Buffer.from(v1, 'hex'))).toBe(false);
  });

  it('verifySignature rejects a changed body, a wrong secret, a stale time and junk', () => {
    const body = '{"a":1}';
    const h = signatureHeader('k', 1000, body);
    expect(verifySignature('k', h, body, 1000)).toBe(true);
    expect(verifySignature('k', h, body, 1299)).toBe(true);
    expect(verifySignature('k', h, '{"a":2}', 1000)).toBe(false);
    expect(verifySignature('x', h, body, 1000)).toBe(false);
    expect(verifySignature('k', h, body, 1301)).toBe(false);
    expect(verifySignature('k', 'garbage', body, 1000)).toBe(false);
    expect(verifySignature('k', 't=1000,v1=abc', body, 1000)).toBe(false);
  });
});
