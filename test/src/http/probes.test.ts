import { describe, expect, it } from 'vitest';
import { HttpProbe, sttHealthUrl } from '../../../src/http/probes.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';

describe('HttpProbe', () => {
  it('maps STT WebSocket URLs to moshi-server build_info', () => {
    expect(sttHealthUrl('ws://127.0.0.1:8080/api/asr-streaming')).toBe(
      'http://127.0.0.1:8080/api/build_info',
    );
    expect(sttHealthUrl('wss://stt.example.com/stt-server/api/asr-streaming?auth_id=x')).toBe(
      'https://stt.example.com/api/build_info',
    );
  });

  it('is ready while at least one server answers, re-checking every interval', async () => {
    const clock = new FakeClock(0);
    const up = new Map([
      ['http://a/api/build_info', false],
      ['http://b/api/build_info', true],
    ]);
    const asked: string[] = [];
    const probe = new HttpProbe({
      name: 'stt',
      urls: [...up.keys()],
      clock,
      logger: logSink().logger,
      intervalMs: 5000,
      get: (url) => {
        asked.push(`${clock.now()} ${url}`);
        return up.get(url) ? Promise.resolve(200) : Promise.reject(new Error('ECONNREFUSED'));
      },
    });
    expect(probe.check()).toBe(false); // nothing known yet
    probe.start();
    await probe.settled();
    expect(probe.check()).toBe(true);
    expect(probe.status()).toEqual({ 'http://a/api/build_info': false, 'http://b/api/build_info': true });
    up.set('http://b/api/build_info', false);
    clock.advance(4999);
    await probe.settled();
    expect(probe.check()).toBe(true); // not re-checked yet
    clock.advance(1);
    await probe.settled();
    expect(probe.check()).toBe(false);
    expect(asked).toEqual([
      '0 http://a/api/build_info',
      '0 http://b/api/build_info',
      '5000 http://a/api/build_info',
      '5000 http://b/api/build_info',
    ]);
    probe.stop();
    expect(clock.pending).toBe(0);
  });

  it('counts an error status and a timeout as down', async () => {
    const clock = new FakeClock(0);
    const probe = new HttpProbe({
      name: 'stt',
      urls: ['http://slow/api/build_info', 'http://err/api/build_info'],
      clock,
      logger: logSink().logger,
      timeoutMs: 1000,
      get: (url, signal) =>
        url.includes('err')
          ? Promise.resolve(503)
          : new Promise((_resolve, reject) =>
              signal.addEventListener('abort', () => reject(new Error('aborted'))),
            ),
    });
    probe.start();
    clock.advance(1000);
    await probe.settled();
    expect(probe.status()).toEqual({
      'http://slow/api/build_info': false,
      'http://err/api/build_info': false,
    });
    probe.stop();
  });
});
