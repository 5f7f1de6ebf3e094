// End to end through a registrar/proxy: sipscribe registers to Kamailio as alice over UDP, TCP or
// TLS (sip.accounts, digest auth), a SIPp caller dials alice at Kamailio, Kamailio relays the call
// to sipscribe (over the registration's connection for TCP/TLS), and the spoken fixture becomes a transcript (expected words: what the fake STT sent). /ready and the
// registration metric follow the registration; shutdown unregisters.
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountId } from '../../src/appliance.js';
import { main } from '../../src/cli.js';
import { parseConfig } from '../../src/config.js';
import { startKamailio } from '../helpers/kamailio.js';
import { FIXTURES, runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { dbRows, getJson, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

describe.each(['udp', 'tcp', 'tls'] as const)(
  'a call through Kamailio to sipscribe registered over %s',
  (t) => {
    it('is transcribed like a direct call, with the account in its metadata', async () => {
      const k = await startKamailio();
      const account = { registrar: k.uri(t), username: 'alice', password: 'alice-secret', expires: 300 };
      const e2e = await startE2e(`e2e-kamailio-${t}`, {
        sip: { accounts: [account], tls: { caFile: k.certs.caCert, verify: true } },
      });
      envs.push(e2e);
      const id = accountId(parseConfig({ sip: { accounts: [account] } }).sip.accounts[0]!);

      // Registered: /ready says so, the metric too, Kamailio has the binding.
      const ready = await until(async () => {
        const res = await fetch(`${e2e.base}/ready`);
        const body = (await res.json()) as { checks: Record<string, boolean> };
        return res.status === 200 ? body : undefined;
      }, '/ready');
      expect(ready.checks['registrations']).toBe(true);
      const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
      expect(metrics).toContain(`sipscribe_registration_up{account="${id}"} 1`);
      expect(await k.ulDump()).toHaveLength(1);

      const sipp = await sippCall(`127.0.0.1:${k.port}`, 'uac_call_pcmu.xml', {
        user: 'alice',
        durationMs: 4500,
        timeoutS: 20,
      });
      expect(sipp.code, sipp.output).toBe(0);
      const call = await until(async () => {
        const { calls } = await getJson<{ calls: { id: string; state: string }[] }>(`${e2e.base}/api/calls`);
        return calls[0]?.state === 'ended' ? calls[0] : undefined;
      }, 'the call to end');
      await e2e.app.endpoint.bus.flush();
      const expected = wordsSentBy(e2e.fake.admitted[0]!);
      expect(expected.length).toBeGreaterThan(0);
      const words = dbRows<{ text: string }>(
        e2e.storageDir,
        'SELECT text FROM words WHERE call_id = ? ORDER BY seq',
        call.id,
      ).map((w) => w.text);
      expect(words).toEqual(expected);
      const [row] = dbRows<{ account: string | null }>(
        e2e.storageDir,
        'SELECT account FROM calls WHERE id = ?',
        call.id,
      );
      expect(row?.account).toBe(id);
      const transcript = await getJson<{ text: string }>(`${e2e.base}/api/calls/${call.id}/transcript`);
      expect(transcript.text).toBe(expected.join(' '));

      // sipscribe dial through Kamailio as outbound proxy reaches the registered sipscribe too.
      if (t === 'udp') {
        const rtpMin = await freePort('127.0.0.1', 16);
        const cfg = join(runDir('e2e-kamailio-dial'), 'dial.json');
        writeFileSync(
          cfg,
          JSON.stringify({ rtp: { host: '127.0.0.1', portMin: rtpMin, portMax: rtpMin + 15 } }),
        );
        const wav = join(FIXTURES, 'audio', 'fox_pcm16_8k.wav');
        const code = await main([
          '--config',
          cfg,
          'dial',
          `sip:alice@127.0.0.1:${k.port}`,
          '--proxy',
          k.uri('udp'),
          '--wav',
          wav,
        ]);
        expect(code).toBe(0);
        await until(async () => {
          const { calls } = await getJson<{ calls: { state: string }[] }>(`${e2e.base}/api/calls`);
          return calls.length === 2 && calls.every((c) => c.state === 'ended');
        }, 'the dialled call to end');
      }

      // Shutdown unregisters.
      await e2e.close();
      expect(await k.ulDump()).toEqual([]);
      await k.stop();
    });
  },
);
