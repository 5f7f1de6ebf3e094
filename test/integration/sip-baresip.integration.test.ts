/**
 * baresip (a real softphone) dials sipscribe's SipStack directly, no registrar: the call is
 * established and ends with baresip's BYE when its microphone file ends.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { baresipCall, type BaresipTransport } from '../helpers/baresip.js';
import { testCerts } from '../helpers/certs.js';
import { stopAll } from '../helpers/processes.js';
import { startAnswerer, type Answerer } from '../sip/support/answerer.js';

let uas: Answerer | undefined;

afterEach(async () => {
  await uas?.stop();
  uas = undefined;
});
afterAll(async () => {
  await stopAll();
});

describe.each<BaresipTransport>(['udp', 'tcp', 'tls'])('baresip → sipscribe over %s', (transport) => {
  it('completes a call (INVITE/200/ACK … BYE from baresip)', async () => {
    const certs = transport === 'tls' ? await testCerts() : undefined;
    uas = await startAnswerer({
      ringMs: 200,
      ...(certs ? { tls: { certFile: certs.serverCert, keyFile: certs.serverKey } } : {}),
    });
    const port = transport === 'tls' ? uas.tlsPort : uas.port;
    const r = await baresipCall(`sip:alice@127.0.0.1:${port}`, { transport, codecs: 'both', maxSeconds: 6 });
    expect(r.established, r.log.slice(-3000)).toBe(true);
    const rec = uas.calls[0];
    expect(rec?.call.transport).toBe(transport);
    expect(await rec?.ended).toBe('bye-remote');
    expect(rec?.remote?.codec).toMatch(/^PCM[UA]$/);
  });
});
