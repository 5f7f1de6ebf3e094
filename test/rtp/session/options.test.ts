import { describe, expect, it } from 'vitest';
import { RtpConfigError } from '../../../rtp/errors.js';
import { resolveOptions } from '../../../rtp/session/options.js';
import { udpSocketFactory } from '../../../rtp/session/socket.js';
import { FakeClock } from '../../helpers/FakeClock.js';

describe('resolveOptions (the defaults listed in rtp/README.md)', () => {
  it('fills every default', () => {
    const clock = new FakeClock(1234);
    const o = resolveOptions({ host: '127.0.0.1', portMin: 20000, portMax: 20001 }, clock);
    expect(o).toMatchObject({
      host: '127.0.0.1',
      portMin: 20000,
      portMax: 20001,
      jitter: { minDelayMs: 60, maxDelayMs: 500, shrinkPercent: 10 },
      timeoutMs: 30000,
      strictSource: false,
      cname: 'sipscribe@127.0.0.1',
      comfortNoisePayloadType: 13,
    });
    expect(o.socketFactory).toBe(udpSocketFactory);
    expect(o.random).toBe(Math.random);
    // The wall clock follows the injected clock.
    const t0 = o.wallClockMs();
    clock.advance(500);
    expect(o.wallClockMs() - t0).toBe(500);
  });

  it('keeps what is given, including 0 and false', () => {
    const random = (): number => 0.25;
    const o = resolveOptions(
      {
        host: '::1',
        portMin: 1,
        portMax: 65535,
        jitter: { maxDelayMs: 400 },
        timeoutMs: 0,
        strictSource: true,
        cname: 'me@example.invalid',
        random,
        wallClockMs: () => 42,
        comfortNoisePayloadType: 19,
      },
      new FakeClock(0),
    );
    expect(o).toMatchObject({
      jitter: { minDelayMs: 60, maxDelayMs: 400, shrinkPercent: 10 },
      timeoutMs: 0,
      strictSource: true,
      cname: 'me@example.invalid',
      comfortNoisePayloadType: 19,
    });
    expect(o.random).toBe(random);
    expect(o.wallClockMs()).toBe(42);
  });

  it.each([
    [20000, 20000],
    [0, 10],
    [65000, 65536],
    [20000.5, 20010],
    [20010, 20000],
  ])('rejects the port range %d–%d with RTP_ERR_CONFIG', (portMin, portMax) => {
    const f = (): unknown => resolveOptions({ host: '127.0.0.1', portMin, portMax }, new FakeClock(0));
    expect(f).toThrow(RtpConfigError);
    expect(f).toThrow(expect.objectContaining({ code: 'RTP_ERR_CONFIG' }));
  });

  it.each([{ shrinkPercent: 0 }, { shrinkPercent: 80 }, { maxDelayMs: -1 }, { minDelayMs: Number.NaN }])(
    'rejects the jitter settings %o with RTP_ERR_CONFIG',
    (jitter) => {
      const f = (): unknown =>
        resolveOptions({ host: '127.0.0.1', portMin: 20000, portMax: 20001, jitter }, new FakeClock(0));
      expect(f).toThrow(expect.objectContaining({ code: 'RTP_ERR_CONFIG' }));
    },
  );
});
