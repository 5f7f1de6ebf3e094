/**
 * RepeatedLog: one line per kind of repeated event and window, with the count of those not logged.
 */
import { describe, expect, it } from 'vitest';
import { RepeatedLog } from '../../lib/logger.js';
import { FakeClock } from '../helpers/FakeClock.js';
import { recordingLogger } from '../sip/support/memory.js';

describe('RepeatedLog', () => {
  it('logs the first of a kind, counts the rest of the minute, logs the count with the next one', () => {
    const logger = recordingLogger();
    const clock = new FakeClock();
    const log = new RepeatedLog(logger, clock);
    for (let i = 0; i < 10; i++) {
      log.log('debug', 'a', { i }, 'event a');
      log.log('info', 'b', { i }, 'event b');
    }
    expect(logger.lines.map((l) => [l.level, l.msg, l.obj])).toEqual([
      ['debug', 'event a', { i: 0 }],
      ['info', 'event b', { i: 0 }],
    ]);
    clock.advance(59_999);
    log.log('debug', 'a', { i: 10 }, 'event a');
    expect(logger.lines).toHaveLength(2);
    clock.advance(1);
    log.log('debug', 'a', { i: 11 }, 'event a');
    expect(logger.lines[2]).toEqual({ level: 'debug', msg: 'event a', obj: { i: 11, repeated: 10 } });
    log.flush();
    expect(logger.lines.slice(3)).toEqual([{ level: 'info', msg: 'event b', obj: { i: 9, repeated: 9 } }]);
    log.flush();
    expect(logger.lines).toHaveLength(4);
  });

  it('tracks at most 256 kinds: the oldest is forgotten, its count logged first', () => {
    const logger = recordingLogger();
    const log = new RepeatedLog(logger, new FakeClock());
    log.log('warn', 'k0', {}, 'k0');
    log.log('warn', 'k0', {}, 'k0');
    for (let k = 1; k < 256; k++) {
      log.log('warn', `k${k}`, {}, `k${k}`);
    }
    expect(logger.lines).toHaveLength(256);
    log.log('warn', 'k256', {}, 'k256');
    expect(logger.lines.slice(256).map((l) => [l.msg, l.obj])).toEqual([
      ['k0', { repeated: 1 }],
      ['k256', {}],
    ]);
  });

  it('builds lazy details only for the lines it writes (per-packet callers pay nothing for a counted one)', () => {
    const logger = recordingLogger();
    const clock = new FakeClock();
    const log = new RepeatedLog(logger, clock, 30_000);
    let built = 0;
    const details = (i: number) => (): object => {
      built++;
      return { i };
    };
    for (let i = 0; i < 1000; i++) {
      log.log('warn', 'k', details(i), 'k');
    }
    expect(built).toBe(1);
    clock.advance(30_000);
    log.log('warn', 'k', details(1000), 'k');
    log.log('warn', 'k', details(1001), 'k');
    log.flush();
    expect(built).toBe(3);
    expect(logger.lines.map((l) => l.obj)).toEqual([
      { i: 0 },
      { i: 1000, repeated: 999 },
      { i: 1001, repeated: 1 },
    ]);
  });
});
