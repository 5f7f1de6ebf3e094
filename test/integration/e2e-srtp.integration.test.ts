// SRTP with SDES keys (issue 13) against a real peer: baresip's srtp module (`mediaenc=srtp-mand`:
// RTP/SAVP with a=crypto, plain RTP refused) calls sipscribe over TLS, and its audio reaches the
// fake STT intact (the words the fake recognised from the tone script are the transcript); the
// SRTP policy refuses what it must with 488 and a Warning 303 saying why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baresipCall } from '../helpers/baresip.js';
import { testCerts } from '../helpers/certs.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { getJson, isSubsequence, scriptWav8k, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';

const SCRIPT = ['my', 'name', 'is', 'alice'];

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

let wav = '';
beforeAll(async () => {
  wav = await scriptWav8k(runDir('e2e-srtp-audio'), SCRIPT);
});

async function tlsE2e(
  name: string,
  srtp?: 'off' | 'optional' | 'required',
): Promise<{ e2e: E2e; port: number }> {
  const certs = await testCerts();
  const port = await freePort();
  const e2e = await startE2e(
    name,
    {
      sip: {
        listen: [
          {
            transport: 'tls',
            host: '127.0.0.1',
            port,
            certFile: certs.serverCert,
            keyFile: certs.serverKey,
            ...(srtp ? { srtp } : {}),
          },
        ],
      },
    },
    { webhook: false },
  );
  envs.push(e2e);
  return { e2e, port };
}

describe('baresip with mediaenc=srtp-mand', () => {
  it('over TLS (default policy optional): answered with SRTP, the audio transcribed intact', async () => {
    const { e2e, port } = await tlsE2e('e2e-srtp-tls');
    const call = await baresipCall(`sip:transcribe@127.0.0.1:${port}`, {
      transport: 'tls',
      mediaenc: 'srtp-mand',
      wav,
      maxSeconds: 8,
    });
    expect(call.established, call.log.slice(-3000)).toBe(true);
    // Its offer was RTP/SAVP with SDES keys; our answer too.
    expect(call.log).toMatch(/m=audio \d+ RTP\/SAVP/);
    expect(call.log).toMatch(/a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}/);
    const ended = await until(() => e2e.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
    const transcript = await getJson<{ text: string }>(`${e2e.base}/api/calls/${ended.callId}/transcript`);
    const expected = wordsSentBy(e2e.fake.admitted[0]!);
    expect(transcript.text).toBe(expected.join(' '));
    expect(isSubsequence(SCRIPT, expected), expected.join(' ')).toBe(true);
    // Nothing failed authentication, and what baresip received from us decrypted (it records it).
    const metrics = await fetch(`${e2e.base}/metrics`).then((r) => r.text());
    expect(metrics).not.toMatch(/reason="srtp-auth"/);
    expect(call.receivedSeconds).toBeGreaterThan(1);
  });

  it('over UDP (default policy off) → 488 with a Warning 303', async () => {
    const e2e = await startE2e('e2e-srtp-udp-off', {}, { webhook: false });
    envs.push(e2e);
    const call = await baresipCall(`sip:transcribe@127.0.0.1:${e2e.sipPort}`, {
      transport: 'udp',
      mediaenc: 'srtp-mand',
      wav,
      maxSeconds: 5,
    });
    expect(call.established).toBe(false);
    expect(call.log).toMatch(/SIP\/2\.0 488/);
    expect(call.log).toMatch(/Warning: 303 127\.0\.0\.1 "SRTP is off for this call: RTP\/SAVP refused"/);
    const refused = await getJson<{ refused: { reason: string; status: number }[] }>(
      `${e2e.base}/api/refused`,
    );
    expect(refused.refused).toEqual([expect.objectContaining({ reason: 'srtp', status: 488 })]);
  });
});

describe('a listener with srtp: "required"', () => {
  it('refuses a plain RTP/AVP offer (baresip without mediaenc) with 488 and a Warning 303', async () => {
    const { e2e, port } = await tlsE2e('e2e-srtp-required', 'required');
    const call = await baresipCall(`sip:transcribe@127.0.0.1:${port}`, {
      transport: 'tls',
      wav,
      maxSeconds: 5,
    });
    expect(call.established).toBe(false);
    expect(call.log).toMatch(/SIP\/2\.0 488/);
    expect(call.log).toMatch(/Warning: 303 127\.0\.0\.1 "SRTP required: RTP\/AVP offer refused"/);
    expect(e2e.live.filter((ev) => ev.type === 'call.started')).toEqual([]);
  });
});
