// End to end for the three ingress adapters, with clients written here from the public protocol
// descriptions (none of Asterisk, FreeSWITCH or Twilio runs here): the fake moshi-server's tone
// "speech" (test/helpers/fakeMoshiServer.ts) is turned into 8 kHz phone audio by sox, sent through
// each adapter as its system would, and the words must be those the fake sent for the audio it got,
// the script's words in order, on the right channel, with the call's source recorded.
//
// References: Asterisk AudioSocket protocol (docs.asterisk.org, Channel-Drivers/AudioSocket: 3-byte
// header kind + 16-bit big-endian length, 0x01 UUID, 0x10 slin 8 kHz LE, 0x03 DTMF, 0x00 hangup);
// mod_audio_stream / mod_audio_fork READMEs (binary L16 frames, optional text metadata first,
// `audio.drachtio.org` subprotocol); Twilio "Media Streams - WebSocket Messages" and "Webhooks
// security" (X-Twilio-Signature = base64 HMAC-SHA1 of the URL with the Auth Token).
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { WebSocket } from 'ws';
import { JITTER_DEFAULTS } from '../../rtp/index.js';
import { parseConfig } from '../../src/config.js';
import { AudioSocketServer } from '../../src/ingress/AudioSocketServer.js';
import type { IngressCalls } from '../../src/ingress/IngressCalls.js';
import type { CallEvent } from '../../src/events.js';
import { cliInProcess as cli } from '../helpers/cliInProcess.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import type { FakeStream } from '../helpers/fakeMoshiServer.js';
import { dbRows, getJson, isSubsequence, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';
import {
  channelWords,
  endedIngressCall,
  le16,
  script,
  upgradeStatus,
  type ApiCall,
} from './ingressClients.js';

const CALLER = ['hello', 'alice', 'tuesday', 'morning'];
const CALLEE = ['thank', 'you', 'goodbye'];
const FS_TOKEN = 'fs-token-0123456789abcdef';
const TWILIO_TOKEN = 'twilio-auth-token-for-tests';

let e2e: E2e;
let audiosocketPort = 0;
let callerPcm: Int16Array = new Int16Array(0);
let callerWav = '';
let calleePcm: Int16Array = new Int16Array(0);
let callerUlaw: Buffer = Buffer.alloc(0);
let calleeUlaw: Buffer = Buffer.alloc(0);

function endedCall(sipCallId: string, timeoutMs?: number): Promise<ApiCall> {
  return endedIngressCall(e2e, sipCallId, timeoutMs);
}

function wordsOf(callId: string, channel: string): string[] {
  return channelWords(e2e, callId, channel);
}

/** The fake's streams opened since `before` (one per channel of a call). */
function newStreams(before: number): FakeStream[] {
  return e2e.fake.admitted.slice(before);
}

beforeAll(async () => {
  const caller = await script('ingress-caller-audio', CALLER);
  const callee = await script('ingress-callee-audio', CALLEE);
  callerPcm = caller.pcm;
  callerWav = caller.wav;
  calleePcm = callee.pcm;
  callerUlaw = caller.ulaw;
  calleeUlaw = callee.ulaw;
  audiosocketPort = await freePort();
  e2e = await startE2e(
    'ingress-sources',
    {
      ingress: {
        twilio: { enabled: true, authToken: TWILIO_TOKEN, publicUrl: 'wss://stt.example.com/ingress/twilio' },
        freeswitch: { enabled: true, token: FS_TOKEN },
        audiosocket: { enabled: true, host: '127.0.0.1', port: audiosocketPort },
      },
    },
    { webhook: false, fake: { slots: 8 } },
  );
}, 120_000);

afterAll(async () => {
  await e2e?.close();
  await stopAll();
});

// ---- Asterisk AudioSocket -----------------------------------------------------------------------

function asMessage(kind: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(3);
  h[0] = kind;
  h.writeUInt16BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

const UUID = '1b3e2a4c-9d8f-4e6a-b1c2-0a0b0c0d0e0f';

function audioSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(audiosocketPort, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));
}

