import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';
import { parseConfig, maskSecrets } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

describe('config', () => {
  it('runs on built-in defaults with no file', () => {
    const cfg = parseConfig({});
    expect(cfg.sip.listen).toEqual([
      { transport: 'udp', host: '0.0.0.0', port: 5060 },
      { transport: 'tcp', host: '0.0.0.0', port: 5060 },
    ]);
    expect(cfg.sip.accounts).toEqual([]);
    expect(cfg.sip.inbound.maxCalls).toBe(200);
    expect(cfg.rtp).toMatchObject({ portMin: 20000, portMax: 29999, codecs: ['PCMU', 'PCMA'] });
    expect(cfg.stt.servers[0]).toMatchObject({
      url: 'ws://127.0.0.1:8080/api/asr-streaming',
      apiKey: 'public_token',
    });
    expect(cfg.http).toMatchObject({ host: '127.0.0.1', port: 8001 });
    expect(cfg.storage.dir).toBe('./data');
  });

  it('names the JSON path and what was expected', () => {
    const bad = {
      sip: {
        listen: [
          { transport: 'udp', port: 5060 },
          { transport: 'sctp', port: 5060 },
        ],
      },
    };
    let err: unknown;
    try {
      parseConfig(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_ERR_INVALID');
    expect((err as ConfigError).path).toBe('sip.listen[1].transport');
    expect((err as ConfigError).message).toMatch(/udp|tcp|tls/);
  });

  it('rejects an inverted RTP port range', () => {
    expect(() => parseConfig({ rtp: { portMin: 30000, portMax: 20000 } })).toThrow(/rtp\.portMin/);
  });

  it('takes secrets from the environment and masks them when printed', () => {
    const cfg = parseConfig(
      { sip: { accounts: [{ registrar: 'sip:pbx.example.com', username: '1001', password: 'env:SIP_PW' }] } },
      { SIP_PW: 's3cret' },
    );
    expect(cfg.sip.accounts[0]?.password).toBe('s3cret');
    expect(JSON.stringify(maskSecrets(cfg))).not.toContain('s3cret');
    expect(() =>
      parseConfig({ stt: { servers: [{ url: 'ws://x/api/asr-streaming', apiKey: 'env:NOPE' }] } }, {}),
    ).toThrow(/stt\.servers\[0\]\.apiKey: environment variable NOPE is not set/);
  });
});

describe('config: webhooks and the HTTP token', () => {
  it('fills webhook defaults and masks the secret', () => {
    const cfg = parseConfig({ webhooks: [{ url: 'http://127.0.0.1:9000/in', secret: 'whsec' }] });
    expect(cfg.webhooks).toEqual([
      {
        url: 'http://127.0.0.1:9000/in',
        secret: 'whsec',
        events: ['call.started', 'transcript.utterance', 'call.ended'],
        timeoutMs: 10000,
        retry: { minDelayMs: 1000, maxDelayMs: 60000, maxAgeMs: 86400000 },
      },
    ]);
    expect(JSON.stringify(maskSecrets(cfg))).not.toContain('whsec');
  });

  it('rejects a webhook without a secret, a bad event type and a duplicate URL', () => {
    expect(() => parseConfig({ webhooks: [{ url: 'http://x/in', secret: '' }] })).toThrow(
      /webhooks\[0\]\.secret/,
    );
    expect(() =>
      parseConfig({ webhooks: [{ url: 'http://x/in', secret: 's', events: ['call.exploded'] }] }),
    ).toThrow(/webhooks\[0\]\.events\[0\]/);
    expect(() =>
      parseConfig({
        webhooks: [
          { url: 'http://x/in', secret: 's' },
          { url: 'http://x/in', secret: 't' },
        ],
      }),
    ).toThrow(/webhooks\[1\]\.url: http:\/\/x\/in is listed twice/);
  });

  it('refuses an HTTP server beyond loopback without a token', () => {
    expect(() => parseConfig({ http: { host: '0.0.0.0' } })).toThrow(/http\.token: required/);
    expect(parseConfig({ http: { host: '0.0.0.0', token: 't' } }).http.token).toBe('t');
    expect(parseConfig({ http: { host: '127.0.0.2' } }).http.token).toBeUndefined();
    expect(parseConfig({ http: { host: '::1' } }).http.token).toBeUndefined();
  });
});

describe('config.example.json', () => {
  it('is valid and sets every key the schema knows (so it documents them all)', () => {
    const raw = JSON.parse(readFileSync(join(ROOT, 'config.example.json'), 'utf8')) as unknown;
    const env = {
      SIP_PASSWORD: 'x',
      SIPSCRIBE_HTTP_TOKEN: 'y',
      SIPSCRIBE_WEBHOOK_SECRET: 'z',
      SIPSCRIBE_INBOUND_PASSWORD: 'w',
    };
    const parsed = parseConfig(raw, env);
    // Every leaf the schema fills in with defaults must be present in the example itself.
    const keys = (v: unknown, p = ''): string[] =>
      Array.isArray(v)
        ? keys(v[0], `${p}[]`)
        : v !== null && typeof v === 'object'
          ? Object.entries(v).flatMap(([k, x]) => [`${p}.${k}`, ...keys(x, `${p}.${k}`)])
          : [];
    const exampleKeys = new Set(keys(raw));
    const missing = keys(parsed).filter((k) => !exampleKeys.has(k));
    expect(missing).toEqual([]);
  });
});

describe('docker/config.json (the container image default)', () => {
  it('is valid, keeps data in the /data volume and protects the API with a token', () => {
    const raw = JSON.parse(readFileSync(join(ROOT, 'docker', 'config.json'), 'utf8')) as unknown;
    const cfg = parseConfig(raw, { SIPSCRIBE_HTTP_TOKEN: 't0ken' });
    expect(cfg.storage.dir).toBe('/data');
    expect(cfg.http).toMatchObject({ host: '0.0.0.0', port: 8001, token: 't0ken' });
  });
});
