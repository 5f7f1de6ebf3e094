// A second softphone beside baresip: linphone's console client (Debian linphone-cli, `linphonec`)
// dials sipscribe over UDP, TCP and TLS with no sound card ("soundcard use files": a WAV of the
// fake STT's tone "speech" is its microphone), puts the call on hold (`pause`: re-INVITE with
// a=sendonly) and takes it off hold (`resume`: re-INVITE with a=sendrecv) in the silence between
// two halves of the script. Over UDP linphone hangs up; over TCP and TLS sipscribe does, so that
// our BYE must find linphone through the dialog's next hop (its Contact, over the connection it
// opened). Judged on what sipscribe delivers: one call, ended by the expected BYE, the transcript
// exactly the words the fake sent, the script's words in order (nothing lost across the hold).
// NOTE: who hangs up alternates by transport rather than doubling the (slow) runs.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCerts } from '../helpers/certs.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { run, stopAll } from '../helpers/processes.js';
import type { CallEvent } from '../../src/events.js';
import { getJson, isSubsequence, scriptWav8k, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';

type Transport = 'udp' | 'tcp' | 'tls';

const BEFORE_HOLD = ['my', 'name', 'is', 'alice'];
const AFTER_HOLD = ['book', 'an', 'appointment', 'please'];
/** Seconds of silence between the halves: the hold and the resume happen in it. */
const GAP_S = 4;

/** A running linphonec, driven through its console (stdin) and read from its output. */
interface Linphonec {
  /** linphonec's log, with its SIP trace. */
  readonly logFile: string;
  send(command: string): void;
  output(): string;
  /** Waits until the output (from `from` on) matches `re`; returns the new offset. */
  wait(re: RegExp, what: string, from?: number): Promise<number>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcessWithoutNullStreams>();

async function startLinphonec(name: string, t: Transport, caFile: string, srtp = false): Promise<Linphonec> {
  const dir = runDir(name);
  mkdirSync(join(dir, '.local', 'share', 'linphone'), { recursive: true });
  const sipPort = await freePort();
  const rtpPort = await freePort('127.0.0.1', 2);
  const rc = join(dir, 'linphonerc');
  writeFileSync(
    rc,
    [
      '[sip]',
      `sip_port=${t === 'udp' ? sipPort : -1}`,
      `sip_tcp_port=${t === 'tcp' ? sipPort : -1}`,
      `sip_tls_port=${t === 'tls' ? sipPort : -1}`,
      `root_ca=${caFile}`,
      'verify_server_certs=1',
      'verify_server_cn=1',
      'default_proxy=-1',
      'register_only_when_network_is_up=0',
      'use_ipv6=0',
      // SDES-SRTP (RTP/SAVP with a=crypto), plain RTP refused.
      ...(srtp ? ['media_encryption=srtp', 'media_encryption_mandatory=1'] : []),
      '[rtp]',
      `audio_rtp_port=${rtpPort}`,
      'rtcp_mux=0',
      '[sound]',
      'echocancellation=0',
      '[video]',
      'enabled=0',
      'capture=0',
      'display=0',
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'linphonec.log');
  const child = spawn('linphonec', ['-c', rc, '-d', '1', '-l', logFile], {
    cwd: dir,
    env: { ...process.env, HOME: dir },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const lp: Linphonec = {
    logFile,
    send: (command) => void child.stdin.write(`${command}\n`),
    output: () => out,
    wait: async (re, what, from = 0) => {
      await until(() => re.test(out.slice(from)) || child.exitCode !== null, what, 30_000);
      if (!re.test(out.slice(from))) {
        throw new Error(`linphonec exited before ${what}:\n${out.slice(-3000)}`);
      }
      return out.length;
    },
    stop: async () => {
      if (child.exitCode === null) {
        child.stdin.write('quit\n');
        const t = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      running.delete(child);
      writeFileSync(join(dir, 'linphonec.out'), out);
    },
  };
  await lp.wait(/linphonec>/, 'the linphonec prompt');
  return lp;
}

const envs: E2e[] = [];
afterAll(async () => {
  for (const child of running) {
    if (child.pid !== undefined && child.exitCode === null) {
      process.kill(-child.pid, 'SIGKILL');
    }
  }
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

let wav = '';
beforeAll(async () => {
  const before = await scriptWav8k(runDir('e2e-linphone-audio-1'), BEFORE_HOLD);
  const after = await scriptWav8k(runDir('e2e-linphone-audio-2'), AFTER_HOLD);
  const dir = runDir('e2e-linphone-audio');
  const padded = join(dir, 'before_padded.wav');
  wav = join(dir, 'script_8k.wav');
  for (const args of [
    [before, padded, 'pad', '0', String(GAP_S)],
    [padded, after, wav],
  ]) {
    const sox = await run('sox', 'sox', args, { timeoutMs: 20_000 });
    if (sox.code !== 0) {
      throw new Error(`sox failed: ${sox.output}`);
    }
  }
});

describe.each<[Transport, 'linphone' | 'sipscribe', boolean]>([
  ['udp', 'linphone', false],
  ['tcp', 'sipscribe', false],
  ['tls', 'sipscribe', false],
  ['tls', 'linphone', true],
])('linphonec calls sipscribe over %s', (t, hangsUp, srtp) => {
  it(`hold and resume by re-INVITE; ${hangsUp} hangs up; transcribed completely${srtp ? '; SRTP (SDES)' : ''}`, async () => {
    const certs = await testCerts();
    const tlsPort = await freePort();
    const e2e = await startE2e(
      `e2e-linphone-${t}${srtp ? '-srtp' : ''}`,
      t === 'tls'
        ? {
            sip: {
              listen: [
                {
                  transport: 'tls',
                  host: '127.0.0.1',
                  port: tlsPort,
                  certFile: certs.serverCert,
                  keyFile: certs.serverKey,
                },
              ],
            },
          }
        : {},
      { webhook: false },
    );
    envs.push(e2e);
    const lp = await startLinphonec(`e2e-linphone-${t}${srtp ? '-srtp' : ''}-ua`, t, certs.caCert, srtp);
    try {
      lp.send('soundcard use files');
      lp.send(`play ${wav}`);
      const port = t === 'tls' ? tlsPort : e2e.sipPort;
      let at = lp.output().length;
      // NOTE: over TLS by name: linphone's mbedTLS 2 matches the certificate's DNS SAN, not its IP SAN.
      const host = t === 'tls' ? 'localhost' : '127.0.0.1';
      lp.send(`call sip:transcribe@${host}:${port};transport=${t}`);
      at = await lp.wait(/connected/i, 'the call to be connected', at);
      const started = await until(() => e2e.live.find((ev) => ev.type === 'call.started'), 'call.started');
      const stream = await until(() => e2e.fake.admitted[0], 'the STT stream');
      await until(() => isSubsequence(BEFORE_HOLD, wordsSentBy(stream)), 'the words before the hold', 30_000);
      lp.send('pause');
      at = await lp.wait(/paused/i, 'the call to be on hold', at);
      lp.send('resume');
      at = await lp.wait(/Media streams established/, 'the call to be resumed', at);
      await until(
        () => isSubsequence([...BEFORE_HOLD, ...AFTER_HOLD], wordsSentBy(stream)),
        'the words after the hold',
        30_000,
      );
      at = lp.output().length;
      if (hangsUp === 'linphone') {
        lp.send('terminate');
      } else {
        void e2e.app.manager.sessions()[0]?.end('bye-local');
        await lp.wait(/ended/, 'linphone to receive our BYE', at);
      }
      const ended = await until(
        () =>
          e2e.live.find((ev): ev is Extract<CallEvent, { type: 'call.ended' }> => ev.type === 'call.ended'),
        'call.ended',
      );
      expect(ended.callId).toBe(started.callId);
      expect(ended.call.transport).toBe(t);
      expect(ended.reason).toBe(hangsUp === 'linphone' ? 'bye-remote' : 'bye-local');
      expect(e2e.live.filter((ev) => ev.type === 'call.started')).toHaveLength(1);
      const transcript = await getJson<{ text: string }>(`${e2e.base}/api/calls/${ended.callId}/transcript`);
      const expected = wordsSentBy(e2e.fake.admitted[0]!);
      expect(transcript.text).toBe(expected.join(' '));
      expect(isSubsequence([...BEFORE_HOLD, ...AFTER_HOLD], expected), expected.join(' ')).toBe(true);
    } finally {
      await lp.stop();
    }
    // The hold on the wire, from linphone's own SIP trace: re-INVITE a=sendonly answered
    // a=recvonly, then a re-INVITE without a direction (sendrecv) answered a=sendrecv (RFC 3264 §8.4).
    const trace = readFileSync(lp.logFile, 'utf8');
    expect(trace).toMatch(
      /INVITE sip:sipscribe@[^]*?a=sendonly[^]*?SIP\/2\.0 200 OK[^]*?a=recvonly[^]*?INVITE sip:sipscribe@[^]*?SIP\/2\.0 200 OK[^]*?a=sendrecv/,
    );
    if (srtp) {
      // Its offer was RTP/SAVP with SDES keys, AES_256_CM_HMAC_SHA1_80 (RFC 6188: 46-byte key)
      // among the AES-128 ones, and our answer took it (our strongest in common); the media was
      // SRTP and every RTP packet authenticated, across the hold and resume.
      expect(trace).toMatch(
        /m=audio \d+ RTP\/SAVP[^]*?a=crypto:\d+ AES_256_CM_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{62}==/,
      );
      expect(trace).toMatch(
        /SIP\/2\.0 200 OK(?:(?!INVITE sip:)[^])*?a=crypto:\d+ AES_256_CM_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{62}==/,
      );
      const log = readFileSync(join(e2e.dir, 'sipscribe.log'), 'utf8');
      expect(log).toMatch(/"srtp":"AES_256_CM_HMAC_SHA1_80"[^\n]*"msg":"call answered"/);
      const stats =
        /"received":(\d+)[^\n]*"srtp":"AES_256_CM_HMAC_SHA1_80","srtpAuthFailed":(\d+)[^\n]*"msg":"rtp stats"/.exec(
          log,
        );
      expect(stats, log.slice(-3000)).not.toBeNull();
      expect(Number(stats![1])).toBeGreaterThan(300);
    }
  });
});