describe('Asterisk AudioSocket', () => {
  it('a call sent at once (20 ms slin frames, DTMF, hangup) becomes the caller transcript', async () => {
    const before = e2e.fake.admitted.length;
    const s = await audioSocket();
    const received: Buffer[] = [];
    s.on('data', (d: Buffer) => received.push(d));
    const parts = [asMessage(0x01, Buffer.from(UUID.replace(/-/g, ''), 'hex'))];
    const audio = le16(callerPcm);
    for (let pos = 0; pos < audio.length; pos += 320) {
      parts.push(asMessage(0x10, audio.subarray(pos, Math.min(audio.length, pos + 320))));
    }
    parts.splice(40, 0, asMessage(0x03, Buffer.from('5')));
    parts.push(asMessage(0x00));
    s.end(Buffer.concat(parts)); // the whole call in one write: nothing is paced by the sender
    await closed(s);
    const call = await endedCall(UUID);
    expect(call.call.ingress).toBe('audiosocket');
    expect(call.endReason).toBe('bye-remote');
    await e2e.app.endpoint.bus.flush();
    const streams = newStreams(before);
    expect(streams).toHaveLength(1);
    const words = wordsOf(call.id, 'caller');
    expect(words).toEqual(wordsSentBy(streams[0]!));
    expect(isSubsequence(CALLER, words), words.join(' ')).toBe(true);
    // Nothing was ever written back to Asterisk (no 0x01, 0x03 or 0xff from us).
    expect(Buffer.concat(received)).toHaveLength(0);
    const dtmf = dbRows<{ body: string }>(
      e2e.storageDir,
      "SELECT body FROM events WHERE call_id = ? AND type = 'dtmf'",
      call.id,
    );
    expect(dtmf.map((r) => (JSON.parse(r.body) as { digit: string }).digit)).toEqual(['5']);
  });

  it('the same fixture as a SIP call (sipscribe dial over RTP) gives the same kind of events and words', async () => {
    const rtp = await freePort('127.0.0.1', 16);
    const cfg = join(runDir('ingress-dial'), 'dial.json');
    writeFileSync(
      cfg,
      JSON.stringify({ rtp: { host: '127.0.0.1', portMin: rtp, portMax: rtp + 15 }, log: { level: 'warn' } }),
    );
    const r = await cli([
      '--config',
      cfg,
      'dial',
      `sip:alice@127.0.0.1:${e2e.sipPort}`,
      '--wav',
      callerWav,
      '--tail',
      '800',
    ]);
    expect(r.code, r.out).toBe(0);
    const sip = await until(async () => {
      const { calls } = await getJson<{ calls: (ApiCall & { call: { transport: string } })[] }>(
        `${e2e.base}/api/calls`,
      );
      const c = calls.find((x) => x.call.ingress === undefined && x.state === 'ended');
      return c;
    }, 'the SIP call to end');
    const as = await endedCall(UUID);
    await e2e.app.endpoint.bus.flush();
    const kinds = (id: string): string[] => [
      ...new Set(
        dbRows<{ type: string }>(e2e.storageDir, 'SELECT type FROM events WHERE call_id = ? ORDER BY seq', id)
          .map((e) => e.type)
          .filter((t) => t !== 'dtmf'),
      ),
    ];
    expect(kinds(sip.id)).toEqual(kinds(as.id));
    expect(kinds(sip.id)).toEqual(['call.started', 'transcript.word', 'transcript.utterance', 'call.ended']);
    const sipWords = wordsOf(sip.id, 'caller');
    const asWords = wordsOf(as.id, 'caller');
    expect(isSubsequence(CALLER, sipWords), sipWords.join(' ')).toBe(true);
    expect(isSubsequence(CALLER, asWords), asWords.join(' ')).toBe(true);
    // The words are where the script put them, whichever way the audio came: the same gaps between
    // them within three frames plus what RTP's adaptive jitter buffer may change its delay by
    // during the call (its default 60–500 ms: under two CPU hogs the delay grew at the start and
    // shrank back, so the SIP call's last word came 320 ms closer to its first than the
    // AudioSocket's did), and the whole transcript shifted by at most a second (when the dialling
    // process starts sending after the answer: it was 288 ms later than the AudioSocket's on a
    // busy machine).
    const starts = (id: string): number[] =>
      CALLER.map(
        (w) =>
          dbRows<{ start_ms: number }>(
            e2e.storageDir,
            'SELECT start_ms FROM words WHERE call_id = ? AND text = ? ORDER BY seq LIMIT 1',
            id,
            w,
          )[0]?.start_ms ?? NaN,
      );
    const [a, b] = [starts(sip.id), starts(as.id)];
    const shift = a[0]! - b[0]!;
    expect(Math.abs(shift), `${a.join()} vs ${b.join()}`).toBeLessThanOrEqual(1000);
    const gapMs = 240 + JITTER_DEFAULTS.maxDelayMs - JITTER_DEFAULTS.minDelayMs;
    a.forEach((ms, i) =>
      expect(Math.abs(ms - shift - b[i]!), `${a.join()} vs ${b.join()}`).toBeLessThanOrEqual(gapMs),
    );
  }, 120_000);

  it('a minute of audio in one burst, then a close without hangup: every word of it arrives', async () => {
    const before = e2e.fake.admitted.length;
    const uuid = '00000000-0000-4000-8000-00000000beef';
    const s = await audioSocket();
    // 60 s: the script repeated, then silence up to a minute.
    const minute = new Int16Array(60 * 8000);
    const reps = Math.floor(minute.length / callerPcm.length);
    for (let r = 0; r < reps; r++) {
      minute.set(callerPcm, r * callerPcm.length);
    }
    const audio = le16(minute);
    const parts = [asMessage(0x01, Buffer.from(uuid.replace(/-/g, ''), 'hex'))];
    for (let pos = 0; pos < audio.length; pos += 320) {
      parts.push(asMessage(0x10, audio.subarray(pos, pos + 320)));
    }
    s.end(Buffer.concat(parts));
    await closed(s);
    // The STT hears it in real time (the stream's pacer): the call ends about a minute later.
    const call = await endedCall(uuid, 180_000);
    await e2e.app.endpoint.bus.flush();
    const words = wordsOf(call.id, 'caller');
    expect(words).toEqual(wordsSentBy(newStreams(before)[0]!));
    const expected = Array.from({ length: reps }, () => CALLER).flat();
    expect(isSubsequence(expected, words), words.join(' ')).toBe(true);
    // The duration is the audio's (sample counts), not the second or so it took to arrive.
    const [row] = dbRows<{ duration_ms: number }>(
      e2e.storageDir,
      'SELECT duration_ms FROM calls WHERE id = ?',
      call.id,
    );
    expect(row?.duration_ms).toBe(60_000);
  }, 240_000);

  it('bad input: an unknown kind, audio before the UUID: the connection is closed and counted', async () => {
    for (const bad of [
      Buffer.concat([asMessage(0x01, Buffer.alloc(16, 7)), asMessage(0x42, Buffer.from('x'))]),
      asMessage(0x10, Buffer.alloc(320)),
      asMessage(0x01, Buffer.alloc(5)),
    ]) {
      const s = await audioSocket();
      s.on('error', () => undefined);
      s.write(bad);
      await closed(s);
    }
    const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
    expect(metrics).toMatch(/sipscribe_ingress_refused_total\{source="audiosocket",reason="unsupported"\} 1/);
    expect(metrics).toMatch(/sipscribe_ingress_refused_total\{source="audiosocket",reason="malformed"\} 2/);
  });
});

