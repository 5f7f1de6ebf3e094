import { describe, expect, it } from 'vitest';
import type { RegistrationStatus } from '../../../sip/registration/Registration.js';
import { RegistrationManager } from '../../../sip/registration/RegistrationManager.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FakeRegistrar, settle } from './fakeRegistrar.js';

describe('RegistrationManager', () => {
  it('registers several accounts independently, reports each one, and unregisters all', async () => {
    const clock = new FakeClock();
    const registrar = new FakeRegistrar();
    const changes: RegistrationStatus[] = [];
    const m = new RegistrationManager(
      registrar,
      { clock, random: () => 0 },
      { onStateChange: (s) => changes.push(s) },
    );
    m.add({ id: 'a', registrar: 'sip:127.0.0.1', username: 'alice', password: 'x', transport: 'udp' });
    m.add({ id: 'b', registrar: 'sip:127.0.0.2', username: 'bob', password: 'y', transport: 'udp' });
    expect(() =>
      m.add({ id: 'a', registrar: 'sip:h', username: 'u', password: 'p', transport: 'udp' }),
    ).toThrow('duplicate');
    m.startAll();
    await settle();
    expect(registrar.seen.map((s) => s.request.uri)).toEqual(['sip:127.0.0.1', 'sip:127.0.0.2']);
    await registrar.reply({ status: 200, headers: { Expires: '60' } });
    await registrar.reply({ status: 403, reason: 'Forbidden' });
    expect(m.statuses().map((s) => [s.accountId, s.state, s.lastStatus])).toEqual([
      ['a', 'registered', 200],
      ['b', 'failed', 403],
    ]);
    expect(changes.map((c) => `${c.accountId}:${c.state}`)).toEqual([
      'a:registering',
      'b:registering',
      'a:registered',
      'b:failed',
    ]);
    const stopped = m.stopAll();
    await settle();
    await registrar.reply({ status: 200 });
    await stopped;
    expect(m.statuses().map((s) => s.state)).toEqual(['unregistered', 'unregistered']);
    expect(m.get('a')?.state).toBe('unregistered');
  });
});
