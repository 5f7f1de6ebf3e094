import { describe, expect, it } from 'vitest';
import { grantedExpires, parseContactValue } from '../../../sip/registration/contact.js';
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
  it('parses name-addr and addr-spec forms with expires', () => {
    expect(parseContactValue('"A" <sip:a@h:5;transport=tcp>;expires=60;q=0.5')).toEqual({
      uri: 'sip:a@h:5;transport=tcp',
      expires: 60,
    });
    expect(parseContactValue('sip:a@h;expires=7')).toEqual({ uri: 'sip:a@h', expires: 7 });
    expect(parseContactValue('<sip:a@h>')).toEqual({ uri: 'sip:a@h', expires: undefined });
    expect(parseContactValue('<sip:a@h')).toBeUndefined();
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
});
