import { describe, expect, it } from 'vitest';
import { contactUri, grantedExpires } from '../../../sip/registration/contact.js';
import { backoffDelayMs, refreshDelayMs } from '../../../sip/registration/timing.js';

describe('backoffDelayMs', () => {
  const policy = { baseMs: 1000, maxMs: 30_000 };
  it('doubles per failure up to the cap, jitter in the upper half', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n, policy, 1 - 1e-12))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
    expect([1, 2, 3, 6].map((n) => backoffDelayMs(n, policy, 0))).toEqual([500, 1000, 2000, 15_000]);
    expect(backoffDelayMs(3, policy, 0.5)).toBe(3000);
  });

  it('does not overflow after very many failures', () => {
    expect(backoffDelayMs(10_000, policy, 0)).toBe(15_000);
  });
});

describe('refreshDelayMs', () => {
  it('refreshes 32 s before expiry, or half-way for short bindings', () => {
    expect(refreshDelayMs(3600)).toBe(3_568_000);
    expect(refreshDelayMs(120)).toBe(88_000);
    expect(refreshDelayMs(60)).toBe(30_000);
    expect(refreshDelayMs(10)).toBe(5000);
  });
});

describe('Contact of a REGISTER response', () => {
  it('reads expires from name-addr and addr-spec forms', () => {
    const ours = 'sip:a@h:5;transport=tcp';
    expect(grantedExpires(ours, ['"A" <sip:a@h:5;transport=tcp>;expires=60;q=0.5'], undefined)).toBe(60);
    expect(grantedExpires('sip:a@h', ['sip:a@h;expires=7'], undefined)).toBe(7);
    expect(grantedExpires('sip:a@h', ['<sip:a@h>'], '30')).toBe(30);
    expect(grantedExpires('sip:a@h', ['<sip:a@h;expires=9'], '30')).toBe(30);
  });

  it('matches our binding by user, host and port, whatever the URI parameters', () => {
    const ours = 'sip:alice@127.0.0.1:5062;transport=tcp;ob';
    expect(
      grantedExpires(
        ours,
        ['<sip:alice@127.0.0.1:9999>;expires=10', '<sip:alice@127.0.0.1:5062;ob;transport=tcp>;expires=55'],
        '3600',
      ),
    ).toBe(55);
    expect(grantedExpires(ours, ['<sip:bob@127.0.0.1:5062>;expires=10'], '3600')).toBe(3600);
    expect(grantedExpires('sip:a@[::1]:5062', ['<sip:a@[::1]:5062>;expires=42'], undefined)).toBe(42);
    expect(grantedExpires(ours, [], 'soon')).toBeUndefined();
  });

  it('writes our Contact: transport and ;ob on TCP/TLS, sips: for a secure binding, IPv6 in brackets', () => {
    expect(contactUri('alice', { host: '127.0.0.1', port: 5062, transport: 'udp' }, true)).toBe(
      'sip:alice@127.0.0.1:5062',
    );
    expect(contactUri('alice', { host: '127.0.0.1', port: 5062, transport: 'tcp' }, true)).toBe(
      'sip:alice@127.0.0.1:5062;transport=tcp;ob',
    );
    expect(contactUri('alice', { host: '::1', port: 5061, transport: 'tls' }, false)).toBe(
      'sip:alice@[::1]:5061;transport=tls',
    );
    expect(contactUri('alice', { host: '::1', port: 5061, transport: 'tls' }, true, true)).toBe(
      'sips:alice@[::1]:5061;ob',
    );
  });
});
