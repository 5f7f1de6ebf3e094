// http.tls: the API and the live feed over HTTPS/WSS verified against the test CA, and the
// certificate reload SIGHUP triggers (`reloadCertificates`): after the files are replaced a new
// connection (HTTPS and SIP TLS) sees the new certificate while an open WSS feed stays open.
import { copyFileSync, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startAppliance, type Appliance } from '../../src/appliance.js';
import { parseConfig } from '../../src/config.js';
import { issueServerCert, testCerts } from '../helpers/certs.js';
import { FakeMoshiServer } from '../helpers/fakeMoshiServer.js';
import { runDir } from '../helpers/paths.js';
import { ROOT } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { start, stopAll, type Managed } from '../helpers/processes.js';

const TOKEN = 'https-test-token-0123456789';
let app: Appliance | undefined;
let fake: FakeMoshiServer | undefined;
afterAll(async () => {
  await app?.stop(5000);
  await fake?.stop();
  await stopAll();
});

/** GET over HTTPS trusting `ca`: status and the SHA-256 fingerprint of the certificate served. */
function get(url: string, ca: Buffer): Promise<{ status: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

const fingerprintOf = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

/** The sipscribe process on `http`, with a UDP SIP listener and storage in `dir`, until it logs that it started. */
async function startProcess(name: string, dir: string, http: Record<string, unknown>): Promise<Managed> {
  const cfgFile = join(dir, 'config.json');
  writeFileSync(
    cfgFile,
    JSON.stringify({
      sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: await freePort() }] },
      http,
      storage: { dir: join(dir, 'data') },
    }),
  );
  const proc = start(name, process.execPath, [join(ROOT, 'bin', 'sipscribe.js'), '--config', cfgFile], {
    cwd: dir,
  });
  // The signal handlers are installed right after this line is logged (HTTP answers before).
  await expect.poll(() => proc.output(), { timeout: 60_000, interval: 100 }).toContain('sipscribe started');
  return proc;
}

