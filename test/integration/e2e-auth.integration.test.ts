// End to end, inbound digest authentication (sip.inbound.auth, issue 10 item 8) with SIPp's own
// digest implementation: an INVITE without credentials is challenged (401); SIPp answers the
// challenge with the right password and the call is transcribed; with a wrong password it gets 403,
// counted in /api/refused and /metrics, with no call record. The password comes from the
// environment (`env:NAME`), as a deployment would keep it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/events.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { getJson, startE2e, until, type E2e } from './e2eHarness.js';

describe('inbound digest authentication (SIPp)', () => {
  let e2e: E2e;

  beforeAll(async () => {
    process.env['SIPSCRIBE_E2E_CAROL'] = 'carol-secret';
    e2e = await startE2e(
      'e2e-auth',
      {
        sip: {
          inbound: {
            // SIPp 3.6 answers MD5 only, and only the topmost challenge.
            auth: {
              realm: 'sipscribe',
              users: [{ username: 'carol', password: 'env:SIPSCRIBE_E2E_CAROL' }],
              algorithms: ['MD5'],
            },
          },
        },
      },
      { webhook: false },
    );
  });
  afterAll(async () => {
    await e2e.close();
    await stopAll();
    delete process.env['SIPSCRIBE_E2E_CAROL'];
  });

  /**
   * SIPp puts `sip:<remote_ip>:<remote_port>` into the digest `uri` by default, not the
   * Request-URI; the verifier requires them equal (RFC 7616 §3.4.6), so SIPp is told the real one
   * (`-auth_uri` takes it without the `sip:`, which SIPp adds).
   */
  const requestUri = (): string => `alice@127.0.0.1:${e2e.sipPort};transport=UDP`;

  it('the right password: 401, then the call is answered and transcribed', async () => {
    const sipp = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_auth_call.xml', {
      durationMs: 3000,
      extraArgs: ['-au', 'carol', '-ap', 'carol-secret', '-auth_uri', requestUri()],
    });
    expect(sipp.code, sipp.output + sipp.messages.slice(-3000)).toBe(0);
    expect(sipp.responses.slice(0, 2)).toEqual([100, 401]);
    expect(sipp.messages).toMatch(
      /^WWW-Authenticate: Digest realm="sipscribe", nonce="[^"]+".*algorithm=MD5/m,
    );
    expect(sipp.messages).toMatch(/^Authorization: Digest username="carol"/m);
    expect(sipp.responses).toContain(200);
    const ended = await until(
      () => e2e.live.find((ev): ev is Extract<CallEvent, { type: 'call.ended' }> => ev.type === 'call.ended'),
      'call.ended',
    );
    expect(ended.transcript.length).toBeGreaterThan(0);
  });

  it('a wrong password: 403, counted in /api/refused and /metrics, no call record', async () => {
    const before = await getJson<{ calls: unknown[] }>(`${e2e.base}/api/calls?limit=100`);
    const sipp = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_auth_wrong.xml', {
      extraArgs: ['-au', 'carol', '-ap', 'not-the-password', '-auth_uri', requestUri()],
    });
    expect(sipp.code, sipp.output + sipp.messages.slice(-3000)).toBe(0);
    expect(sipp.responses.filter((s) => s >= 200)).toEqual([401, 403]);
    const after = await getJson<{ calls: unknown[] }>(`${e2e.base}/api/calls?limit=100`);
    expect(after.calls).toHaveLength(before.calls.length);
    const { refused } = await getJson<{ refused: { source: string; reason: string; status: number }[] }>(
      `${e2e.base}/api/refused`,
    );
    expect(refused).toMatchObject([{ source: '127.0.0.1', reason: 'auth-failed', status: 403 }]);
    const text = await (await fetch(`${e2e.base}/metrics`)).text();
    expect(text).toMatch(/^sipscribe_admission_refused_total\{reason="auth-failed"\} 1$/m);
  });
});
