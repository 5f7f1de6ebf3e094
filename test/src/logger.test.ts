import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, logFormatFor, maskUrl, type LogFormat } from '../../src/logger.js';

/** A destination that keeps what the logger writes. */
function capture(): { dest: Writable; text: () => string } {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { dest, text: () => chunks.join('') };
}

describe('maskUrl', () => {
  it.each([
    ['sip:1001:pw@pbx.example.com;transport=udp', 'sip:1001:***@pbx.example.com;transport=udp'],
    ['sips:alice:pa:ss@[2001:db8::1]:5061', 'sips:alice:***@[2001:db8::1]:5061'],
    ['sip:1001@pbx.example.com', 'sip:1001@pbx.example.com'],
    ['sip:pbx.example.com;transport=tcp', 'sip:pbx.example.com;transport=tcp'],
    ['sip:u@h?subject=x&auth=y', 'sip:u@h?subject=***&auth=***'],
    ['ws://u:p@127.0.0.1:8080/api/asr-streaming', 'ws://***@127.0.0.1:8080/api/asr-streaming'],
    [
      'wss://stt.example.com/api/asr-streaming?auth_id=k',
      'wss://stt.example.com/api/asr-streaming?auth_id=***',
    ],
    ['https://token@hooks.example.com/in?x=1&flag#frag', 'https://***@hooks.example.com/in?x=***&flag#***'],
    ['https://hooks.example.com/in', 'https://hooks.example.com/in'],
    [
      'postgres://sipscribe:s3cret@db.example.com:5432/calls?sslmode=require',
      'postgres://***@db.example.com:5432/calls?sslmode=***',
    ],
    ['http://[::1', 'http://[::1'],
    ['http://[::1?x=1', '(invalid url)'],
    ['./data', './data'],
    ['user@example.com', 'user@example.com'],
  ])('%s → %s', (url, masked) => {
    expect(maskUrl(url)).toBe(masked);
  });
});

describe('createLogger', () => {
  it('masks credentials inside URL fields and redacts secret-named fields', () => {
    const { dest, text } = capture();
    const logger = createLogger('info', { destination: dest });
    logger.info(
      {
        stt: ['ws://u:K3y@127.0.0.1/api?auth_id=K3y', 'ws://127.0.0.1/api'],
        server: 'wss://stt/api?auth_id=K3y',
        password: 'K3y',
        from: 'sip:alice@127.0.0.1',
      },
      'started',
    );
    const rec = JSON.parse(text()) as Record<string, unknown>;
    expect(JSON.stringify(rec)).not.toContain('K3y');
    expect(rec).toMatchObject({
      stt: ['ws://***@127.0.0.1/api?auth_id=***', 'ws://127.0.0.1/api'],
      server: 'wss://stt/api?auth_id=***',
      password: '***',
      from: 'sip:alice@127.0.0.1',
    });
  });
});

describe('log.format', () => {
  it.each<[LogFormat | 'auto', boolean | undefined, LogFormat]>([
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    // A pipe or file: process.stdout.isTTY is undefined there.
    ['auto', undefined, 'json'],
    ['json', true, 'json'],
    ['json', false, 'json'],
    ['pretty', true, 'pretty'],
    ['pretty', undefined, 'pretty'],
  ])('%s with isTTY %s writes %s', (setting, isTTY, format) => {
    expect(logFormatFor(setting, isTTY)).toBe(format);
  });
});

