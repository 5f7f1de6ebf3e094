// The `sipscribe` command as a user runs it: starts, answers /health, stops cleanly on SIGTERM;
// a bad configuration is refused with the JSON path and exit code 2.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeMoshiServer } from '../helpers/fakeMoshiServer.js';
import { ROOT, runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { run, start, stopAll } from '../helpers/processes.js';

const fakes: FakeMoshiServer[] = [];
afterAll(async () => {
  await stopAll();
  for (const f of fakes) {
    await f.stop();
  }
});

/** One second of silence, 16 kHz PCM16 mono. */
function silenceWav(): Buffer {
  const data = Buffer.alloc(32000);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(32000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

const bin = join(ROOT, 'bin', 'sipscribe.js');

async function waitForHttp(url: string, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > deadline) {
        throw err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('sipscribe CLI', () => {
  it('starts with --config, serves /health and exits 0 on SIGTERM', async () => {
    const dir = runDir('cli');
    const httpPort = await freePort();
    const sipPort = await freePort();
    const cfgFile = join(dir, 'config.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort }] },
        http: { host: '127.0.0.1', port: httpPort },
        storage: { dir: join(dir, 'data') },
        // Credentials inside URLs: the start-up log must not show them.
        stt: {
          servers: [{ url: 'ws://stt-user:Url-S3cret-1@127.0.0.1:9/api/asr-streaming?auth_id=Url-S3cret-2' }],
        },
        webhooks: [{ url: 'https://hook:Url-S3cret-3@127.0.0.1:9/in?token=Url-S3cret-4', secret: 'whsec' }],
      }),
    );
    const proc = start('sipscribe', process.execPath, [bin, '--config', cfgFile], { cwd: dir });
    const res = await waitForHttp(`http://127.0.0.1:${httpPort}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('sipscribe started');
    expect(proc.output()).toContain('ws://***@127.0.0.1:9/api/asr-streaming?auth_id=***');
    expect(proc.output()).not.toContain('Url-S3cret');
  });

  it('refuses a bad configuration with the JSON path and exit code 2', async () => {
    const dir = runDir('cli-bad');
    const cfgFile = join(dir, 'config.json');
    writeFileSync(cfgFile, JSON.stringify({ http: { port: 'eighty' } }));
    const { code, output } = await run('sipscribe', process.execPath, [
      bin,
      '--config',
      cfgFile,
      'check-config',
    ]);
    expect(code).toBe(2);
    expect(output).toMatch(/configuration error: http\.port/);
  });

  it('refuses an unknown key (a typo) with its path and the nearest valid name, exit code 2', async () => {
    const dir = runDir('cli-typo');
    const cfgFile = join(dir, 'config.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({ sip: { inbound: { allowfrom: ['10.0.0.0/8'] } }, http: { tokn: 'x'.repeat(20) } }),
    );
    const { code, output } = await run('sipscribe', process.execPath, [
      bin,
      '--config',
      cfgFile,
      'check-config',
    ]);
    expect(code, output).toBe(2);
    expect(output).toContain(
      'configuration error: sip.inbound.allowfrom: unknown key (did you mean "allowFrom"?)',
    );
    expect(output).toContain('also: http.tokn: unknown key (did you mean "token"?)');
  });

  it('check-config masks credentials inside URLs (SIP, WebSocket, webhook userinfo and query)', async () => {
    const dir = runDir('cli-check-urls');
    const cfgFile = join(dir, 'config.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        sip: {
          accounts: [
            {
              registrar: 'sip:1001:Url-S3cret-1@pbx.example.com;transport=udp',
              username: '1001',
              outboundProxy: 'sip:proxy:Url-S3cret-2@proxy.example.com',
            },
          ],
        },
        stt: {
          servers: [{ url: 'wss://u:Url-S3cret-3@stt.example.com/api/asr-streaming?auth_id=Url-S3cret-4' }],
        },
        webhooks: [
          { url: 'https://Url-S3cret-5@hooks.example.com/in?token=Url-S3cret-6&x=1', secret: 'whsec' },
        ],
      }),
    );
    const { code, output } = await run('sipscribe', process.execPath, [
      bin,
      '--config',
      cfgFile,
      'check-config',
    ]);
    expect(code, output).toBe(0);
    expect(output).not.toContain('Url-S3cret');
    expect(JSON.parse(output.slice(output.indexOf('{')))).toMatchObject({
      sip: {
        accounts: [
          {
            registrar: 'sip:1001:***@pbx.example.com;transport=udp',
            outboundProxy: 'sip:proxy:***@proxy.example.com',
          },
        ],
      },
      stt: { servers: [{ url: 'wss://***@stt.example.com/api/asr-streaming?auth_id=***' }] },
      webhooks: [{ url: 'https://***@hooks.example.com/in?token=***&x=***' }],
    });
  });

  it('dial --password and transcribe --api-key take env:NAME as the configuration does', async () => {
    const dir = runDir('cli-env');
    const wav = join(dir, 'silence.wav');
    writeFileSync(wav, silenceWav());
    const unset = 'SIPSCRIBE_TEST_UNSET_VARIABLE';
    const dial = await run('dial', process.execPath, [
      bin,
      'dial',
      'sip:nobody@127.0.0.1:9',
      '--wav',
      wav,
      '--user',
      'alice',
      '--password',
      `env:${unset}`,
    ]);
    expect(dial.code).toBe(2);
    expect(dial.output).toContain(`--password: environment variable ${unset} is not set`);
    const fake = await FakeMoshiServer.start({ apiKeys: ['Env-Key-1234'] });
    fakes.push(fake);
    const args = [bin, 'transcribe', wav, '--server', fake.url, '--api-key'];
    const missing = await run('transcribe-unset', process.execPath, [...args, `env:${unset}`]);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain(`--api-key: environment variable ${unset} is not set`);
    const ok = await run('transcribe-env', process.execPath, [...args, 'env:SIPSCRIBE_TEST_KEY'], {
      env: { SIPSCRIBE_TEST_KEY: 'Env-Key-1234' },
    });
    expect(ok.code, ok.output).toBe(0);
    expect(fake.authFailures).toBe(0);
  });

  it('check-config prints the effective configuration with secrets masked', async () => {
    const dir = runDir('cli-check');
    const cfgFile = join(dir, 'config.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        sip: { accounts: [{ registrar: 'sip:127.0.0.1', username: 'alice', password: 'hunter2' }] },
      }),
    );
    const { code, output } = await run('sipscribe', process.execPath, [
      bin,
      '--config',
      cfgFile,
      'check-config',
    ]);
    expect(code, output).toBe(0);
    expect(output).not.toContain('hunter2');
    expect(JSON.parse(output.slice(output.indexOf('{')))).toMatchObject({
      sip: { accounts: [{ username: 'alice', password: '***', expires: 300 }] },
    });
  });
});
