import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSelfSigned } from '../../src/tls/selfSigned.js';
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
    expect(cfg.rtp).toMatchObject({
      portMin: 20000,
      portMax: 29999,
      codecs: ['PCMU', 'PCMA'],
      threads: 'auto',
    });
    expect(cfg.stt.servers[0]).toMatchObject({
      url: 'ws://127.0.0.1:8080/api/asr-streaming',
      apiKey: 'public_token',
    });
    expect(cfg.http).toMatchObject({ host: '127.0.0.1', port: 8001 });
    expect(cfg.storage.dir).toBe('./data');
  });

  it('stt.warm: two Ready connections per server by default, 0 turns them off, replaced before 20 s', () => {
    expect(parseConfig({}).stt.warm).toEqual({ perServer: 2, maxIdleMs: 15_000 });
    expect(parseConfig({ stt: { warm: { perServer: 0 } } }).stt.warm).toEqual({
      perServer: 0,
      maxIdleMs: 15_000,
    });
    // moshi-server closes a stream with no frame for 20 s: a warm connection must be replaced before.
    expect(() => parseConfig({ stt: { warm: { maxIdleMs: 20_000 } } })).toThrow(/stt\.warm\.maxIdleMs/);
    expect(() => parseConfig({ stt: { warm: { perServer: -1 } } })).toThrow(/stt\.warm\.perServer/);
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
    expect(parseConfig({ rtp: { threads: 0 } }).rtp.threads).toBe(0);
    expect(() => parseConfig({ rtp: { threads: 65 } })).toThrow(/rtp\.threads/);
    expect(() => parseConfig({ rtp: { threads: 'many' } })).toThrow(/rtp\.threads/);
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

describe('config: unknown keys', () => {
  const fails = (raw: unknown): ConfigError => {
    try {
      parseConfig(raw, { S: 'x' });
    } catch (e) {
      return e as ConfigError;
    }
    throw new Error('parsed');
  };

  it.each([
    [{ sip: { inbound: { allowfrom: ['10.0.0.0/8'] } } }, 'sip.inbound.allowfrom', 'allowFrom'],
    [{ http: { tokn: 'abcdefghijklmnopq' } }, 'http.tokn', 'token'],
    [{ htpp: { port: 8001 } }, 'htpp', 'http'],
    [{ sip: { listen: [{ transport: 'udp', port: 5060, hots: '::' }] } }, 'sip.listen[0].hots', 'host'],
    [{ stt: { servers: [{ url: 'ws://x/a', apikey: 'k' }] } }, 'stt.servers[0].apikey', 'apiKey'],
    [
      { webhooks: [{ url: 'http://x/in', secret: 'env:S', retry: { maxDelay: 5 } }] },
      'webhooks[0].retry.maxDelay',
      'maxDelayMs',
    ],
    [{ log: { lvl: 'debug' } }, 'log.lvl', 'level'],
  ])('%j: an error at %s suggesting %s', (raw, path, suggestion) => {
    const err = fails(raw);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.path).toBe(path);
    expect(err.message).toBe(`${path}: unknown key (did you mean "${suggestion}"?)`);
  });

  it('names every equally close name', () => {
    expect(fails({ htp: {} }).message).toBe('htp: unknown key (did you mean "rtp" or "http"?)');
  });

  it('lists the valid names when none is close, and reports every unknown key', () => {
    const err = fails({ storage: { zzzzzzzz: 1 }, http: { port: 8001, xyz: 1 } });
    expect(err.path).toBe('storage.zzzzzzzz');
    expect(err.message).toBe(
      'storage.zzzzzzzz: unknown key (valid here: dir, url, instanceId, recordAudio, retentionDays, pendingMaxBytes, writeBatchMs, writeBatchRows)',
    );
    expect(err.problems).toEqual([
      'storage.zzzzzzzz: unknown key (valid here: dir, url, instanceId, recordAudio, retentionDays, pendingMaxBytes, writeBatchMs, writeBatchRows)',
      expect.stringMatching(/^http\.xyz: unknown key \(valid here: host, port, /),
    ]);
  });
});

describe('config: log.transcripts', () => {
  it('defaults to true when stdout is a terminal and false otherwise; an explicit value wins', () => {
    const was = process.stdout.isTTY;
    try {
      process.stdout.isTTY = true;
      expect(parseConfig({}).log.transcripts).toBe(true);
      expect(parseConfig({ log: { transcripts: false } }).log.transcripts).toBe(false);
      process.stdout.isTTY = false;
      expect(parseConfig({}).log.transcripts).toBe(false);
      expect(parseConfig({ log: { transcripts: true } }).log.transcripts).toBe(true);
    } finally {
      process.stdout.isTTY = was;
    }
    expect(() => parseConfig({ log: { transcripts: 'yes' } })).toThrow(/log\.transcripts/);
  });
});

describe('config: log.format', () => {
  it('defaults to auto; json and pretty are taken; anything else is refused with its path', () => {
    expect(parseConfig({}).log.format).toBe('auto');
    expect(parseConfig({ log: { format: 'json' } }).log.format).toBe('json');
    expect(parseConfig({ log: { format: 'pretty' } }).log.format).toBe('pretty');
    expect(() => parseConfig({ log: { format: 'text' } })).toThrow(/log\.format/);
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
    const token = 'a-token-of-16-ch';
    expect(parseConfig({ http: { host: '0.0.0.0', token } }).http.token).toBe(token);
    expect(parseConfig({ http: { host: '127.0.0.2' } }).http.token).toBeUndefined();
    expect(parseConfig({ http: { host: '::1' } }).http.token).toBeUndefined();
  });

  it('refuses a token shorter than 16 characters, also from the environment', () => {
    expect(() => parseConfig({ http: { token: 'short-token' } })).toThrow(
      /http\.token: at least 16 characters/,
    );
    expect(() => parseConfig({ http: { token: 'env:T' } }, { T: '123456789012345' })).toThrow(/http\.token/);
    expect(parseConfig({ http: { token: 'env:T' } }, { T: '1234567890123456' }).http.token).toBe(
      '1234567890123456',
    );
  });

  it('takes http.allowedHosts (default none)', () => {
    expect(parseConfig({}).http.allowedHosts).toEqual([]);
    expect(parseConfig({ http: { allowedHosts: ['transcribe.example.com'] } }).http.allowedHosts).toEqual([
      'transcribe.example.com',
    ]);
    expect(() => parseConfig({ http: { allowedHosts: [''] } })).toThrow(/http\.allowedHosts\[0\]/);
  });
});

describe('config.example.json', () => {
  it('is valid and sets every key the schema knows (so it documents them all)', () => {
    const text = readFileSync(join(ROOT, 'config.example.json'), 'utf8');
    // The example's certificate paths, pointed at real files (they are read and checked).
    const dir = mkdtempSync(join(tmpdir(), 'sipscribe-example-'));
    const { cert, key } = createSelfSigned();
    writeFileSync(join(dir, 'c.crt'), cert);
    writeFileSync(join(dir, 'c.key'), key);
    const raw = JSON.parse(
      text
        .replace('/etc/sipscribe/https.crt', join(dir, 'c.crt'))
        .replace('/etc/sipscribe/https.key', join(dir, 'c.key'))
        .replace('/etc/sipscribe/private-ca.crt', join(dir, 'c.crt')),
    ) as unknown;
    const env = {
      SIPSCRIBE_STT_KEY: 'k',
      SIP_PASSWORD: 'x',
      SIPSCRIBE_HTTP_TOKEN: 'y'.repeat(32),
      SIPSCRIBE_WEBHOOK_SECRET: 'z',
      SIPSCRIBE_INBOUND_PASSWORD: 'w',
      TWILIO_AUTH_TOKEN: 't',
      SIPSCRIBE_FS_TOKEN: 'f'.repeat(16),
      SIPSCRIBE_DATABASE_URL: 'postgres://sipscribe:pw@db.example.com:5432/sipscribe',
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
    const cfg = parseConfig(raw, { SIPSCRIBE_HTTP_TOKEN: 't0ken-t0ken-t0ken' });
    expect(cfg.storage.dir).toBe('/data');
    expect(cfg.http).toMatchObject({ host: '0.0.0.0', port: 8001, token: 't0ken-t0ken-t0ken' });
  });
});

describe('durations given to timers', () => {
  // Node fires a setTimeout above 2^31−1 ms (about 24.8 days) after 1 ms: a setting must not
  // be able to ask for one.
  it.each([
    [{ rtp: { timeoutMs: 2 ** 31 } }, /rtp\.timeoutMs/],
    [{ sip: { timers: { t1: 2 ** 31 } } }, /sip\.timers\.t1/],
    [{ sip: { sessionTimer: { minSE: 7201 } } }, /sip\.sessionTimer\.minSE/],
    [{ storage: { retentionDays: 100_000 } }, /storage\.retentionDays/],
    [
      { webhooks: [{ url: 'http://127.0.0.1:9/x', secret: 's', retry: { maxDelayMs: 2 ** 31 } }] },
      /webhooks\.0\.retry\.maxDelayMs|webhooks\[0\]\.retry\.maxDelayMs/,
    ],
  ])('refuses %j', (raw, path) => {
    expect(() => parseConfig(raw)).toThrow(path);
  });
});

describe('storage.url', () => {
  it('is absent by default (SQLite in storage.dir); a postgres URL may come from the environment', () => {
    expect(parseConfig({}).storage.url).toBeUndefined();
    const url = 'postgres://sipscribe:s3cret@db.example.com:5432/sipscribe';
    const cfg = parseConfig({ storage: { url: 'env:DB_URL', instanceId: 'host-a' } }, { DB_URL: url });
    expect(cfg.storage).toMatchObject({ url, instanceId: 'host-a' });
    expect(JSON.stringify(maskSecrets(cfg))).not.toContain('s3cret');
    expect(parseConfig({ storage: { url: 'postgresql://db/x' } }).storage.url).toBe('postgresql://db/x');
  });

  it.each([
    [{ storage: { url: 'mysql://db/x' } }, /storage\.url: a postgres:\/\/ or postgresql:\/\/ URL/],
    [{ storage: { url: 'env:NOPE' } }, /storage\.url: environment variable NOPE is not set/],
    [{ storage: { instanceId: 'a b' } }, /storage\.instanceId/],
    [{ storage: { instanceId: '' } }, /storage\.instanceId/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseConfig(raw, {})).toThrow(message);
  });
});

describe('sip.siprec', () => {
  it('is off by default and can be turned on', () => {
    expect(parseConfig({}).sip.siprec).toEqual({ enabled: false });
    expect(parseConfig({ sip: { siprec: { enabled: true } } }).sip.siprec.enabled).toBe(true);
  });

  it('refuses a wrong type or an unknown key', () => {
    expect(() => parseConfig({ sip: { siprec: { enabled: 'yes' } } })).toThrow(/sip\.siprec\.enabled/);
    expect(() => parseConfig({ sip: { siprec: { enable: true } } })).toThrow(/sip\.siprec\.enable/);
  });
});

describe('TLS keys (http.tls, stt.servers[].tls)', () => {
  const problem = (raw: unknown): string => {
    try {
      parseConfig(raw, {});
    } catch (err) {
      return (err as ConfigError).message;
    }
    return 'no error';
  };

  it('names the key and the file when a file is missing, not PEM, or the key does not match', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipscribe-tlskeys-'));
    const a = createSelfSigned();
    const b = createSelfSigned();
    writeFileSync(join(dir, 'a.crt'), a.cert);
    writeFileSync(join(dir, 'b.key'), b.key);
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
    const missing = join(dir, 'none.crt');
    expect(problem({ http: { tls: { certFile: missing, keyFile: join(dir, 'b.key') } } })).toBe(
      `http.tls.certFile: cannot read ${missing}: no such file`,
    );
    expect(problem({ http: { tls: { certFile: join(dir, 'a.crt'), keyFile: join(dir, 'b.key') } } })).toMatch(
      /^http\.tls\.keyFile: .*b\.key is not the private key of .*a\.crt/,
    );
    expect(
      problem({
        stt: {
          servers: [{ url: 'wss://stt.example/api/asr-streaming', tls: { caFile: join(dir, 'junk.pem') } }],
        },
      }),
    ).toBe(`stt.servers[0].tls.caFile: ${join(dir, 'junk.pem')} holds no PEM certificate`);
  });

  it('refuses tls on a ws:// STT URL and unknown keys under tls', () => {
    expect(
      problem({
        stt: { servers: [{ url: 'ws://127.0.0.1:8080/api/asr-streaming', tls: { verify: false } }] },
      }),
    ).toBe('stt.servers[0].tls: applies to wss:// URLs only (url is ws://127.0.0.1:8080/api/asr-streaming)');
    expect(problem({ http: { tls: { certFile: 'a', keyfile: 'b' } } })).toMatch(
      /^http\.tls\.keyfile: unknown key/,
    );
  });
});
