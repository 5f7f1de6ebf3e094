// `log.format` as a user meets it: `bin/sipscribe.js` on a pseudo-terminal (util-linux script(1))
// writes readable log lines, through a pipe JSON records; `"format": "json"` keeps JSON on a
// terminal. The process ends by itself: its SIP port is held by the test, so it logs its start,
// fails to listen and exits 1.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runDir } from '../helpers/paths.js';
import { run, stopAll } from '../helpers/processes.js';
import { playCall, startApp, waitFor } from './appHarness.js';

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

describe('log.format and the console sink on a terminal', () => {
  /** An endpoint whose console is a terminal; the transcript lines it prints there. */
  async function withTerminal(
    name: string,
    format: 'auto' | 'json',
  ): Promise<{ lines: string[]; log: string }> {
    const lines: string[] = [];
    const out = { write: (s: string): boolean => lines.push(s) > 0, isTTY: true };
    const app = await startApp(name, { log: { format, transcripts: true } }, { consoleOut: out });
    try {
      playCall(app.endpoint, ['hello there']);
      await app.endpoint.bus.flush();
    } finally {
      await app.endpoint.stop();
    }
    return { lines, log: join(app.dir, 'sipscribe.log') };
  }

  it('auto: readable transcript lines on the terminal', async () => {
    const { lines } = await withTerminal('log-format-console-auto', 'auto');
    expect(lines.join('')).toContain('hello there');
  });

  it('json: transcripts as JSON log records, no terminal lines among them', async () => {
    const { lines, log } = await withTerminal('log-format-console-json', 'json');
    expect(lines).toEqual([]);
    await waitFor(() => readFileSync(log, 'utf8').includes('"text":"hello there"'), 'the utterance record');
  });
});
