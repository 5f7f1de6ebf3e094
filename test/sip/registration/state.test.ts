import { describe, expect, it } from 'vitest';
import { assertTransition, canTransition, type RegistrationState } from '../../../sip/registration/state.js';

describe('registration state machine', () => {
  it.each([
    ['idle', 'registering'],
    ['registering', 'registered'],
    ['registering', 'failed'],
    ['registered', 'refreshing'],
    ['refreshing', 'registered'],
    ['registered', 'registering'],
    ['failed', 'registering'],
    ['registered', 'unregistering'],
    ['unregistering', 'unregistered'],
    ['unregistered', 'registering'],
  ] as [RegistrationState, RegistrationState][])('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each([
    ['idle', 'registered'],
    ['failed', 'registered'],
    ['unregistering', 'registering'],
    ['unregistered', 'registered'],
    ['registered', 'registered'],
    ['failed', 'refreshing'],
  ] as [RegistrationState, RegistrationState][])('refuses %s → %s with SIP_ERR_REG_STATE', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    expect(() => assertTransition(from, to)).toThrow(
      expect.objectContaining({
        code: 'SIP_ERR_REG_STATE',
        message: `invalid registration state transition ${from} → ${to}`,
      }) as Error,
    );
  });
});
