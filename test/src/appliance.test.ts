// The appliance's pure helpers: account ids (labels in metrics and call metadata) and the SIP
// listen entries (a TLS listener without files gets the self-signed certificate from storage.dir).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { accountId, listenEntries } from '../../src/appliance.js';
import { parseConfig } from '../../src/config.js';
import { logSink } from './logSink.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    rmSync(d, { recursive: true, force: true });
  }
});

describe('accountId', () => {
  it('is user@registrar host[:port], without scheme, userinfo or URI parameters', () => {
    const cfg = parseConfig({
      sip: {
        accounts: [
          { registrar: 'sip:pbx.example.com;transport=udp', username: '1001' },
          { registrar: 'sips:sip.trunk.example.net:5061', username: '441234567890' },
          { registrar: 'sip:1001:Secr3t@pbx.example.com', username: '1001' },
        ],
      },
    });
    expect(cfg.sip.accounts.map(accountId)).toEqual([
      '1001@pbx.example.com',
      '441234567890@sip.trunk.example.net:5061',
      '1001@pbx.example.com',
    ]);
  });
});

describe('listenEntries', () => {
  it('keeps UDP/TCP entries and TLS entries with files as they are', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipscribe-listen-'));
    dirs.push(dir);
    const cfg = parseConfig({
      sip: {
        listen: [
          { transport: 'udp', host: '127.0.0.1', port: 5060 },
          { transport: 'tls', host: '127.0.0.1', port: 5061, certFile: '/etc/c.pem', keyFile: '/etc/k.pem' },
        ],
      },
      storage: { dir },
    });
    expect(listenEntries(cfg, logSink().logger)).toEqual([
      { transport: 'udp', host: '127.0.0.1', port: 5060 },
      { transport: 'tls', host: '127.0.0.1', port: 5061, certFile: '/etc/c.pem', keyFile: '/etc/k.pem' },
    ]);
    expect(existsSync(join(dir, 'tls'))).toBe(false);
  });

  it('gives a TLS entry without files the self-signed certificate kept in storage.dir/tls', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipscribe-listen-'));
    dirs.push(dir);
    const cfg = parseConfig({
      sip: { listen: [{ transport: 'tls', host: '127.0.0.1', port: 5061 }] },
      storage: { dir },
    });
    const [tls] = listenEntries(cfg, logSink().logger);
    expect(tls?.certFile).toBe(join(dir, 'tls', 'self-signed.crt'));
    expect(tls?.keyFile).toBe(join(dir, 'tls', 'self-signed.key'));
    expect(existsSync(tls?.certFile ?? '')).toBe(true);
  });
});
