// The product as a user runs it (`bin/sipscribe.js --config FILE`, its own process): a SIPp call
// is transcribed, then SIGTERM arrives mid-call: the process ends the call through the STT flush
// (BYE to the caller, call.ended with reason "shutdown" and the whole transcript on disk) and
// exits 0.
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/events.js';
import { FakeMoshiServer } from '../helpers/fakeMoshiServer.js';
import { FIXTURES, ROOT, runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { run, start, stopAll } from '../helpers/processes.js';
import { sippCall, waitForListen, type SippResult } from '../helpers/sipp.js';
import { until, wordsSentBy } from './e2eHarness.js';

const fakes: FakeMoshiServer[] = [];
afterAll(async () => {
  for (const f of fakes) {
    await f.stop();
  }
  await stopAll();
});

function events(dataDir: string): CallEvent[] {
  const calls = join(dataDir, 'calls');
  if (!existsSync(calls)) {
    return [];
  }
  return readdirSync(calls)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(calls, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as CallEvent),
    );
}

/**
 * A product process set up for one call: a fake STT, a config file in a run directory, and a way
 * to start `bin/sipscribe.js` on it, call it with SIPp, and wait for its first words.
 */
async function processSetup(name: string) {
  const fake = await FakeMoshiServer.start();
  fakes.push(fake);
  const dir = runDir(name);
  const dataDir = join(dir, 'data');
  const sipPort = await freePort();
  const httpPort = await freePort();
  const rtpMin = await freePort('127.0.0.1', 16);
  const cfgFile = join(dir, 'config.json');
  writeFileSync(
    cfgFile,
    JSON.stringify({
      sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort }] },
      rtp: { host: '127.0.0.1', portMin: rtpMin, portMax: rtpMin + 15 },
      stt: { servers: [{ url: fake.url }], warm: { perServer: 0 } },
      http: { host: '127.0.0.1', port: httpPort },
      storage: { dir: dataDir },
    }),
  );
  const args = [join(ROOT, 'bin', 'sipscribe.js'), '--config', cfgFile];
  const faultArgs = ['--import', join(FIXTURES, 'faults', 'inject.mjs')];
  return {
    fake,
    dir,
    dataDir,
    sipPort,
    base: `http://127.0.0.1:${httpPort}`,
    /** Starts the process and waits until its SIP port listens. */
    launch: async (label: string) => {
      const proc = start(label, process.execPath, args, { cwd: dir });
      await waitForListen(proc, sipPort, 'udp', 30_000);
      return proc;
    },
    /** Starts it with test/fixtures/faults/inject.mjs preloaded, armed with `fault` (SIGUSR2 fires it). */
    launchWithFault: async (label: string, fault: 'rejection' | 'exception') => {
      const proc = start(label, process.execPath, [...faultArgs, ...args], {
        cwd: dir,
        env: { SIPSCRIBE_FAULT: fault },
      });
      await until(() => /"msg":"sipscribe started"/.test(proc.output()), 'sipscribe started');
      return proc;
    },
    /** Starts a 20 s SIPp call; resolves once three words are on disk, with the call's outcome. */
    callUntilWords: async (): Promise<{ sipp: Promise<SippResult> }> => {
      const call = sippCall(`127.0.0.1:${sipPort}`, 'uac_call_pcmu.xml', {
        durationMs: 20_000,
        timeoutS: 25,
      });
      await until(
        () => events(dataDir).filter((e) => e.type === 'transcript.word').length >= 3,
        'the first words',
      );
      return { sipp: call };
    },
  };
}

