import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HttpServer } from '../../../src/http/server.js';
import { logSink } from '../logSink.js';

const req = (authorization?: string): IncomingMessage =>
  ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;

const TOKEN = 's3cret-s3cret-s3cret';

describe('HttpServer', () => {
  it('refuses to listen beyond loopback without a token', () => {
    const { logger } = logSink();
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      expect(() => new HttpServer({ host, port: 0, logger })).toThrow(
        expect.objectContaining({ code: 'HTTP_ERR_TOKEN_REQUIRED' }),
      );
    }
    expect(() => new HttpServer({ host: '0.0.0.0', port: 0, logger, token: TOKEN })).not.toThrow();
    expect(() => new HttpServer({ host: '127.0.0.1', port: 0, logger })).not.toThrow();
  });

  it('refuses a token shorter than 16 characters, on loopback too', () => {
    const { logger } = logSink();
    for (const [host, token] of [
      ['0.0.0.0', 't'],
      ['127.0.0.1', 'fifteen-chars-x'],
    ] as const) {
      expect(() => new HttpServer({ host, port: 0, logger, token })).toThrow(
        expect.objectContaining({ code: 'HTTP_ERR_TOKEN_TOO_SHORT' }),
      );
    }
    expect(
      () => new HttpServer({ host: '0.0.0.0', port: 0, logger, token: 'sixteen-chars-xx' }),
    ).not.toThrow();
  });

  it('accepts the token as a bearer header, and as access_token only where asked', () => {
    const http = new HttpServer({ host: '127.0.0.1', port: 0, logger: logSink().logger, token: TOKEN });
    const url = (q = ''): URL => new URL(`http://localhost/api/calls${q}`);
    expect(http.authorized(req(`Bearer ${TOKEN}`), url())).toBe(true);
    expect(http.authorized(req(`bearer ${TOKEN}`), url())).toBe(true);
    expect(http.authorized(req(), url(`?access_token=${TOKEN}`))).toBe(false);
    expect(http.authorized(req(), url(`?access_token=${TOKEN}`), { query: true })).toBe(true);
    expect(http.authorized(req(), url())).toBe(false);
    expect(http.authorized(req(`Bearer ${TOKEN.slice(0, -1)}`), url())).toBe(false);
    expect(http.authorized(req('Basic czNjcmV0'), url())).toBe(false);
    expect(http.authorized(req(), url('?access_token='), { query: true })).toBe(false);
    const open = new HttpServer({ host: '127.0.0.1', port: 0, logger: logSink().logger });
    expect(open.authorized(req(), url())).toBe(true);
  });
});
