import { describe, expect, it } from 'vitest';
import { DigestClient, type AuthorizationHeader } from '../../../sip/auth/DigestClient.js';
import { DigestVerifier } from '../../../sip/auth/DigestVerifier.js';
import { withDigest, type ChallengeResponse } from '../../../sip/auth/withDigest.js';
import { FakeClock } from '../../helpers/FakeClock.js';

const BYE = { method: 'BYE', uri: 'sip:bob@127.0.0.1:5062' };

function res(status: number, headers: Record<string, string[]> = {}): ChallengeResponse {
  return { status, getAll: (n) => headers[n] ?? [] };
}

/** A UAS that challenges with 407 and answers 200 to valid Proxy-Authorization. */
function protectedPeer(password: string) {
  const verifier = new DigestVerifier({
    realm: 'peer',
    clock: new FakeClock(),
    algorithms: ['SHA-256'],
    proxy: true,
    lookup: () => ({ password }),
  });
  const seen: (readonly AuthorizationHeader[])[] = [];
  const send = async (headers: readonly AuthorizationHeader[]): Promise<ChallengeResponse> => {
    seen.push(headers);
    const verdict = await verifier.verify(
      headers.filter((h) => h.name === 'Proxy-Authorization').map((h) => h.value),
      BYE,
    );

    return verdict.ok
      ? res(200)
      : res(407, { 'Proxy-Authenticate': verifier.challenge({ stale: verdict.stale }) });
  };

  return { send, seen };
}

describe('withDigest', () => {
  it('answers a 407 and resolves with the 200 of the retried request', async () => {
    const peer = protectedPeer('pw');
    const client = new DigestClient({ username: 'alice', password: 'pw' });
    const final = await withDigest(client, BYE, peer.send);
    expect(final.status).toBe(200);
    expect(peer.seen).toHaveLength(2);
    expect(peer.seen[0]).toEqual([]);
    expect(peer.seen[1]?.[0]?.name).toBe('Proxy-Authorization');
    // a later request re-uses the challenge: one round, nc=2
    const again = await withDigest(client, BYE, peer.send);
    expect(again.status).toBe(200);
    expect(peer.seen).toHaveLength(3);
    expect(peer.seen[2]?.[0]?.value).toMatch(/nc=00000002/);
  });

  it('stops at the second challenge when the password is wrong, returning the 407', async () => {
    const peer = protectedPeer('right');
    const final = await withDigest(
      new DigestClient({ username: 'alice', password: 'wrong' }),
      BYE,
      peer.send,
    );
    expect(final.status).toBe(407);
    expect(peer.seen).toHaveLength(2);
  });

  it('returns non-auth responses at once and a 401 it cannot answer as is', async () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    expect((await withDigest(client, BYE, () => Promise.resolve(res(486)))).status).toBe(486);
    const basic = await withDigest(client, BYE, () =>
      Promise.resolve(res(401, { 'WWW-Authenticate': ['Basic realm="x"'] })),
    );
    expect(basic.status).toBe(401);
  });

  it('gives up after maxRounds of stale challenges', async () => {
    let n = 0;
    const final = await withDigest(
      new DigestClient({ username: 'u', password: 'p' }, { maxStaleRetries: 10 }),
      BYE,
      () =>
        Promise.resolve(res(401, { 'WWW-Authenticate': [`Digest realm="r", nonce="n${n++}", stale=true`] })),
      { maxRounds: 3 },
    );
    expect(final.status).toBe(401);
    expect(n).toBe(3);
  });

  it('propagates send failures', async () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    await expect(withDigest(client, BYE, () => Promise.reject(new Error('timeout')))).rejects.toThrow(
      'timeout',
    );
  });
});
