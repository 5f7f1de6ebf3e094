// Proves the peer harness itself: a SIPp callee and a SIPp caller on loopback, started and
// stopped by the helpers, complete a call with media (INVITE/100/180/200/ACK, RTP, BYE/200).
import { afterAll, describe, expect, it } from 'vitest';
import { sippCall, sippServer } from '../helpers/sipp.js';
import { stopAll } from '../helpers/processes.js';

afterAll(stopAll);

describe('SIPp harness', () => {
  it.each(['udp', 'tcp'] as const)(
    'a SIPp UAC calls a SIPp UAS over %s and the call completes',
    async (transport) => {
      const uas = await sippServer('uas.xml', { transport, calls: 1 });
      const call = await sippCall(`127.0.0.1:${uas.port}`, 'uac_call.xml', { transport, durationMs: 1000 });
      const server = await uas.done();
      expect(call.code, call.output).toBe(0);
      expect(call.responses).toEqual(expect.arrayContaining([100, 180, 200]));
      // the callee saw INVITE, ACK and BYE, and answered the BYE
      expect(server.messages).toMatch(/^INVITE sip:alice@127\.0\.0\.1/m);
      expect(server.messages).toMatch(/^ACK /m);
      expect(server.messages).toMatch(/^BYE /m);
      expect(server.code, server.output).toBe(0);
    },
  );

  it("boundUdpPorts lists this process's UDP sockets in the range, not another program's", async () => {
    const { createSocket } = await import('node:dgram');
    const { boundUdpPorts } = await import('./e2eHarness.js');
    const ours = createSocket('udp4');
    await new Promise<void>((r) => ours.bind(0, '127.0.0.1', r));
    const mine = ours.address().port;
    // Another program holding a UDP port (SIPp's callee, waiting for a call that never comes).
    const other = await sippServer('uas.xml', { calls: 1 });
    try {
      const lo = Math.min(mine, other.port);
      const hi = Math.max(mine, other.port);
      expect(await boundUdpPorts(lo, hi)).toEqual([mine]);
      ours.close();
      expect(await boundUdpPorts(lo, hi)).toEqual([]);
    } finally {
      await other.finish();
    }
  });

  it('a call to a port where nobody listens fails (the harness reports failures)', async () => {
    const { freePort } = await import('../helpers/ports.js');
    const port = await freePort();
    const call = await sippCall(`127.0.0.1:${port}`, 'uac_call.xml', { timeoutS: 3 });
    expect(call.code).not.toBe(0);
  });
});
