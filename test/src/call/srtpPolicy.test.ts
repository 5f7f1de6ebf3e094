/**
 * Which SRTP policy an incoming call gets: the account's, else the listener's, else `optional`
 * over TLS and `off` otherwise; and the configuration refusing a value that is not a policy.
 */
import { describe, expect, it } from 'vitest';
import type { InviteSummary } from '../../../sip/index.js';
import { srtpPolicyFor } from '../../../src/call/srtpPolicy.js';
import { parseConfig } from '../../../src/config.js';
import { ConfigError } from '../../../src/errors.js';

const config = parseConfig({
  sip: {
    listen: [
      { transport: 'udp', port: 5060 },
      { transport: 'tls', port: 5061 },
      { transport: 'tls', port: 5063, srtp: 'required' },
      { transport: 'tcp', port: 5064, srtp: 'optional' },
    ],
    accounts: [
      { registrar: 'sips:pbx.example.com', username: '1001', srtp: 'off' },
      { registrar: 'sips:pbx.example.com', username: '1002' },
    ],
  },
});

function call(transport: InviteSummary['transport'], listener: number | undefined): InviteSummary {
  return { transport, listener } as InviteSummary;
}

describe('srtpPolicyFor', () => {
  it.each<[string, InviteSummary, number | undefined, string]>([
    ['UDP listener without a setting', call('udp', 0), undefined, 'off'],
    ['TLS listener without a setting', call('tls', 1), undefined, 'optional'],
    ['TLS listener set to required', call('tls', 2), undefined, 'required'],
    ['TCP listener set to optional', call('tcp', 3), undefined, 'optional'],
    ['account set to off wins over the listener', call('tls', 2), 0, 'off'],
    ['account without a setting: the listener', call('tls', 2), 1, 'required'],
    ['over a registration connection (no listener), TLS', call('tls', undefined), 1, 'optional'],
    ['over a registration connection (no listener), TCP', call('tcp', undefined), 1, 'off'],
  ])('%s → %s', (_, c, account, expected) => {
    const a = account === undefined ? undefined : config.sip.accounts[account];
    expect(srtpPolicyFor(config, c, a)).toBe(expected);
  });

  it('the configuration names a wrong policy', () => {
    expect(() => parseConfig({ sip: { listen: [{ transport: 'tls', port: 5061, srtp: 'yes' }] } })).toThrow(
      ConfigError,
    );
    expect(() => parseConfig({ sip: { listen: [{ transport: 'tls', port: 5061, srtp: 'yes' }] } })).toThrow(
      /sip\.listen\[0\]\.srtp/,
    );
  });
});
