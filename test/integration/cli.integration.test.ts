// The `sipscribe` command as a user runs it: starts, answers /health, stops cleanly on SIGTERM;
// a bad configuration is refused with the JSON path and exit code 2.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { run, start, stopAll } from '../helpers/processes.js';

afterAll(stopAll);

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
      }),
    );
    const proc = start('sipscribe', process.execPath, [bin, '--config', cfgFile], { cwd: dir });
    const res = await waitForHttp(`http://127.0.0.1:${httpPort}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
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
