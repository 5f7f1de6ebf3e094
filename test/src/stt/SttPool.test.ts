// SttPool without a network: probes through an injected HTTP GET, time from a FakeClock.
import { describe, expect, it } from 'vitest';
import { SttPool } from '../../../src/stt/SttPool.js';
import { FakeClock } from '../../helpers/FakeClock.js';

const A = { url: 'ws://10.0.0.1:8080/api/asr-streaming' };
const B = { url: 'ws://10.0.0.2:8080/api/asr-streaming' };

function modules(used: string, total: string): string {
  return JSON.stringify([
    { type: 'batched_asr', path: '/api/asr-streaming', used_slots: used, total_slots: total },
  ]);
}

describe('SttPool (no network)', () => {
  it('canAdmit: capacity as far as the probes know, without taking a slot', async () => {
    const clock = new FakeClock();
    let used = '4';
    const pool = new SttPool({
      servers: [A],
      clock,
      httpGet: (url) =>
        Promise.resolve({ status: 200, body: url.endsWith('/api/build_info') ? '{}' : modules(used, '4') }),
    });
    expect(pool.canAdmit()).toBe(true); // nothing known yet: try at the ACK
    await pool.start();
    expect(pool.canAdmit()).toBe(false); // 4 of 4 slots used
    used = '3';
    await pool.probe();
    expect(pool.canAdmit()).toBe(true);
    expect(pool.canAdmit()).toBe(true); // asking takes nothing
    expect(pool.stats.reservations).toBe(0);
    await pool.stop();
    expect(pool.canAdmit()).toBe(false);
  });

  it('reads health and free slots from the probes, and re-probes on its period', async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    let bUp = true;
    const pool = new SttPool({
      servers: [A, B],
      clock,
      probeIntervalMs: 10_000,
      httpGet: (url) => {
        seen.push(url);
        if (url.startsWith('http://10.0.0.2') && !bUp) {
          return Promise.reject(new Error('ECONNREFUSED'));
        }
        return Promise.resolve(
          url.endsWith('/api/build_info')
            ? { status: 200, body: '{}' }
            : {
                status: 200,
                body: url.startsWith('http://10.0.0.1') ? modules('60', '64') : modules('3', '16'),
              },
        );
      },
    });
    await pool.start();
    expect(seen).toEqual([
      'http://10.0.0.1:8080/api/build_info',
      'http://10.0.0.2:8080/api/build_info',
      'http://10.0.0.1:8080/api/modules_info',
      'http://10.0.0.2:8080/api/modules_info',
    ]);
    expect(pool.status().map((s) => [s.healthy, s.freeSlots, s.totalSlots])).toEqual([
      [true, 4, 64],
      [true, 13, 16],
    ]);
    expect(pool.freeSlots()).toBe(17);
    bUp = false;
    clock.advance(10_000); // the next probe finds b down
    await expect.poll(() => pool.status().map((s) => s.healthy)).toEqual([true, false]);
    expect(pool.freeSlots()).toBe(4);
    await pool.stop();
    expect(clock.pending).toBe(0);
  });

  it('marks a lagging server for the cooldown, counting each episode once', () => {
    const clock = new FakeClock();
    const pool = new SttPool({ servers: [A, B], clock, lagCooldownMs: 30_000 });
    pool.reportLag(A, 1500);
    pool.reportLag(A, 2500);
    expect(pool.laggingServers()).toEqual([A.url]);
    expect(pool.stats.lagEvents).toBe(1);
    expect(pool.status()[0]!.maxLagMs).toBe(2500);
    clock.advance(30_001);
    expect(pool.laggingServers()).toEqual([]);
    pool.reportLag(A, 1200);
    expect(pool.stats.lagEvents).toBe(2);
  });

  it('suggests a Retry-After within 1…60 s and refuses an empty server list', () => {
    const pool = new SttPool({ servers: [A], clock: new FakeClock(), probeIntervalMs: 10_000 });
    expect(pool.retryAfterS()).toBe(10);
    expect(() => new SttPool({ servers: [] })).toThrow(
      expect.objectContaining({ code: 'STT_ERR_NO_SERVER' }),
    );
  });
});
