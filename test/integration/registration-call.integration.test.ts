// A call to a registered sipscribe, routed by Kamailio: sipscribe (SipStack) registers as alice
// over UDP, TCP or TLS with the registration client, then a SIPp caller dials alice at Kamailio;
// Kamailio looks the binding up and relays the INVITE to sipscribe (over TCP/TLS on the very
// connection sipscribe registered on), sipscribe answers, SIPp sends BYE through Kamailio.
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../lib/clock.js';
import { Registration, type RegistrationStatus } from '../../sip/registration/Registration.js';
import { createStackRegistrationTransport } from '../../sip/registration/stackTransport.js';
import type { EndReason } from '../../sip/ua/types.js';
import { SipStack } from '../../sip/ua/SipStack.js';
import { testCerts } from '../helpers/certs.js';
import { startKamailio } from '../helpers/kamailio.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';

afterAll(stopAll);

describe.each([
  ['udp', 'udp', 'reuse'],
  ['tcp', 'udp', 'reuse'],
  ['tcp', 'tcp', 'reuse'],
  ['tls', 'udp', 'reuse'],
  // Kamailio connecting to the registered Contact instead: proves its host/port/transport are right
  ['tcp', 'udp', 'contact'],
  ['tls', 'udp', 'contact'],
] as const)(
  'sipscribe registered over %s, SIPp caller over %s, through Kamailio (%s)',
  (t, callerT, mode) => {
    it('the call reaches sipscribe, is answered and ends with the caller’s BYE', async () => {
      const k = await startKamailio({ tcpUseContact: mode === 'contact' });
      const certs = await testCerts();
      const rtpPort = await freePort();
      const ended: EndReason[] = [];
      const invites: string[] = [];
      const stack = new SipStack(
        {
          listen: [
            { transport: 'udp', host: '127.0.0.1', port: 0 },
            { transport: 'tcp', host: '127.0.0.1', port: 0 },
            {
              transport: 'tls',
              host: '127.0.0.1',
              port: 0,
              certFile: certs.serverCert,
              keyFile: certs.serverKey,
            },
          ],
          tls: { caFile: k.certs.caCert, verify: true },
        },
        {
          onInvite: (call) => {
            invites.push(call.request.uri);
            call.on('ended', (reason) => ended.push(reason));
            void call.answer({ address: '127.0.0.1', port: rtpPort });
          },
        },
      );
      await stack.start();
      let reg: Registration | undefined;
      const registered = new Promise<RegistrationStatus>((resolve, reject) => {
        reg = new Registration(
          {
            id: 'kamailio',
            registrar: k.uri(t),
            username: 'alice',
            password: 'alice-secret',
            transport: t,
            expires: 300,
          },
          createStackRegistrationTransport(stack.transactions),
          { clock: systemClock },
          {
            onStateChange: (s) => {
              if (s.state === 'registered') {
                resolve(s);
              } else if (s.state === 'failed') {
                reject(new Error(`registration failed: ${s.lastStatus} ${s.lastReason}`));
              }
            },
          },
        );
        reg.start();
      });
      const status = await registered;
      expect(status.contact).toMatch(
        t === 'udp' ? /^sip:alice@127\.0\.0\.1:\d+$/ : new RegExp(`;transport=${t};ob$`),
      );
      const binding = (await k.ulDump())[0];

      const call = await sippCall(`127.0.0.1:${k.port}`, 'uac_call.xml', {
        transport: callerT,
        user: 'alice',
        durationMs: 1000,
        timeoutS: 20,
      });
      expect(call.code, call.messages.slice(-4000)).toBe(0);
      expect(call.responses).toEqual(expect.arrayContaining([200]));
      expect(invites).toHaveLength(1);
      // the INVITE was sent to the Contact sipscribe registered
      expect(invites[0]).toBe(status.contact);
      await expect.poll(() => ended, { timeout: 5000 }).toEqual(['bye-remote']);
      if (t !== 'udp' && mode === 'reuse') {
        // Kamailio sent the INVITE over sipscribe's registration connection (its source address is
        // the binding's Received). In-dialog requests (ACK, BYE) go to the Contact of our 200, which
        // names our listening port, so Kamailio may open a second connection for those.
        expect(binding?.received).toMatch(new RegExp(`^sip:127\\.0\\.0\\.1:\\d+;transport=${t}$`));
        await expect
          .poll(() => k.log(), { timeout: 5000 })
          .toContain(`-> ${status.contact ?? ''} via ${binding?.received ?? ''}`);
      } else if (mode === 'contact') {
        // no stored source address: Kamailio opened a new connection to the Contact itself
        expect(binding?.received).toBeUndefined();
        await expect
          .poll(() => k.log(), { timeout: 5000 })
          .toContain(`-> ${status.contact ?? ''} via <null>`);
      }
      await reg?.stop();
      expect(reg?.state).toBe('unregistered');
      expect(await k.ulDump()).toEqual([]);
      await stack.stop();
      await k.stop();
    });
  },
);