describe('HTTPS and certificate reload', () => {
  it('serves the API and wss:// live feed, and a reload gives new connections the new certificate', async () => {
    const certs = await testCerts();
    const dir = runDir('https');
    const ca = readFileSync(certs.caCert);
    const files = { certFile: join(dir, 'http.crt'), keyFile: join(dir, 'http.key') };
    const sipFiles = { certFile: join(dir, 'sip.crt'), keyFile: join(dir, 'sip.key') };
    for (const f of [files, sipFiles]) {
      copyFileSync(certs.serverCert, f.certFile);
      copyFileSync(certs.serverKey, f.keyFile);
    }
    fake = await FakeMoshiServer.start({
      tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
    });
    const httpPort = await freePort();
    const sipPort = await freePort();
    const rtpMin = await freePort('127.0.0.1', 8);
    const config = parseConfig({
      sip: {
        listen: [
          { transport: 'udp', host: '127.0.0.1', port: sipPort },
          { transport: 'tls', host: '127.0.0.1', port: sipPort, ...sipFiles },
        ],
      },
      rtp: { host: '127.0.0.1', portMin: rtpMin, portMax: rtpMin + 7 },
      stt: { servers: [{ url: fake.url, tls: { caFile: certs.caCert } }] },
      storage: { dir: join(dir, 'data') },
      http: { host: '127.0.0.1', port: httpPort, token: TOKEN, tls: files },
    });
    const logger = pino({ level: 'debug' }, createWriteStream(join(dir, 'sipscribe.log')));
    app = await startAppliance(config, logger, { consoleOut: { write: () => true, isTTY: false } });
    const base = `https://127.0.0.1:${httpPort}`;
    const first = fingerprintOf(certs.serverCert);

    // HTTPS, verified against the test CA; without it the client refuses the certificate.
    expect(await get(`${base}/api/calls`, ca)).toEqual({ status: 200, fingerprint: first });
    await expect(get(`${base}/health`, Buffer.from(''))).rejects.toThrow();
    // /ready probes the wss:// STT server through its caFile.
    expect((await get(`${base}/ready`, ca)).status).toBe(200);

    // The live feed over wss://, verified, kept open across the reload.
    const ws = new WebSocket(`wss://127.0.0.1:${httpPort}/api/live`, {
      ca,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const events: { type: string }[] = [];
    ws.on('message', (d: Buffer) => events.push(JSON.parse(d.toString('utf8')) as { type: string }));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let closed = false;
    ws.once('close', () => {
      closed = true;
    });

    // A renewal: a second certificate from the same CA replaces both servers' files.
    const renewed = await issueServerCert(certs, dir, 'renewed', 'renewed.localhost');
    const second = fingerprintOf(renewed.cert);
    expect(second).not.toBe(first);
    for (const f of [files, sipFiles]) {
      copyFileSync(renewed.cert, f.certFile);
      copyFileSync(renewed.key, f.keyFile);
    }
    const result = app.reloadCertificates();
    expect(result.failed).toEqual([]);
    expect(result.reloaded.map((r) => [r.where, r.fingerprint256])).toEqual([
      ['sip.listen[1]', second],
      ['http.tls', second],
    ]);

    expect(await get(`${base}/api/calls`, ca)).toEqual({ status: 200, fingerprint: second });
    const sip = connect({ host: '127.0.0.1', port: sipPort, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      sip.once('secureConnect', () => resolve());
      sip.once('error', reject);
    });
    expect(sip.getPeerCertificate().fingerprint256).toBe(second);
    sip.destroy();

    // The feed opened before the reload is still open and still delivers events.
    expect(closed).toBe(false);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const { calls } = app.endpoint;
    const { id } = calls.create({
      sipCallId: 'https-1@127.0.0.1',
      from: 'sip:alice@127.0.0.1',
      to: 'sip:t@127.0.0.1',
      account: null,
      transport: 'tls',
      codec: 'PCMU',
      source: '127.0.0.1:5070',
    });
    calls.transition(id, 'ringing');
    calls.transition(id, 'answered');
    await expect.poll(() => events.map((e) => e.type), { timeout: 10_000 }).toContain('call.started');
    calls.transition(id, 'ending', { reason: 'bye-remote' });
    calls.transition(id, 'ended');

    // A broken renewal (a key that does not match) keeps the certificate served, and is reported.
    writeFileSync(files.keyFile, readFileSync(certs.serverKey));
    const bad = app.reloadCertificates();
    expect(bad.failed.map((f) => f.where)).toEqual(['http.tls']);
    expect(bad.failed[0]?.error).toContain('http.tls.keyFile');
    expect(await get(`${base}/api/calls`, ca)).toEqual({ status: 200, fingerprint: second });
    ws.terminate();
  }, 90_000);

  it('the sipscribe process re-reads its certificates on SIGHUP and keeps running', async () => {
    const certs = await testCerts();
    const dir = runDir('https-sighup');
    const ca = readFileSync(certs.caCert);
    const files = { certFile: join(dir, 'http.crt'), keyFile: join(dir, 'http.key') };
    copyFileSync(certs.serverCert, files.certFile);
    copyFileSync(certs.serverKey, files.keyFile);
    const httpPort = await freePort();
    const proc = await startProcess('sipscribe-sighup', dir, {
      host: '127.0.0.1',
      port: httpPort,
      token: TOKEN,
      tls: files,
    });
    const base = `https://127.0.0.1:${httpPort}`;
    expect(await get(`${base}/health`, ca)).toEqual({
      status: 200,
      fingerprint: fingerprintOf(certs.serverCert),
    });

    const renewed = await issueServerCert(certs, dir, 'renewed', 'renewed.localhost');
    copyFileSync(renewed.cert, files.certFile);
    copyFileSync(renewed.key, files.keyFile);
    proc.child.kill('SIGHUP');
    await expect
      .poll(() => proc.output(), { timeout: 30_000, interval: 100 })
      .toContain('tls certificate reloaded: new connections get it');
    expect(await get(`${base}/health`, ca)).toEqual({
      status: 200,
      fingerprint: fingerprintOf(renewed.cert),
    });
    expect(proc.child.exitCode).toBeNull(); // SIGHUP does not stop it
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 90_000);

  it('warns at start when a token guards a non-loopback HTTP server without TLS', async () => {
    const dir = runDir('https-plain-warning');
    // Every interface, plain HTTP (the test only connects over 127.0.0.1).
    const proc = await startProcess('sipscribe-plain', dir, {
      host: '0.0.0.0',
      port: await freePort(),
      token: TOKEN,
    });
    const warnings = proc
      .output()
      .split('\n')
      .filter((l) => l.includes('served without TLS on a non-loopback address'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40 });
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 90_000);
});
