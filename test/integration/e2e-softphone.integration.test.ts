// README "Call it from a softphone", with a real softphone: baresip dials sipscribe directly over
// UDP, TCP and TLS with the fake STT's tone "speech" as its microphone (8 kHz WAV made by sox),
// hangs up when the file ends; the words come out as the transcript. Expected words: those the
// fake sent (exactly) and the script's words in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baresipCall, type BaresipTransport } from '../helpers/baresip.js';
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
  wav = await scriptWav8k(runDir('e2e-softphone-audio'), SCRIPT);
});

describe.each<BaresipTransport>(['udp', 'tcp', 'tls'])('baresip calls sipscribe over %s', (t) => {
  it('the call is answered and transcribed', async () => {
    const certs = await testCerts();
    const tlsPort = await freePort();
    const e2e = await startE2e(
      `e2e-softphone-${t}`,
      t === 'tls'
        ? {
            sip: {
              listen: [
                {
                  transport: 'tls',
                  host: '127.0.0.1',
                  port: tlsPort,
                  certFile: certs.serverCert,
                  keyFile: certs.serverKey,
                },
              ],
            },
          }
        : {},
      { webhook: false },
    );
    envs.push(e2e);
    const port = t === 'tls' ? tlsPort : e2e.sipPort;
    const call = await baresipCall(`sip:transcribe@127.0.0.1:${port}`, { transport: t, wav, maxSeconds: 8 });
    expect(call.established, call.log.slice(-3000)).toBe(true);
    const ended = await until(() => e2e.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
    expect(ended.call.transport).toBe(t);
    const t2 = await getJson<{ text: string }>(`${e2e.base}/api/calls/${ended.callId}/transcript`);
    const expected = wordsSentBy(e2e.fake.admitted[0]!);
    expect(t2.text).toBe(expected.join(' '));
    expect(isSubsequence(SCRIPT, expected), expected.join(' ')).toBe(true);
  });
});