describe('sipscribe process', () => {
  it('a SIP port in use: exit 1 with a message naming the listener', async () => {
    const dir = runDir('e2e-cli-sip-busy');
    const sipPort = await freePort();
    const busy = createSocket('udp4');
    await new Promise<void>((r) => busy.bind(sipPort, '127.0.0.1', r));
    const cfgFile = join(dir, 'config.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort }] },
        http: { host: '127.0.0.1', port: await freePort() },
        storage: { dir: join(dir, 'data') },
      }),
    );
    const { code, output } = await run('sipscribe', process.execPath, [
      join(ROOT, 'bin', 'sipscribe.js'),
      '--config',
      cfgFile,
    ]);
    busy.close();
    expect(code).toBe(1);
    expect(output).toContain(`SIP cannot listen on udp 127.0.0.1:${sipPort}`);
    expect(output).toContain('SIP_ERR_LISTEN');
  });

  it('SIGTERM during a call: the call ends through the flush, the transcript is kept, exit 0', async () => {
    const { fake, dir, dataDir, launch, callUntilWords } = await processSetup('e2e-cli-sigterm');
    const proc = await launch('sipscribe');
    const { sipp: call } = await callUntilWords();
    proc.child.kill('SIGTERM');
    const exitCode = await proc.exited;
    writeFileSync(join(dir, 'sipscribe.log'), proc.output());
    expect(exitCode).toBe(0);

    const all = events(dataDir);
    const ended = all.find((e): e is Extract<CallEvent, { type: 'call.ended' }> => e.type === 'call.ended');
    expect(ended?.reason).toBe('shutdown');
    const expected = wordsSentBy(fake.admitted[0]!);
    expect(all.filter((e) => e.type === 'transcript.word').map((e) => (e as { text: string }).text)).toEqual(
      expected,
    );
    expect(ended?.transcript.map((u) => u.text).join(' ')).toBe(expected.join(' '));
    const sipp = await call;
    expect(sipp.messages).toMatch(/^BYE sip:/m);
    expect(proc.output()).toMatch(/"msg":"endpoint stopped"/);
  });

  it('SIGKILL during a call: the next start ends the call with the words stored before the crash', async () => {
    const { dir, dataDir, launch, callUntilWords } = await processSetup('e2e-cli-sigkill');
    const first = await launch('sipscribe-crashing');
    const { sipp: call } = await callUntilWords();
    first.child.kill('SIGKILL');
    await first.exited;
    writeFileSync(join(dir, 'sipscribe-1.log'), first.output());
    const before = events(dataDir);
    expect(before.some((e) => e.type === 'call.ended')).toBe(false);
    const stored = before
      .filter((e) => e.type === 'transcript.word')
      .map((e) => (e as { text: string }).text);
    expect(stored.length).toBeGreaterThanOrEqual(3);

    const second = await launch('sipscribe-restarted');
    await until(() => events(dataDir).some((e) => e.type === 'call.ended'), 'call.ended after the restart');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    writeFileSync(join(dir, 'sipscribe-2.log'), second.output());

    const all = events(dataDir);
    // One stream, numbered without a gap across the two runs.
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    const ended = all.at(-1);
    expect(ended?.type).toBe('call.ended');
    if (ended?.type !== 'call.ended') {
      return;
    }
    expect(ended.reason).toBe('error');
    expect(ended.transcript.flatMap((u) => u.words.map((w) => w.text))).toEqual(stored);
    expect(second.output()).toMatch(/closed a call left active by a previous run/);
    // The caller lost its callee mid-call; stopAll() ends SIPp's wait.
    void call.catch(() => undefined);
  });

  it('a promise rejected with no handler (a bug) is logged and counted; the endpoint goes on', async () => {
    const { dir, base, launchWithFault } = await processSetup('e2e-cli-fault-rejection');
    const proc = await launchWithFault('sipscribe-rejection', 'rejection');
    proc.child.kill('SIGUSR2');
    await until(() => /unhandled promise rejection \(a bug\)/.test(proc.output()), 'the rejection logged');
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^sipscribe_internal_errors_total\{kind="unhandled-rejection"\} 1$/m);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    writeFileSync(join(dir, 'sipscribe.log'), proc.output());
  });

  it('an uncaught exception (a bug) mid-call: graceful stop, the transcript kept, exit 1', async () => {
    const { fake, dir, dataDir, launchWithFault, callUntilWords } =
      await processSetup('e2e-cli-fault-exception');
    const proc = await launchWithFault('sipscribe-exception', 'exception');
    const { sipp: call } = await callUntilWords();
    proc.child.kill('SIGUSR2');
    const exitCode = await proc.exited;
    writeFileSync(join(dir, 'sipscribe.log'), proc.output());
    expect(proc.output()).toMatch(/uncaught exception \(a bug\): stopping gracefully/);
    expect(exitCode).toBe(1);
    const all = events(dataDir);
    const ended = all.find((e): e is Extract<CallEvent, { type: 'call.ended' }> => e.type === 'call.ended');
    expect(ended?.reason).toBe('shutdown');
    const expected = wordsSentBy(fake.admitted[0]!);
    expect(ended?.transcript.map((u) => u.text).join(' ')).toBe(expected.join(' '));
    expect((await call).messages).toMatch(/^BYE sip:/m);
  });
});
