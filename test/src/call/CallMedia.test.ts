// CallMedia with `rtp.sendBack`: what the SDP answer is told (where we receive, and `recvonly` when
// we never send) and what goes back to the caller on the wire, over the in-memory network.
import { describe, expect, it } from 'vitest';
import { CallMedia } from '../../../src/call/CallMedia.js';
import { parseConfig } from '../../../src/config.js';
import { createMetrics } from '../../../src/metrics.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { MemoryNetwork } from '../../rtp/session/memoryNetwork.js';
import { logSink } from '../logSink.js';
import { REMOTE } from './fakes.js';

async function sent(rtp: object): Promise<{ local: object; packets: number }> {
  const net = new MemoryNetwork();
  const clock = new FakeClock(1000);
  const config = parseConfig({ rtp: { host: '198.51.100.7', portMin: 30000, portMax: 30009, ...rtp } });
  const media = await CallMedia.open(
    { config, metrics: createMetrics({ processMetrics: false }), clock, socketFactory: net },
    logSink().logger,
    {},
  );
  const local = media.local('203.0.113.5');
  media.start(REMOTE, () => true);
  clock.advance(3000);
  const packets = net.bound.get(`198.51.100.7:${media.localPort}`)!.sent.length;
  media.end();
  return { local, packets };
}

describe('CallMedia: rtp.sendBack', () => {
  it('keepalive (the default): one packet per second (at 0, 1, 2, 3 s); the answer may be sendrecv', async () => {
    const r = await sent({});
    expect(r.local).toEqual({ address: '203.0.113.5', port: expect.any(Number) as number });
    expect(r.packets).toBe(4);
  });

  it('keepaliveMs 500: 7 packets in 3 s', async () => {
    expect((await sent({ keepaliveMs: 500 })).packets).toBe(7);
  });

  it('silence: 50 packets per second at ptime 20', async () => {
    expect((await sent({ sendBack: 'silence' })).packets).toBe(151);
  });

  it('none: no RTP, and the answer is told recvonly', async () => {
    const r = await sent({ sendBack: 'none' });
    expect(r.local).toMatchObject({ address: '203.0.113.5', direction: 'recvonly' });
    expect(r.packets).toBe(0);
  });
});
