// `sipscribe dial` (the product's own UAC + RTP session as a test caller) against sipscribe itself
// and against a SIPp callee, and `sipscribe transcribe` on an 8 kHz file (the product's WAV reader
// and resampler). The audio is the fake STT's tone "speech" (test/helpers/fakeMoshiServer.ts),
// written at 24 kHz and converted to 8 kHz by sox, so the expected words come from the script.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transcribeFromCli } from '../../src/audio/transcribeCommand.js';
import { FakeMoshiServer } from '../helpers/fakeMoshiServer.js';
import { cliInProcess as cli } from '../helpers/cliInProcess.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { sippServer } from '../helpers/sipp.js';
import {
  dbRows,
  getJson,
  isSubsequence,
  scriptWav8k,
  startE2e,
  until,
  wordsSentBy,
  type E2e,
} from './e2eHarness.js';

const SCRIPT = ['hello', 'alice', 'tuesday', 'morning'];

const envs: E2e[] = [];
const fakes: FakeMoshiServer[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  for (const f of fakes) {
    await f.stop();
  }
  await stopAll();
});

let wav8k = '';
beforeAll(async () => {
  wav8k = await scriptWav8k(runDir('e2e-dial-audio'), SCRIPT);
});

async function dialConfig(name: string): Promise<string> {
  const min = await freePort('127.0.0.1', 16);
  const file = join(runDir(name), 'dial.json');
  writeFileSync(
    file,
    JSON.stringify({ rtp: { host: '127.0.0.1', portMin: min, portMax: min + 15 }, log: { level: 'warn' } }),
  );
  return file;
}

describe('sipscribe dial', () => {
  it('calls sipscribe itself: the played words come out as the transcript', async () => {
    const e2e = await startE2e('e2e-dial-self', {}, { webhook: false, live: false });
    envs.push(e2e);
    const cfg = await dialConfig('e2e-dial-self-cli');
    const r = await cli([
      '--config',
      cfg,
      'dial',
      `sip:alice@127.0.0.1:${e2e.sipPort}`,
      '--wav',
      wav8k,
      '--tail',
      '800',
    ]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/call answered \(PCMU\)/);
    const call = await until(async () => {
      const { calls } = await getJson<{ calls: { id: string; state: string }[] }>(`${e2e.base}/api/calls`);
      return calls[0]?.state === 'ended' ? calls[0] : undefined;
    }, 'the call to end');
    await e2e.app.endpoint.bus.flush();
    const words = dbRows<{ text: string }>(
      e2e.storageDir,
      'SELECT text FROM words WHERE call_id = ? ORDER BY seq',
      call.id,
    ).map((w) => w.text);
    expect(words).toEqual(wordsSentBy(e2e.fake.admitted[0]!));
    // The script's words, in order (a frame straddling a word's edge may add a short extra word).
    expect(isSubsequence(SCRIPT, words), words.join(' ')).toBe(true);
    const [row] = dbRows<{ end_reason: string }>(
      e2e.storageDir,
      'SELECT end_reason FROM calls WHERE id = ?',
      call.id,
    );
    expect(row?.end_reason).toBe('bye-remote');
  });

  it('calls a SIPp callee: answered, audio played, we hang up (exit 0)', async () => {
    const uas = await sippServer('uas.xml', { calls: 1 });
    const cfg = await dialConfig('e2e-dial-sipp-cli');
    const r = await cli([
      '--config',
      cfg,
      'dial',
      `sip:service@127.0.0.1:${uas.port}`,
      '--wav',
      wav8k,
      '--tail',
      '0',
    ]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/we hung up/);
    const result = await uas.done();
    expect(result.code, result.output).toBe(0);
    expect(result.messages).toMatch(/^BYE sip:/m);
  });

  it('answers a digest challenge to the INVITE with --user/--password (SIPp verifyauth)', async () => {
    const keys = ['-key', 'realm', 'sipp-lab', '-key', 'user', 'alice', '-key', 'pass', 'alice-secret'];
    const uas = await sippServer('uas_auth.xml', { calls: 1, extraArgs: keys });
    const cfg = await dialConfig('e2e-dial-auth-cli');
    const target = `sip:service@127.0.0.1:${uas.port}`;
    const args = ['--config', cfg, 'dial', target, '--wav', wav8k, '--tail', '0'];
    const r = await cli([...args, '--user', 'alice', '--password', 'alice-secret']);
    expect(r.code, r.out).toBe(0);
    const result = await uas.done();
    expect(result.code, result.output).toBe(0);
    expect(result.messages).toMatch(/^Authorization: Digest .*username="alice"/m);
    expect(result.messages).toMatch(/^BYE sip:/m);

    // A wrong password: SIPp's own digest check refuses it with 403, and dial says so.
    const strict = await sippServer('uas_auth.xml', { calls: 1, extraArgs: keys });
    const bad = await cli([
      ...args.map((a) => (a === target ? `sip:service@127.0.0.1:${strict.port}` : a)),
      '--user',
      'alice',
      '--password',
      'WRONG',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/call failed: SIP 403/);
    await strict.done();
  });

  it('exits 1 with the SIP status when the call is refused', async () => {
    // sipscribe with no reachable STT server and stt.whenFull "reject" refuses calls with 503.
    const deadPort = await freePort();
    const e2e = await startE2e(
      'e2e-dial-refused',
      { stt: { servers: [{ url: `ws://127.0.0.1:${deadPort}/api/asr-streaming` }], whenFull: 'reject' } },
      { webhook: false, live: false },
    );
    envs.push(e2e);
    const cfg = await dialConfig('e2e-dial-refused-cli');
    const r = await cli(['--config', cfg, 'dial', `sip:alice@127.0.0.1:${e2e.sipPort}`, '--wav', wav8k]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/call failed: SIP 503/);
  });
});

describe('sipscribe transcribe', () => {
  it('reads an 8 kHz WAV through the product reader and resampler', async () => {
    const fake = await FakeMoshiServer.start();
    fakes.push(fake);
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb): void {
        out += chunk.toString('utf8');
        cb();
      },
    });
    const code = await transcribeFromCli(wav8k, { server: fake.url }, undefined, { out: sink, err: sink });
    expect(code, out).toBe(0);
    const said = wordsSentBy(fake.admitted[0]!);
    expect(said).toEqual(SCRIPT);
    for (const w of SCRIPT) {
      expect(out).toContain(w);
    }
  });
});
