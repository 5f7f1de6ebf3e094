// Ingress streams as SIP calls are, under `stt.whenFull: "defer"` and through a drain, against the
// whole product and the fake moshi-server, with the FreeSWITCH, Twilio and AudioSocket clients
// written from their public protocol descriptions (see ingress-sources.integration.test.ts).
//
// Defer: a stereo stream with fewer free STT slots than channels is taken, each channel's audio
// recorded and transcribed after the stream ends, the words stored under each channel's label.
// Drain (`POST /api/admin/drain`, then the stop a SIGTERM makes): a new stream of every source is
// refused its own way (HTTP 503 before the WebSocket upgrade, the AudioSocket connection closed),
// the stream in progress goes on, ends by itself and is flushed before the process stops.
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { CallEvent } from '../../src/events.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { dbRows, getJson, isSubsequence, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';
import {
  channelWords as wordsOf,
  endedIngressCall as endedCall,
  le16,
  script,
  upgradeStatus,
} from './ingressClients.js';

const CALLER = ['hello', 'alice', 'tuesday'];
const CALLEE = ['thank', 'you', 'goodbye'];
const FS_TOKEN = 'fs-token-0123456789abcdef';

let callerPcm: Int16Array = new Int16Array(0);
let calleePcm: Int16Array = new Int16Array(0);
const envs: E2e[] = [];

beforeAll(async () => {
  callerPcm = (await script('ingress-drain-caller', CALLER)).pcm;
  calleePcm = (await script('ingress-drain-callee', CALLEE)).pcm;
}, 60_000);

afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

/** Caller on the left, callee on the right, the callee speaking after the caller. */
function stereoCall(): Buffer {
  const n = callerPcm.length + calleePcm.length;
  const stereo = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    stereo[2 * i] = i < callerPcm.length ? (callerPcm[i] as number) : 0;
    stereo[2 * i + 1] = i >= callerPcm.length ? (calleePcm[i - callerPcm.length] as number) : 0;
  }
  return le16(stereo);
}

/** A FreeSWITCH stream as mod_audio_stream opens it (Bearer token in STREAM_EXTRA_HEADERS). */
async function fsStream(e2e: E2e, key: string, channels: 1 | 2): Promise<WebSocket> {
  const url = `${e2e.base.replace('http:', 'ws:')}/ingress/freeswitch/${key}?rate=8000&channels=${channels}`;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${FS_TOKEN}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/** Sends `bytes` in 20 ms messages, then the empty message that ends the stream; waits for the close. */
async function sendAll(ws: WebSocket, bytes: Buffer, frameBytes: number): Promise<void> {
  for (let pos = 0; pos < bytes.length; pos += frameBytes) {
    ws.send(bytes.subarray(pos, pos + frameBytes));
  }
  ws.send(Buffer.alloc(0));
  await new Promise((r) => ws.once('close', r));
}

describe('ingress under stt.whenFull "defer"', () => {
  it('a stereo stream with one free STT slot for two channels: taken, both sides transcribed after it ends, labelled', async () => {
    const e2e = await startE2e(
      'ingress-defer',
      { ingress: { freeswitch: { enabled: true, token: FS_TOKEN } }, stt: { whenFull: 'defer' } },
      { webhook: false, fake: { slots: 1 } },
    );
    envs.push(e2e);
    const key = 'fs-deferred-1';
    const ws = await fsStream(e2e, key, 2);
    await sendAll(ws, stereoCall(), 640);
    const call = await endedCall(e2e, key, 120_000);
    expect(call.endReason).toBe('bye-remote');
    await e2e.app.endpoint.bus.flush();
    // Each channel went to the STT in a stream of its own, one after the other (one slot).
    expect(e2e.fake.admitted).toHaveLength(2);
    const caller = wordsOf(e2e, call.id, 'caller');
    const callee = wordsOf(e2e, call.id, 'callee');
    expect(isSubsequence(CALLER, caller), caller.join(' ')).toBe(true);
    expect(isSubsequence(CALLEE, callee), callee.join(' ')).toBe(true);
    expect([...caller, ...callee].sort()).toEqual(e2e.fake.admitted.flatMap((s) => wordsSentBy(s)).sort());
    const events = dbRows<{ body: string }>(
      e2e.storageDir,
      'SELECT body FROM events WHERE call_id = ? ORDER BY seq',
      call.id,
    ).map((r) => JSON.parse(r.body) as CallEvent);
    const ended = events.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended.transcript.map((u) => u.channel)).toContain('callee');
    // The recordings are gone once the transcript is stored.
    await until(
      () => readdirSync(join(e2e.storageDir, 'pending')).length === 0,
      'the pending recordings to be removed',
    );
    const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
    expect(metrics).not.toMatch(/sipscribe_ingress_refused_total\{source="freeswitch",reason="stt-full"\}/);
  }, 180_000);
});

