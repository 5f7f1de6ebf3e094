// `log.format` as a user meets it: `bin/sipscribe.js` on a pseudo-terminal (util-linux script(1))
// writes readable log lines, through a pipe JSON records; `"format": "json"` keeps JSON on a
// terminal. The process ends by itself: its SIP port is held by the test, so it logs its start,
// fails to listen and exits 1.
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runDir } from '../helpers/paths.js';
import { run, stopAll } from '../helpers/processes.js';

const bin = join(ROOT, 'bin', 'sipscribe.js');
let held: Socket;

beforeAll(async () => {
  held = createSocket('udp4');
  await new Promise<void>((r) => held.bind(0, '127.0.0.1', r));
});
afterAll(async () => {
  held.close();
  await stopAll();
});

function config(name: string, format?: 'json'): string {
  const dir = runDir(name);
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: held.address().port }] },
      http: { host: '127.0.0.1', port: 0 },
      storage: { dir: join(dir, 'data') },
      ...(format ? { log: { format } } : {}),
    }),
  );
  return file;
}

/** Runs the CLI with a pseudo-terminal as its stdout and stderr; the terminal's text, colours removed. */
async function onTerminal(cfg: string): Promise<{ code: number | null; text: string }> {
  const cmd = `exec ${process.execPath} ${bin} --config ${cfg}`;
  const { code, output } = await run('script', 'script', ['-qefc', cmd, '/dev/null'], { timeoutMs: 90_000 });
  return { code, text: stripVTControlCharacters(output).replace(/\r/g, '') };
}

describe('log.format', () => {
  it('auto: readable lines on a terminal', async () => {
    const cfg = config('log-format-tty');
    const { code, text } = await onTerminal(cfg);
    expect(code, text).toBe(1);
    expect(text).toMatch(
      new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} {2}INFO: sipscribe starting config=${cfg}$`, 'm'),
    );
    expect(text).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} {2}INFO: http server listening http=http:\/\/127\.0\.0\.1:\d+ /m,
    );
    expect(text).not.toContain('"level"');
  });

  it('auto: JSON records through a pipe', async () => {
    const cfg = config('log-format-pipe');
    const { code, output } = await run('sipscribe', process.execPath, [bin, '--config', cfg], {
      timeoutMs: 90_000,
    });
    expect(code, output).toBe(1);
    const records = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records[0]).toMatchObject({ level: 30, msg: 'sipscribe starting', config: cfg });
  });

  it('json: JSON records on a terminal too', async () => {
    const cfg = config('log-format-tty-json', 'json');
    const { code, text } = await onTerminal(cfg);
    expect(code, text).toBe(1);
    const first = text.split('\n').find((l) => l.startsWith('{'));
    expect(JSON.parse(first ?? 'null')).toMatchObject({ level: 30, msg: 'sipscribe starting' });
  });
});
