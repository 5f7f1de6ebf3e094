/**
 * Webhook signatures: HMAC-SHA256 over `"<t>.<body>"` with the webhook's secret, where `t` is the
 * Unix time in seconds when the request was sent and `body` the exact bytes of the request body.
 * Sent as `X-Sipscribe-Signature: t=<t>,v1=<lowercase hex>`. A receiver recomputes the HMAC over
 * the raw body it received, compares in constant time, and rejects a `t` too far from its clock
 * (replay protection). Retries are signed again with a fresh `t`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-sipscribe-signature';
export const EVENT_HEADER = 'x-sipscribe-event';
export const DELIVERY_HEADER = 'x-sipscribe-delivery';

/** The value of `X-Sipscribe-Signature` for a body sent at `unixSeconds`. */
export function signatureHeader(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * Checks a signature header the way a receiver should (exported for receivers written in
 * TypeScript and for the tests of the sending side).
 * @returns true when the MAC matches and `t` is within `toleranceSec` of `nowSec`.
 */
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  const parts = new Map(
    header.split(',').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowSec - t) > toleranceSec || !/^[0-9a-f]{64}$/.test(v1)) {
    return false;
  }
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}
