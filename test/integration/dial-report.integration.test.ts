// `sipscribe dial` tells what happened: the audio it reports is the audio the callee received (a
// callee that hangs up early gets part of the file, and dial says so, not the file's length), why
// the call ended, and an INVITE that names the address the callee can reach (From, Contact, Via,
// SDP), never 0.0.0.0. The callee is an in-process SipStack UAS with its own RTP socket that counts
// what arrives: packets carrying the tone (PCMU bytes other than silence) are the reference.
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SipStack, type IncomingCall } from '../../sip/index.js';
import { cliInProcess as cli } from '../helpers/cliInProcess.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { until, writeWav16 } from './e2eHarness.js';

/** PCMU silence: μ-law of 0. */
const ULAW_SILENCE = 0xff;

interface Callee {
  stack: SipStack;
  port: number;
  /** The INVITE as received, once it came. */
  invite?: IncomingCall;
  /** RTP packets received, and those of them carrying the tone. */
  packets: number;
  audioPackets: number;
  /** Audio packets received when the callee sent its BYE (hangUpAfter), else undefined. */
  audioAtBye?: number;
  media: Socket;
}

const callees: Callee[] = [];
afterEach(async () => {
  for (const c of callees.splice(0)) {
    c.media.close();
    await c.stack.stop();
  }
});

/** A callee on 127.0.0.1 that answers at once and hangs up after `hangUpAfter` audio packets. */
async function callee(hangUpAfter?: number): Promise<Callee> {
  const port = await freePort();
  const media = createSocket('udp4');
  await new Promise<void>((r) => media.bind(0, '127.0.0.1', r));
  const c: Callee = { stack: undefined as unknown as SipStack, port, packets: 0, audioPackets: 0, media };
  media.on('message', (data) => {
    c.packets++;
    if (data.subarray(12).some((b) => b !== ULAW_SILENCE)) {
      c.audioPackets++;
    }
    if (hangUpAfter !== undefined && c.audioAtBye === undefined && c.audioPackets >= hangUpAfter) {
      c.audioAtBye = c.audioPackets;
      void c.invite?.hangup();
    }
  });
  c.stack = new SipStack(
    { listen: [{ transport: 'udp', host: '127.0.0.1', port }], codecs: ['PCMU'] },
    {
      onInvite: (call) => {
        c.invite = call;
        void call.answer({ address: '127.0.0.1', port: media.address().port });
      },
    },
  );
  await c.stack.start();
  callees.push(c);
  return c;
}

/** A WAV of `seconds` of a 440 Hz tone at 8 kHz: no 20 ms of it encodes as PCMU silence. */
function toneWav(name: string, seconds: number): string {
  const pcm = new Float32Array(seconds * 8000);
  for (let i = 0; i < pcm.length; i++) {
    pcm[i] = 0.25 * Math.sin((2 * Math.PI * 440 * i) / 8000);
  }
  const file = join(runDir(name), 'tone.wav');
  writeWav16(file, 8000, pcm);
  return file;
}

/** The dial's configuration: RTP on the default wildcard host, ports of our own. */
async function dialConfig(name: string): Promise<string> {
  const min = await freePort('127.0.0.1', 16);
  const file = join(runDir(name), 'dial.json');
  writeFileSync(file, JSON.stringify({ rtp: { portMin: min, portMax: min + 15 }, log: { level: 'warn' } }));
  return file;
}

/** `sent S s of F s of audio in P RTP packets`: the figures dial printed. */
function figures(out: string): { sent: number; file: number; packets: number } {
  const m = /sent (\d+\.\d\d) s of (\d+\.\d\d) s of audio in (\d+) RTP packets/.exec(out);
  expect(m, out).not.toBeNull();
  return { sent: Number(m![1]), file: Number(m![2]), packets: Number(m![3]) };
}

describe('sipscribe dial reports what was sent', () => {
  it('a callee hanging up after 2 s: the audio it got, not the 8 s of the file; "the callee hung up"', async () => {
    const c = await callee(100);
    const wav = toneWav('dial-report-bye', 8);
    const cfg = await dialConfig('dial-report-bye');
    const r = await cli(['--config', cfg, 'dial', `sip:alice@127.0.0.1:${c.port}`, '--wav', wav]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/ended: the callee hung up/);
    const f = figures(r.out);
    expect(f.file).toBe(8);
    // Everything dial sent has arrived (loopback): the callee's counts are the reference.
    await until(() => c.packets >= f.packets, `${f.packets} RTP packets at the callee`);
    expect(c.packets).toBe(f.packets);
    // The BYE went out after 100 audio packets; dial stops within 50 more (1 s of audio) of it.
    expect(c.audioPackets).toBeGreaterThanOrEqual(100);
    expect(c.audioPackets).toBeLessThanOrEqual(150);
    // 20 ms per audio packet (the file is longer than what was sent: every packet is full).
    expect(f.sent).toBeCloseTo(c.audioPackets * 0.02, 2);
  });

  it('to the end of the file: the whole file, then "end of the file, we hung up"', async () => {
    const c = await callee();
    const wav = toneWav('dial-report-eof', 1);
    const cfg = await dialConfig('dial-report-eof');
    const args = ['--config', cfg, 'dial', `sip:alice@127.0.0.1:${c.port}`, '--wav', wav, '--tail', '200'];
    const r = await cli(args);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/ended: end of the file, we hung up/);
    const f = figures(r.out);
    await until(() => c.packets >= f.packets, `${f.packets} RTP packets at the callee`);
    expect(c.packets).toBe(f.packets);
    // 1 s of audio is 50 packets of 20 ms; the tail's silence packets come after them.
    expect(c.audioPackets).toBe(50);
    expect(f.packets).toBeGreaterThan(50);
    expect(f).toMatchObject({ sent: 1, file: 1 });
  });

  it('names the address that reaches the callee in From, Contact, Via and SDP, not 0.0.0.0', async () => {
    const c = await callee(1);
    const wav = toneWav('dial-report-from', 1);
    const cfg = await dialConfig('dial-report-from');
    const r = await cli(['--config', cfg, 'dial', `sip:alice@127.0.0.1:${c.port}`, '--wav', wav]);
    expect(r.code, r.out).toBe(0);
    const invite = c.invite!.request;
    expect(invite.get('from')).toMatch(/^<sip:sipscribe@127\.0\.0\.1>;tag=/);
    expect(invite.get('contact')).toMatch(/^<sip:sipscribe@127\.0\.0\.1:\d+;transport=udp>$/);
    expect(invite.get('via')).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;/);
    expect(invite.bodyText).toMatch(/^c=IN IP4 127\.0\.0\.1\r$/m);
    const text = invite.headers.map((h) => `${h.name}: ${h.value}`).join('\n') + invite.bodyText;
    expect(text).not.toContain('0.0.0.0');
  });
});
