import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestClient } from '../../../sip/auth/DigestClient.js';
import { DigestVerifier, digestHa1 } from '../../../sip/auth/DigestVerifier.js';
import { parseAuthHeader } from '../../../sip/auth/params.js';
import { FakeClock } from '../../helpers/FakeClock.js';

const REGISTER = { method: 'REGISTER', uri: 'sip:127.0.0.1' };
const users: Record<string, string> = { alice: 'alice-secret' };

function verifier(clock: FakeClock, extra: Partial<ConstructorParameters<typeof DigestVerifier>[0]> = {}) {
  return new DigestVerifier({
    realm: 'sipscribe',
    clock,
    lookup: (u) => (users[u] !== undefined ? { password: users[u] } : undefined),
    ...extra,
  });
}

/** An independent MD5 digest (RFC 2617 §3.2.2), written here rather than taken from sip/auth. */
function md5Credentials(challenge: string, user: string, password: string, nc: string): string {
  const p = parseAuthHeader(challenge).params;
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const realm = p.get('realm') ?? '';
  const nonce = p.get('nonce') ?? '';
  const cnonce = '0a4f113b';
  const response = md5(
    `${md5(`${user}:${realm}:${password}`)}:${nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:sip:127.0.0.1`)}`,
  );

  return (
    `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="sip:127.0.0.1", ` +
    `response="${response}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=${nc}`
  );
}

describe('DigestVerifier', () => {
  it('challenges with SHA-256 first, then MD5, both qop=auth, one nonce', () => {
    const values = verifier(new FakeClock()).challenge();
    expect(values).toHaveLength(2);
    const [sha, md5] = values.map((v) => parseAuthHeader(v).params);
    expect(sha?.get('algorithm')).toBe('SHA-256');
    expect(md5?.get('algorithm')).toBe('MD5');
    expect(sha?.get('qop')).toBe('auth');
    expect(sha?.get('nonce')).toBe(md5?.get('nonce'));
  });

  it('accepts credentials computed independently (MD5) and refuses a replayed nc', async () => {
    const v = verifier(new FakeClock());
    const md5Challenge = v.challenge()[1] ?? '';
    const creds = md5Credentials(md5Challenge, 'alice', 'alice-secret', '00000001');
    expect(await v.verify([creds], REGISTER)).toEqual({ ok: true, username: 'alice', algorithm: 'MD5' });
    expect(await v.verify([creds], REGISTER)).toMatchObject({ ok: false, reason: 'nc-replay' });
    const next = md5Credentials(md5Challenge, 'alice', 'alice-secret', '00000002');
    expect(await v.verify([next], REGISTER)).toMatchObject({ ok: true });
  });

  it('works with the DigestClient for every algorithm and -sess form', async () => {
    for (const algorithm of ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256'] as const) {
      const v = verifier(new FakeClock(), { algorithms: [algorithm] });
      const client = new DigestClient({ username: 'alice', password: 'alice-secret' });
      const outcome = client.respond(401, v.challenge(), REGISTER);
      const values = outcome.kind === 'retry' ? outcome.headers.map((h) => h.value) : [];
      expect(await v.verify(values, REGISTER)).toEqual({ ok: true, username: 'alice', algorithm });
    }
  });

  it('accepts a stored HA1 instead of a password', async () => {
    const v = new DigestVerifier({
      realm: 'sipscribe',
      clock: new FakeClock(),
      algorithms: ['MD5'],
      lookup: () => ({ ha1: { MD5: digestHa1('MD5', 'alice', 'sipscribe', 'alice-secret') } }),
    });
    const creds = md5Credentials(v.challenge()[0] ?? '', 'alice', 'alice-secret', '00000001');
    expect(await v.verify([creds], REGISTER)).toMatchObject({ ok: true });
  });

  it('refuses a wrong password, an unknown user, a forged nonce, another realm, a wrong uri', async () => {
    const v = verifier(new FakeClock());
    const challenge = v.challenge()[1] ?? '';
    expect(await v.verify([md5Credentials(challenge, 'alice', 'nope', '00000001')], REGISTER)).toMatchObject({
      ok: false,
      reason: 'bad-response',
      stale: false,
    });
    expect(await v.verify([md5Credentials(challenge, 'carol', 'x', '00000001')], REGISTER)).toMatchObject({
      reason: 'unknown-user',
    });
    const forged = challenge.replace(/nonce="[^"]*"/, 'nonce="1.AAAA.BBBB"');
    expect(
      await v.verify([md5Credentials(forged, 'alice', 'alice-secret', '00000001')], REGISTER),
    ).toMatchObject({
      reason: 'bad-nonce',
    });
    const other = challenge.replace('realm="sipscribe"', 'realm="elsewhere"');
    expect(
      await v.verify([md5Credentials(other, 'alice', 'alice-secret', '00000001')], REGISTER),
    ).toMatchObject({
      reason: 'wrong-realm',
    });
    const creds = md5Credentials(challenge, 'alice', 'alice-secret', '00000001');
    expect(await v.verify([creds], { method: 'REGISTER', uri: 'sip:other' })).toMatchObject({
      reason: 'uri-mismatch',
    });
    expect(await v.verify([], REGISTER)).toMatchObject({ reason: 'missing' });
    expect(await v.verify(['Digest username="x'], REGISTER)).toMatchObject({ reason: 'malformed' });
  });

  it('an expired nonce with the right password is stale; the client retries it', async () => {
    const clock = new FakeClock(1000);
    const v = verifier(clock, { nonceTtlMs: 60_000 });
    const client = new DigestClient({ username: 'alice', password: 'alice-secret' });
    const first = client.respond(401, v.challenge(), REGISTER);
    clock.advance(61_000);
    const values = first.kind === 'retry' ? first.headers.map((h) => h.value) : [];
    const verdict = await v.verify(values, REGISTER);
    expect(verdict).toMatchObject({ ok: false, reason: 'stale-nonce', stale: true });
    const retry = client.respond(401, v.challenge({ stale: true }), REGISTER);
    expect(retry).toMatchObject({ kind: 'retry', stale: true });
    const again = retry.kind === 'retry' ? retry.headers.map((h) => h.value) : [];
    expect(await v.verify(again, REGISTER)).toMatchObject({ ok: true });
  });

  it('a nonce issued "in the future" (before a restart, same secret) is stale', async () => {
    const secret = new Uint8Array(32).fill(7);
    const before = verifier(new FakeClock(500_000), { secret });
    const client = new DigestClient({ username: 'alice', password: 'alice-secret' });
    const outcome = client.respond(401, before.challenge(), REGISTER);
    const values = outcome.kind === 'retry' ? outcome.headers.map((h) => h.value) : [];
    const after = verifier(new FakeClock(1000), { secret });
    expect(await after.verify(values, REGISTER)).toMatchObject({
      ok: false,
      reason: 'stale-nonce',
      stale: true,
    });
  });

  it('proxy mode answers 407 with Proxy-Authenticate', () => {
    const v = verifier(new FakeClock(), { proxy: true });
    expect(v.challengeStatus).toBe(407);
    expect(v.challengeHeader).toBe('Proxy-Authenticate');
  });
});