describe('createLogger, pretty format', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A pretty logger without colours, its clock at 09:00:05.123 UTC. */
  function pretty(level = 'debug'): { logger: ReturnType<typeof createLogger>; text: () => string } {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-06T09:00:05.123Z'));
    const { dest, text } = capture();
    return { logger: createLogger(level, { format: 'pretty', destination: dest }), text };
  }

  it('prints time, level, the part and callId context, the message, then key=value', () => {
    const { logger, text } = pretty();
    logger
      .child({ part: 'sip' })
      .child({ callId: '3f2a9c' })
      .info({ remote: '127.0.0.1:40000', codec: 'PCMU', ptime: 20, onHold: false }, 'rtp session started');
    logger.warn(
      { stt: 'ws://127.0.0.1:8080/api/asr-streaming', detail: 'read timed out' },
      'stt: server unhealthy',
    );
    logger.error({ stats: { received: 10, lost: 0 }, note: null }, 'rtp stats');
    logger.info('sipscribe started');
    logger.debug({ n: 1 });
    expect(text()).toBe(
      [
        '09:00:05.123  INFO: [sip 3f2a9c] rtp session started remote=127.0.0.1:40000 codec=PCMU ptime=20 onHold=false',
        '09:00:05.123  WARN: stt: server unhealthy stt=ws://127.0.0.1:8080/api/asr-streaming detail="read timed out"',
        '09:00:05.123 ERROR: rtp stats stats={"received":10,"lost":0} note=null',
        '09:00:05.123  INFO: sipscribe started',
        '09:00:05.123 DEBUG: n=1',
        '',
      ].join('\n'),
    );
  });

  it('prints an error as its type and message, its code, and its stack below', () => {
    const { logger, text } = pretty();
    const err = Object.assign(new TypeError('no route'), { code: 'SIP_ERR_TRANSPORT' });
    err.stack =
      'TypeError: no route\n    at send (sip/transport/UdpTransport.ts:80:11)\n    at tick (x.ts:1:1)';
    logger.child({ part: 'sip' }).error({ err }, 'could not send');
    expect(text()).toBe(
      [
        '09:00:05.123 ERROR: [sip] could not send err="TypeError: no route" err.code=SIP_ERR_TRANSPORT',
        '    at send (sip/transport/UdpTransport.ts:80:11)',
        '    at tick (x.ts:1:1)',
        '',
      ].join('\n'),
    );
  });

  it('escapes what a terminal would act on (a hostile From header cannot recolour or hide text)', () => {
    const { logger, text } = pretty();
    logger.info(
      { from: '"\u001b[2Jevil\u202e" <sip:x@y>', tab: 'a\tb', c1: 'x\u009by' },
      'call\u001b[31m offered\nnext',
    );
    const out = text();
    expect(out.replace(/\n$/, '')).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    expect(out).toBe(
      '09:00:05.123  INFO: call\\u001b[31m offered\\u000anext from="\\"\\u001b[2Jevil\\u202e\\" <sip:x@y>" tab="a\\tb" c1="x\\u009by"\n',
    );
  });

  it('never shows a password, token, key or credentials inside a URL', () => {
    const { logger, text } = pretty();
    const child = logger.child({ part: 'stt' });
    child.info(
      {
        stt: ['ws://u:K3y-1@127.0.0.1/api?auth_id=K3y-2', 'ws://127.0.0.1/api'],
        server: 'wss://stt/api?auth_id=K3y-3',
        registrar: 'sip:1001:K3y-4@pbx.example.com',
        password: 'K3y-5',
        account: { password: 'K3y-6', token: 'K3y-7', apiKey: 'K3y-8', secret: 'K3y-9' },
        headers: { authorization: 'Bearer K3y-10' },
        token: 'K3y-11',
      },
      'started',
    );
    const out = text();
    expect(out).not.toContain('K3y');
    expect(out).toBe(
      '09:00:05.123  INFO: [stt] started stt=["ws://***@127.0.0.1/api?auth_id=***","ws://127.0.0.1/api"] ' +
        'server="wss://stt/api?auth_id=***" registrar=sip:1001:***@pbx.example.com password=*** ' +
        'account={"password":"***","token":"***","apiKey":"***","secret":"***"} headers={"authorization":"***"} ' +
        'token=***\n',
    );
  });

  it('colours the level when asked (ANSI), and not otherwise', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-06T09:00:05.123Z'));
    const { dest, text } = capture();
    createLogger('info', { format: 'pretty', destination: dest, color: true }).warn('careful');
    expect(text()).toContain('\u001b[33mWARN\u001b[39m');
    expect(stripVTControlCharacters(text())).toBe('09:00:05.123  WARN: careful\n');
  });
});
