import { describe, expect, it } from 'vitest';
import { Admission, parseAllowList } from '../../../src/call/Admission.js';
import { parseConfig } from '../../../src/config.js';
import { ConfigError } from '../../../src/errors.js';
import { createMetrics } from '../../../src/metrics.js';
import { FakeClock } from '../../helpers/FakeClock.js';

function admission(opts: Partial<ConstructorParameters<typeof Admission>[0]> = {}): {
  a: Admission;
  clock: FakeClock;
} {
  const clock = new FakeClock(0);
  const a = new Admission({
    allowFrom: ['0.0.0.0/0', '::/0'],
    maxCalls: 2,
    rateLimit: { burst: 3, perSecond: 1 },
    whenFull: 'reject',
    clock,
    ...opts,
  });
  return { a, clock };
}

describe('Admission', () => {
  it('matches the allow list by CIDR, for IPv4, IPv6 and IPv4-mapped IPv6 sources', () => {
    // RFC 5737 / RFC 3849 documentation ranges.
    const { a } = admission({ allowFrom: ['192.0.2.0/24', '198.51.100.7', '2001:db8:1::/48'] });
    expect(a.allowed('192.0.2.1')).toBe(true);
    expect(a.allowed('192.0.2.255')).toBe(true);
    expect(a.allowed('192.0.3.1')).toBe(false);
    expect(a.allowed('198.51.100.7')).toBe(true);
    expect(a.allowed('198.51.100.8')).toBe(false);
    expect(a.allowed('::ffff:192.0.2.9')).toBe(true);
    expect(a.allowed('2001:db8:1:ffff::1')).toBe(true);
    expect(a.allowed('2001:db8:2::1')).toBe(false);
    expect(a.allowed('not-an-ip')).toBe(false);
  });

  it('rejects bad allow-list entries with the JSON path', () => {
    expect(() => parseAllowList(['10.0.0.0/8', '10.0.0.0/33'])).toThrow(ConfigError);
    expect(() => parseAllowList(['10.0.0.0/8', '10.0.0.0/33'])).toThrow(/allowFrom\[1\]/);
    expect(() => parseAllowList(['pbx.example.com'])).toThrow(/not an IP address or CIDR/);
    expect(() => parseConfig({ sip: { inbound: { allowFrom: ['::/129'] } } })).toThrow(
      /sip\.inbound\.allowFrom\[0\]/,
    );
  });

  it('admitCall decides in order: allow list, shutdown, max calls, STT capacity (no rate limit)', () => {
    // A bucket of 1 that never refills in this test: admitCall must not take tokens.
    const { a } = admission({ allowFrom: ['192.0.2.0/24'], rateLimit: { burst: 1, perSecond: 0.001 } });
    expect(a.admitCall('203.0.113.5', 0, true)).toEqual({
      action: 'reject',
      status: 403,
      reason: 'not-allowed',
    });
    expect(a.admitCall('192.0.2.5', 0, true)).toEqual({ action: 'accept', deferred: false });
    expect(a.admitCall('192.0.2.5', 0, true)).toEqual({ action: 'accept', deferred: false });
    expect(a.admitCall('192.0.2.5', 2, true)).toEqual({ action: 'reject', status: 486, reason: 'max-calls' });
    expect(a.admitCall('192.0.2.5', 1, false)).toEqual({ action: 'reject', status: 503, reason: 'stt-full' });
    a.stopAccepting();
    expect(a.admitCall('192.0.2.5', 0, true)).toEqual({
      action: 'reject',
      status: 503,
      reason: 'shutting-down',
    });
    // The bucket is still full: the screen of the next request from that source accepts it.
    expect(a.screen('192.0.2.5', 'OPTIONS')).toEqual({ action: 'accept' });
    expect(a.screen('192.0.2.5', 'OPTIONS')).toEqual({ action: 'drop', reason: 'rate-limited' });
  });

  it('availability (the OPTIONS answer): draining, maxCalls, STT full only with whenFull reject; nothing counted', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const { a } = admission({ rateLimit: { burst: 1, perSecond: 0.001 }, maxCalls: 2, metrics });
    expect(a.availability(1, true)).toEqual({ ok: true });
    expect(a.availability(2, true)).toEqual({ ok: false, reason: 'max-calls' });
    expect(a.availability(0, false)).toEqual({ ok: false, reason: 'stt-full' });
    const { a: defer } = admission({ whenFull: 'defer', maxCalls: 2 });
    // With defer a call is still taken (recorded, transcribed later): the probe hears 200.
    expect(defer.availability(0, false)).toEqual({ ok: true });
    expect(a.draining).toBe(false);
    a.stopAccepting();
    expect(a.draining).toBe(true);
    expect(a.availability(0, true)).toEqual({ ok: false, reason: 'shutting-down' });
    // No token was taken, no refusal counted.
    expect(a.screen('192.0.2.5', 'OPTIONS')).toEqual({ action: 'accept' });
    expect(await metrics.registry.metrics()).not.toMatch(/sipscribe_admission_refused_total\{/);
  });

  it('screen: rate limit for every method; allow list for all but INVITE (whose 403 comes with a record)', () => {
    const { a } = admission({ allowFrom: ['192.0.2.0/24'], rateLimit: { burst: 2, perSecond: 0.001 } });
    expect(a.screen('203.0.113.5', 'OPTIONS')).toEqual({
      action: 'reject',
      status: 403,
      reason: 'not-allowed',
    });
    expect(a.screen('203.0.113.5', 'INVITE')).toEqual({ action: 'accept' });
    expect(a.screen('203.0.113.5', 'REGISTER')).toEqual({ action: 'drop', reason: 'rate-limited' });
    expect(a.screen('192.0.2.5', 'OPTIONS')).toEqual({ action: 'accept' });
    expect(a.screen('192.0.2.5', 'INVITE')).toEqual({ action: 'accept' });
    expect(a.screen('192.0.2.5', 'INVITE')).toEqual({ action: 'drop', reason: 'rate-limited' });
  });

  it('counts refusals by reason, drops as rate-limited', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const { a } = admission({ allowFrom: ['192.0.2.0/24'], rateLimit: { burst: 2, perSecond: 1 }, metrics });
    a.admitCall('203.0.113.5', 0, true);
    a.screen('203.0.113.5', 'OPTIONS');
    a.admitCall('192.0.2.5', 5, true);
    a.screen('192.0.2.5', 'INVITE');
    a.screen('192.0.2.5', 'INVITE'); // bucket of 2 now empty
    a.screen('192.0.2.5', 'INVITE');
    a.screen('192.0.2.5', 'OPTIONS');
    const text = await metrics.registry.metrics();
    expect(text).toContain('sipscribe_admission_refused_total{reason="not-allowed"} 2\n');
    expect(text).toContain('sipscribe_admission_refused_total{reason="max-calls"} 1\n');
    expect(text).toContain('sipscribe_admission_refused_total{reason="rate-limited"} 2\n');
  });

  it('defers instead of rejecting when the STT is full and whenFull is defer', () => {
    const { a } = admission({ whenFull: 'defer' });
    expect(a.admitCall('192.0.2.5', 0, false)).toEqual({ action: 'accept', deferred: true });
  });

  it('defer with the pending budget spent: 503 pending-full (OPTIONS too); with an STT slot the budget is not asked', () => {
    let room = false;
    const { a } = admission({ whenFull: 'defer', pendingRoom: () => room });
    expect(a.admitCall('192.0.2.5', 0, false)).toEqual({
      action: 'reject',
      status: 503,
      reason: 'pending-full',
    });
    expect(a.availability(0, false)).toEqual({ ok: false, reason: 'pending-full' });
    expect(a.admitCall('192.0.2.5', 0, true)).toEqual({ action: 'accept', deferred: false });
    room = true;
    expect(a.admitCall('192.0.2.5', 0, false)).toEqual({ action: 'accept', deferred: true });
  });

  it('as many calls on the phone as RTP port pairs: 503 rtp-ports (OPTIONS too), before maxCalls when the range is smaller', () => {
    const { a } = admission({ maxCalls: 10, mediaPorts: 2 });
    expect(a.admitCall('192.0.2.5', 1, true)).toEqual({ action: 'accept', deferred: false });
    expect(a.admitCall('192.0.2.5', 2, true)).toEqual({ action: 'reject', status: 503, reason: 'rtp-ports' });
    expect(a.availability(2, true)).toEqual({ ok: false, reason: 'rtp-ports' });
    expect(a.availability(1, true)).toEqual({ ok: true });
  });

  it('the default is defer: a fresh install answers and keeps the audio when no speech server answers', () => {
    expect(parseConfig({}).stt.whenFull).toBe('defer');
    expect(parseConfig({}).storage.pendingMaxBytes).toBe(1024 * 1024 * 1024);
  });

  it('drops a flooding source silently while others go on, and refills over time', () => {
    const { a, clock } = admission({ rateLimit: { burst: 3, perSecond: 2 } });
    const flood = Array.from({ length: 6 }, () => a.screen('203.0.113.66', 'INVITE').action);
    expect(flood).toEqual(['accept', 'accept', 'accept', 'drop', 'drop', 'drop']);
    expect(a.screen('192.0.2.10', 'INVITE').action).toBe('accept');
    clock.advance(499); // 0.998 tokens: still empty
    expect(a.screen('203.0.113.66', 'INVITE').action).toBe('drop');
    clock.advance(600); // 0.998 + 1.2 = 2.198 tokens (a dropped request costs nothing)
    expect(Array.from({ length: 3 }, () => a.screen('203.0.113.66', 'INVITE').action)).toEqual([
      'accept',
      'accept',
      'drop',
    ]);
    clock.advance(10_000); // refilled to the burst, not beyond
    expect(Array.from({ length: 4 }, () => a.screen('203.0.113.66', 'INVITE').action)).toEqual([
      'accept',
      'accept',
      'accept',
      'drop',
    ]);
  });

  it('forgets the least recently seen sources beyond maxSources', () => {
    const { a } = admission({ rateLimit: { burst: 1, perSecond: 0.001 }, maxSources: 2 });
    expect(a.screen('192.0.2.1', 'OPTIONS').action).toBe('accept');
    expect(a.screen('192.0.2.1', 'OPTIONS').action).toBe('drop');
    a.screen('192.0.2.2', 'OPTIONS');
    a.screen('192.0.2.3', 'OPTIONS'); // 192.0.2.1 is forgotten: its bucket starts full again
    expect(a.screen('192.0.2.1', 'OPTIONS').action).toBe('accept');
  });
});
