// The externalMedia RTP demultiplexer on a fake clock: datagrams handed to `receive` as the UDP
// socket would, admission stubbed (what `IngressCalls.begin` answers), calls stubbed (what the
// session pushes, how the call ends). Packets are built here from RFC 3550 §5.1 (12-byte header,
// V=2) with RFC 3551 payload types (0 PCMU, 8 PCMA); 0x00 is a loud µ-law code, 0xff silence.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import type { EndReason } from '../../../src/events.js';
import type { IngressCall, IngressDeps, IngressStreamInfo } from '../../../src/ingress/IngressCall.js';
import type { IngressCalls, IngressRefusal } from '../../../src/ingress/IngressCalls.js';
import { RtpIngress } from '../../../src/ingress/RtpIngress.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';

const TIMEOUT_MS = 2000;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function packet(seq: number, pt = 0, byte = 0x00): Buffer {
  const b = Buffer.alloc(12 + 160, byte);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(0x01020304, 8);
  return b;
}

interface StubCall {
  info: IngressStreamInfo;
  samples: number;
  loud: number;
  ended: EndReason | null;
}

describe('RtpIngress', () => {
  let clock: FakeClock;
  let refused: { reason: IngressRefusal; remote: unknown }[];
  let begun: StubCall[];
  let admit: IngressRefusal | null;
  let ingress: RtpIngress;

  beforeEach(() => {
    clock = new FakeClock(1000);
    refused = [];
    begun = [];
    admit = null;
    const config = parseConfig({
      rtp: { timeoutMs: TIMEOUT_MS },
      ingress: { rtp: { enabled: true, allowFrom: ['127.0.0.1/32'], format: 'ulaw' } },
    });
    const { logger } = logSink();
    const calls = {
      refused: (_source: string, reason: IngressRefusal, fields: Record<string, unknown> = {}) =>
        void refused.push({ reason, remote: fields['remote'] }),
      begin: (info: IngressStreamInfo): IngressCall | IngressRefusal => {
        if (admit) {
          refused.push({ reason: admit, remote: info.remote });
          return admit;
        }
        const stub: StubCall = { info, samples: 0, loud: 0, ended: null };
        let resolveDone!: () => void;
        const done = new Promise<void>((r) => (resolveDone = r));
        begun.push(stub);
        return {
          log: logger,
          done,
          get live() {
            return stub.ended === null;
          },
          push: (_channel: number, pcm: Int16Array) => {
            stub.samples += pcm.length;
            stub.loud += pcm.filter((s) => Math.abs(s) > 1000).length;
          },
          end: (reason: EndReason) => {
            stub.ended ??= reason;
            resolveDone();
            return done;
          },
        } as unknown as IngressCall;
      },
    } as unknown as IngressCalls;
    ingress = new RtpIngress({ config, clock } as unknown as IngressDeps, calls, logger);
  });

  afterEach(async () => {
    await ingress.close();
  });

  /** Sends `n` 20 ms packets from `port`, the clock advancing 20 ms after each. */
  async function stream(port: number, n: number, first = 0, address = '127.0.0.1'): Promise<void> {
    for (let i = 0; i < n; i++) {
      ingress.receive(packet(first + i), { address, port });
      clock.advance(20);
      await tick();
    }
  }

  it('each source address:port is its own call, fed with its own audio at 24 kHz', async () => {
    await stream(40000, 25);
    await stream(40002, 25, 100);
    expect(begun.map((c) => c.info.key)).toEqual(['127.0.0.1:40000', '127.0.0.1:40002']);
    expect(begun[0]!.info).toMatchObject({
      ingress: 'rtp',
      codec: 'PCMU/8000',
      rate: 24_000,
      transport: 'udp',
      // Its session paces the frames (one per 80 ms, silence included): the STT stream must not again.
      paced: true,
    });
    expect(ingress.size).toBe(2);
    // The first call's audio went through its session (jitter buffer, G.711, 8 → 24 kHz).
    expect(begun[0]!.loud).toBeGreaterThan(0);
    expect(begun[0]!.samples % 1920).toBe(0);
  });

  it('an IPv4-mapped address is taken as the IPv4 address it is', async () => {
    await stream(40000, 3, 0, '::ffff:127.0.0.1');
    expect(begun.map((c) => c.info.key)).toEqual(['127.0.0.1:40000']);
  });

  it('drops and counts what is not a call: outside allowFrom, not RTP, another payload type, RTCP', async () => {
    ingress.receive(packet(1), { address: '127.0.0.2', port: 40000 });
    ingress.receive(Buffer.from([0x80, 0, 0]), { address: '127.0.0.1', port: 40000 });
    ingress.receive(Buffer.alloc(0), { address: '127.0.0.1', port: 40000 });
    ingress.receive(Buffer.alloc(40, 0x40), { address: '127.0.0.1', port: 40000 }); // version 1
    ingress.receive(packet(1, 8), { address: '127.0.0.1', port: 40000 }); // PCMA, format is ulaw
    ingress.receive(packet(1, 200), { address: '127.0.0.1', port: 40000 }); // an RTCP SR
    await tick();
    expect(refused.map((r) => r.reason)).toEqual([
      'not-allowed',
      'malformed',
      'malformed',
      'malformed',
      'unsupported',
    ]);
    expect(begun).toHaveLength(0);
  });

  it('ends the call after rtp.timeoutMs without a packet; the source may then start a new call', async () => {
    await stream(40000, 10);
    const first = begun[0]!;
    clock.advance(TIMEOUT_MS - 300);
    await tick();
    expect(first.ended).toBeNull();
    clock.advance(400);
    await tick();
    expect(first.ended).toBe('rtp-timeout');
    await tick();
    expect(ingress.size).toBe(0);
    await stream(40000, 3, 500);
    expect(begun).toHaveLength(2);
  });

  it('a refused source is counted once, its packets dropped until it has been silent for rtp.timeoutMs', async () => {
    admit = 'limit';
    await stream(40000, 50);
    expect(refused.map((r) => r.reason)).toEqual(['limit']);
    admit = null;
    await stream(40000, 5, 50);
    expect(begun).toHaveLength(0);
    clock.advance(TIMEOUT_MS);
    await stream(40000, 5, 100);
    expect(begun).toHaveLength(1);
  });
});