describe('ingress and the drain', () => {
  it('new streams refused by every source, the one in progress finishes and is flushed before the stop', async () => {
    const audiosocketPort = await freePort();
    const e2e = await startE2e(
      'ingress-drain',
      {
        ingress: {
          freeswitch: { enabled: true, token: FS_TOKEN },
          twilio: {
            enabled: true,
            authToken: 'twilio-token',
            publicUrl: 'wss://stt.example.com/ingress/twilio',
          },
          audiosocket: { enabled: true, host: '127.0.0.1', port: audiosocketPort },
        },
        shutdown: { drainTimeoutMs: 120_000 },
      },
      { webhook: false },
    );
    envs.push(e2e);
    const key = 'fs-during-drain';
    const ws = await fsStream(e2e, key, 1);
    const audio = le16(callerPcm);
    const half = Math.floor(audio.length / 640) * 320;
    for (let pos = 0; pos < half; pos += 320) {
      ws.send(audio.subarray(pos, pos + 320));
    }
    const drain = await fetch(`${e2e.base}/api/admin/drain`, { method: 'POST' });
    expect(drain.status).toBe(202);
    expect(await drain.json()).toEqual({ draining: true, calls: 1 });

    // New streams: FreeSWITCH and Twilio get 503 before the upgrade, AudioSocket a closed connection.
    const fsUrl = `${e2e.base.replace('http:', 'ws:')}/ingress/freeswitch/fs-new?rate=8000`;
    expect(await upgradeStatus(fsUrl, { authorization: `Bearer ${FS_TOKEN}` })).toBe(503);
    const sig = createHmac('sha1', 'twilio-token')
      .update('wss://stt.example.com/ingress/twilio')
      .digest('base64');
    expect(
      await upgradeStatus(`${e2e.base.replace('http:', 'ws:')}/ingress/twilio`, {
        'x-twilio-signature': sig,
      }),
    ).toBe(503);
    const as = connect(audiosocketPort, '127.0.0.1');
    as.on('error', () => undefined);
    const received: Buffer[] = [];
    as.on('data', (d: Buffer) => received.push(d));
    await new Promise((r) => as.once('close', r));
    expect(Buffer.concat(received)).toHaveLength(0);
    const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
    for (const source of ['freeswitch', 'twilio', 'audiosocket']) {
      expect(metrics).toContain(
        `sipscribe_ingress_refused_total{source="${source}",reason="shutting-down"} 1\n`,
      );
    }

    // The stop (what SIGTERM does) waits for the stream in progress: it ends by itself, flushed.
    let stopped = false;
    const stopping = e2e.app.stop(30_000).then(() => (stopped = true));
    expect((await getJson<{ calls: number }>(`${e2e.base}/api/admin/drain`)).calls).toBe(1);
    expect(stopped).toBe(false);
    for (let pos = half; pos < audio.length; pos += 320) {
      ws.send(audio.subarray(pos, pos + 320));
    }
    ws.send(Buffer.alloc(0));
    await stopping;
    const [row] = dbRows<{ id: string; state: string; end_reason: string }>(
      e2e.storageDir,
      'SELECT id, state, end_reason FROM calls WHERE sip_call_id = ?',
      key,
    );
    expect(row).toMatchObject({ state: 'ended', end_reason: 'bye-remote' });
    const words = wordsOf(e2e, row!.id, 'caller');
    expect(words).toEqual(wordsSentBy(e2e.fake.admitted[0]!));
    expect(isSubsequence(CALLER, words), words.join(' ')).toBe(true);
  }, 180_000);
});
