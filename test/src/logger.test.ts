import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, maskUrl } from '../../src/logger.js';

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
    const lines: string[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _enc, cb): void {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const logger = createLogger('info', dest);
    logger.info(
      {
        stt: ['ws://u:K3y@127.0.0.1/api?auth_id=K3y', 'ws://127.0.0.1/api'],
        server: 'wss://stt/api?auth_id=K3y',
        password: 'K3y',
        from: 'sip:alice@127.0.0.1',
      },
      'started',
    );
    const rec = JSON.parse(lines.join('')) as Record<string, unknown>;
    expect(JSON.stringify(rec)).not.toContain('K3y');
    expect(rec).toMatchObject({
      stt: ['ws://***@127.0.0.1/api?auth_id=***', 'ws://127.0.0.1/api'],
      server: 'wss://stt/api?auth_id=***',
      password: '***',
      from: 'sip:alice@127.0.0.1',
    });
  });
});