// ---- FreeSWITCH mod_audio_stream / mod_audio_fork -----------------------------------------------

function fsUrl(key: string, query: string): string {
  return `${e2e.base.replace('http:', 'ws:')}/ingress/freeswitch/${key}?${query}`;
}

describe('FreeSWITCH audio stream', () => {
  it('stereo L16 (caller left, callee right) with metadata: two labelled channels, interleaved by time', async () => {
    const before = e2e.fake.admitted.length;
    const key = 'fs-5f0c1a2b';
    const ws = new WebSocket(fsUrl(key, 'rate=8000&channels=2'), ['audio.drachtio.org'], {
      headers: { authorization: `Bearer ${FS_TOKEN}` },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('audio.drachtio.org');
    ws.send(JSON.stringify({ callId: key, from: '+15551230000' }));
    // The callee speaks after the caller: offset its words by the caller's script length.
    const n = callerPcm.length + calleePcm.length;
    const stereo = new Int16Array(n * 2);
    for (let i = 0; i < n; i++) {
      stereo[2 * i] = i < callerPcm.length ? (callerPcm[i] as number) : 0;
      stereo[2 * i + 1] = i >= callerPcm.length ? (calleePcm[i - callerPcm.length] as number) : 0;
    }
    const bytes = le16(stereo);
    for (let pos = 0; pos < bytes.length; pos += 640) {
      ws.send(bytes.subarray(pos, pos + 640)); // 20 ms of stereo
    }
    ws.send(Buffer.alloc(0)); // the end of the stream
    await new Promise((r) => ws.once('close', r));
    const call = await endedCall(key);
    expect(call.call.ingress).toBe('freeswitch');
    await e2e.app.endpoint.bus.flush();
    const streams = newStreams(before);
    expect(streams).toHaveLength(2);
    const caller = wordsOf(call.id, 'caller');
    const callee = wordsOf(call.id, 'callee');
    expect(isSubsequence(CALLER, caller), caller.join(' ')).toBe(true);
    expect(isSubsequence(CALLEE, callee), callee.join(' ')).toBe(true);
    // Each channel's words are those its own stream produced.
    expect([...caller, ...callee].sort()).toEqual(streams.flatMap((s) => wordsSentBy(s)).sort());
    // The text transcript labels both sides, the caller first (it spoke first).
    const txt = await (await fetch(`${e2e.base}/api/calls/${call.id}/transcript?format=txt`)).text();
    const lines = txt.trim().split('\n');
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] caller: /);
    expect(lines.at(-1)).toMatch(/^\[\d\d:\d\d:\d\d\] callee: /);
  });

  it('an abrupt disconnect (no end frame, no close handshake) still ends the call through the flush', async () => {
    const before = e2e.fake.admitted.length;
    const key = 'fs-abrupt-1';
    const ws = new WebSocket(fsUrl(key, 'rate=8000&channels=1'), {
      headers: { authorization: `Bearer ${FS_TOKEN}` },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const bytes = le16(callerPcm);
    for (let pos = 0; pos < bytes.length; pos += 320) {
      ws.send(bytes.subarray(pos, pos + 320));
    }
    // Wait until the server has the whole clip (its socket drained), then cut the TCP connection.
    await until(() => ws.bufferedAmount === 0, 'the audio to be sent');
    ws.terminate();
    const call = await endedCall(key);
    expect(call.endReason).toBe('error');
    await e2e.app.endpoint.bus.flush();
    const words = wordsOf(call.id, 'caller');
    expect(words).toEqual(wordsSentBy(newStreams(before)[0]!));
    expect(isSubsequence(CALLER, words), words.join(' ')).toBe(true);
  });

  it('a message over ingress.maxFrameBytes or an odd-sized frame closes the stream, counted', async () => {
    const closeCode = async (key: string, payload: Buffer): Promise<number> => {
      const ws = new WebSocket(fsUrl(key, 'rate=8000&channels=2'), {
        headers: { authorization: `Bearer ${FS_TOKEN}` },
      });
      ws.on('error', () => undefined);
      await new Promise<void>((r) => ws.once('open', () => r()));
      ws.send(payload);
      return new Promise((r) => ws.once('close', (c: number) => r(c)));
    };
    expect(await closeCode('fs-big', Buffer.alloc(256 * 1024 + 4))).toBe(1009);
    expect(await closeCode('fs-odd', Buffer.alloc(322))).toBe(1007); // not whole stereo samples
    const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
    expect(metrics).toMatch(/sipscribe_ingress_refused_total\{source="freeswitch",reason="too-large"\} 1/);
    expect(metrics).toMatch(/sipscribe_ingress_refused_total\{source="freeswitch",reason="malformed"\} 1/);
    await endedCall('fs-big');
    await endedCall('fs-odd');
  });

  it('a wrong or missing token gets 401 before the upgrade; an unsupported rate 400', async () => {
    const status = upgradeStatus;
    expect(await status(fsUrl('k1', 'rate=8000'), { authorization: 'Bearer wrong-token-xxxxxxxx' })).toBe(
      401,
    );
    expect(await status(fsUrl('k1', 'rate=8000'), {})).toBe(401);
    expect(await status(fsUrl('k1', 'rate=44100'), { authorization: `Bearer ${FS_TOKEN}` })).toBe(400);
    // Basic with the token as the password (any user name) is accepted.
    const basic = `Basic ${Buffer.from(`fs:${FS_TOKEN}`).toString('base64')}`;
    expect(await status(fsUrl('k2', 'rate=16000'), { authorization: basic })).toBe(101);
    // (That stream, opened and closed at once, is a call without words.)
    expect((await endedCall('k2')).call.ingress).toBe('freeswitch');
  });

  // The upgrade requests as the modules' sources build them (amigniter/mod_audio_stream ec2a781,
  // audio_streamer_glue.cpp; drachtio/drachtio-freeswitch-modules 88e1465, mod_audio_fork
  // audio_pipe.cpp and lws_glue.cpp).
  it("mod_audio_fork's and mod_audio_stream's own upgrade requests are taken", async () => {
    // mod_audio_fork: `Authorization: Basic base64(user:password)` from the channel variables
    // MOD_AUDIO_BASIC_AUTH_USERNAME/PASSWORD (libwebsockets' handshake header), the subprotocol
    // audio.drachtio.org, Host and Origin both the URL's bare host name.
    const fork = new WebSocket(fsUrl('fs-fork-handshake', 'rate=16000&channels=2'), ['audio.drachtio.org'], {
      headers: {
        authorization: `Basic ${Buffer.from(`freeswitch:${FS_TOKEN}`).toString('base64')}`,
        host: 'sipscribe.example.net',
        origin: 'sipscribe.example.net',
      },
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      fork.once('open', () => resolve());
      fork.once('error', reject);
    });
    expect(fork.protocol).toBe('audio.drachtio.org');
    fork.close(1000);
    // mod_audio_stream: every header of the STREAM_EXTRA_HEADERS JSON object
    // (`{"Authorization":"Bearer <token>"}`), no subprotocol, permessage-deflate offered (its
    // default): the server declines it, the stream goes on uncompressed.
    const stream = new WebSocket(fsUrl('fs-stream-handshake', 'rate=8000&channels=1'), {
      headers: { Authorization: `Bearer ${FS_TOKEN}`, 'X-Call-Id': 'fs-stream-handshake' },
      perMessageDeflate: true,
    });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    expect(stream.protocol).toBe('');
    expect(stream.extensions).toBe('');
    stream.close(1000);
    expect((await endedCall('fs-fork-handshake')).endReason).toBe('bye-remote');
    expect((await endedCall('fs-stream-handshake')).endReason).toBe('bye-remote');
  });
});

// ---- Twilio Media Streams -----------------------------------------------------------------------

/** X-Twilio-Signature as Twilio computes it: base64(HMAC-SHA1(authToken, full URL)). */
function twilioSig(url: string): string {
  return createHmac('sha1', TWILIO_TOKEN).update(url).digest('base64');
}

describe('Twilio Media Streams', () => {
  it('both_tracks, chunks out of order: two labelled channels, ordered by chunk', async () => {
    const before = e2e.fake.admitted.length;
    const url = `${e2e.base.replace('http:', 'ws:')}/ingress/twilio`;
    const ws = new WebSocket(url, {
      headers: { 'x-twilio-signature': twilioSig('wss://stt.example.com/ingress/twilio') },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const streamSid = 'MZ18ad3ab5a668481ce02b83e7395059f0';
    const callSid = 'CA5f7a7bd0f3c2b0b0f14b2d1e0c8a3e11';
    let seq = 1;
    const send = (m: Record<string, unknown>): void =>
      ws.send(JSON.stringify({ ...m, sequenceNumber: String(seq++), streamSid }));
    ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
    send({
      event: 'start',
      start: {
        accountSid: 'AC00000000000000000000000000000000',
        streamSid,
        callSid,
        tracks: ['inbound', 'outbound'],
        customParameters: { from: '+15551230000', to: '+15559870000' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    // The callee starts after the caller's script: its first chunk's timestamp says when.
    const media: Record<string, unknown>[] = [];
    const chunksOf = (track: string, ulaw: Buffer, startMs: number): void => {
      for (let i = 0, pos = 0; pos < ulaw.length; i++, pos += 160) {
        media.push({
          event: 'media',
          media: {
            track,
            chunk: String(i + 1),
            timestamp: String(startMs + i * 20),
            payload: ulaw.subarray(pos, pos + 160).toString('base64'),
          },
        });
      }
    };
    chunksOf('inbound', callerUlaw, 0);
    chunksOf('outbound', calleeUlaw, Math.ceil(callerUlaw.length / 8));
    // Swap neighbours throughout: arrival order is not chunk order.
    for (let i = 0; i + 1 < media.length; i += 7) {
      [media[i], media[i + 1]] = [media[i + 1]!, media[i]!];
    }
    for (const m of media) {
      send(m);
    }
    send({ event: 'dtmf', dtmf: { track: 'inbound_track', digit: '7' } });
    send({ event: 'mark', mark: { name: 'greeting' } });
    send({ event: 'stop', stop: { accountSid: 'AC00000000000000000000000000000000', callSid } });
    await new Promise((r) => ws.once('close', r));
    const call = await endedCall(callSid);
    expect(call.call.ingress).toBe('twilio');
    await e2e.app.endpoint.bus.flush();
    expect(newStreams(before)).toHaveLength(2);
    const caller = wordsOf(call.id, 'caller');
    const callee = wordsOf(call.id, 'callee');
    expect(isSubsequence(CALLER, caller), caller.join(' ')).toBe(true);
    expect(isSubsequence(CALLEE, callee), callee.join(' ')).toBe(true);
    // The callee spoke after the caller on the stream's timeline.
    const firstCallee = dbRows<{ start_ms: number }>(
      e2e.storageDir,
      "SELECT start_ms FROM words WHERE call_id = ? AND channel = 'callee' ORDER BY seq LIMIT 1",
      call.id,
    )[0];
    expect(firstCallee?.start_ms).toBeGreaterThanOrEqual(Math.floor(callerUlaw.length / 8) - 400);
    const events = dbRows<{ body: string }>(
      e2e.storageDir,
      'SELECT body FROM events WHERE call_id = ?',
      call.id,
    ).map((r) => JSON.parse(r.body) as CallEvent);
    expect(events.filter((e) => e.type === 'dtmf').map((e) => (e as { digit: string }).digit)).toEqual(['7']);
    expect(events[0]?.call.from).toBe('+15551230000');
  });

  it('a wrong signature gets 403; a bad media format and malformed JSON close the stream; /metrics counts per source', async () => {
    const url = `${e2e.base.replace('http:', 'ws:')}/ingress/twilio`;
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url, {
        headers: { 'x-twilio-signature': twilioSig('wss://other.example/ingress/twilio') },
      });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => undefined);
    });
    expect(code).toBe(403);
    const closeCode = async (first: string): Promise<number> => {
      const ws = new WebSocket(url, {
        headers: { 'x-twilio-signature': twilioSig('wss://stt.example.com/ingress/twilio') },
      });
      await new Promise<void>((r) => ws.once('open', () => r()));
      ws.send(first);
      return new Promise((r) => ws.once('close', (c: number) => r(c)));
    };
    const pcma = {
      event: 'start',
      start: {
        callSid: 'CAx',
        streamSid: 'MZx',
        tracks: ['inbound'],
        mediaFormat: { encoding: 'audio/x-alaw', sampleRate: 8000, channels: 1 },
      },
    };
    expect(await closeCode(JSON.stringify(pcma))).toBe(1007);
    // A close without `stop` (Twilio hung up): the call still ends through the flush.
    const ws = new WebSocket(url, {
      headers: { 'x-twilio-signature': twilioSig('wss://stt.example.com/ingress/twilio') },
    });
    await new Promise<void>((r) => ws.once('open', () => r()));
    ws.send(
      JSON.stringify({
        ...pcma,
        start: {
          ...pcma.start,
          callSid: 'CAnostop',
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
      }),
    );
    ws.send(
      JSON.stringify({
        event: 'media',
        media: {
          track: 'inbound',
          chunk: '1',
          timestamp: '0',
          payload: callerUlaw.subarray(0, 1600).toString('base64'),
        },
      }),
    );
    ws.close();
    expect((await endedCall('CAnostop')).endReason).toBe('bye-remote');
    expect(await closeCode('{not json')).toBe(1007);
    const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
    expect(metrics).toMatch(/sipscribe_ingress_refused_total\{source="twilio",reason="auth"\} 1/);
    expect(metrics).toMatch(/sipscribe_ingress_refused_total\{source="twilio",reason="unsupported"\} 1/);
    expect(metrics).toMatch(/sipscribe_ingress_streams_total\{source="twilio"\} 2/);
    expect(metrics).toMatch(/sipscribe_ingress_streams_total\{source="audiosocket"\} 2/);
    expect(metrics).toMatch(/sipscribe_ingress_streams_total\{source="freeswitch"\} 7/);
  });
});

describe('AudioSocket allowFrom', () => {
  it('a connection from outside ingress.audiosocket.allowFrom is closed at once, counted, never a call', async () => {
    const port = await freePort();
    const config = parseConfig({
      ingress: { audiosocket: { enabled: true, host: '127.0.0.1', port, allowFrom: ['192.0.2.0/24'] } },
    });
    const refused: string[] = [];
    let begun = 0;
    const calls = {
      refused: (_source: string, reason: string) => void refused.push(reason),
      begin: () => {
        begun++;
        return 'limit';
      },
    } as unknown as IngressCalls;
    const server = new AudioSocketServer(config, calls, pino({ level: 'silent' }));
    await server.listen();
    try {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.write(Buffer.from([0x01, 0x00, 0x10, ...Buffer.alloc(16, 1)]));
      await closed(s);
      expect(refused).toEqual(['not-allowed']);
      expect(begun).toBe(0);
    } finally {
      await server.close();
    }
  });
});
