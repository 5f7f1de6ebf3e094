import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HttpServer } from '../../../src/http/server.js';
import { logSink } from '../logSink.js';

const req = (authorization?: string): IncomingMessage =>
  ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;

describe('HttpServer', () => {
  it('refuses to listen beyond loopback without a token', () => {
    const { logger } = logSink();
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      expect(() => new HttpServer({ host, port: 0, logger })).toThrow(
        expect.objectContaining({ code: 'HTTP_ERR_TOKEN_REQUIRED' }),
      );
    }
    expect(() => new HttpServer({ host: '0.0.0.0', port: 0, logger, token: 't' })).not.toThrow();
    expect(() => new HttpServer({ host: '127.0.0.1', port: 0, logger })).not.toThrow();
  });

  it('accepts the token as a bearer header or access_token, and nothing else', () => {
    const http = new HttpServer({ host: '127.0.0.1', port: 0, logger: logSink().logger, token: 's3cret' });
    const url = (q = ''): URL => new URL(`http://localhost/api/calls${q}`);
    expect(http.authorized(req('Bearer s3cret'), url())).toBe(true);
    expect(http.authorized(req('bearer s3cret'), url())).toBe(true);
    expect(http.authorized(req(), url('?access_token=s3cret'))).toBe(true);
    expect(http.authorized(req(), url())).toBe(false);
    expect(http.authorized(req('Bearer s3cre'), url())).toBe(false);
    expect(http.authorized(req('Basic czNjcmV0'), url())).toBe(false);
    expect(http.authorized(req(), url('?access_token='))).toBe(false);
    const open = new HttpServer({ host: '127.0.0.1', port: 0, logger: logSink().logger });
    expect(open.authorized(req(), url())).toBe(true);
  });
});
