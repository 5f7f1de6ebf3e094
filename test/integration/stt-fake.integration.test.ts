// The fake moshi-server itself (test/helpers/fakeMoshiServer.ts), driven by a raw `ws` client and
// hand-built MessagePack bytes, so that the client's tests rest on a double that behaves as
// moshi-server 0.6.4 does (see src/stt/README.md for the sources).
import { encode, decode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FakeMoshiServer,
  classifyFrame,
  synthesizeSpeech,
  DEFAULT_VOCABULARY,
} from '../helpers/fakeMoshiServer.js';

const fakes: FakeMoshiServer[] = [];
afterAll(async () => {
  await Promise.all(fakes.map((f) => f.stop()));
});
async function fake(opts: Parameters<typeof FakeMoshiServer.start>[0] = {}): Promise<FakeMoshiServer> {
  const f = await FakeMoshiServer.start(opts);
  fakes.push(f);
  return f;
}

interface Client {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<number>;
  next(type: string): Promise<Record<string, unknown>>;
}

function client(url: string, headers: Record<string, string> = { 'kyutai-api-key': 'public_token' }): Client {
  const ws = new WebSocket(url, { headers });
  const messages: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  ws.on('message', (data: Buffer) => {
    const m = decode(data) as Record<string, unknown>;
    messages.push(m);
    for (const w of waiters.filter((x) => x.type === m['type'])) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  ws.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  return {
    ws,
    messages,
    closed,
    next: (type) =>
      new Promise((resolve) => {
        const seen = messages.find((m) => m['type'] === type && !(m as { taken?: boolean }).taken);
        if (seen) {
          (seen as { taken?: boolean }).taken = true;
          resolve(seen);
        } else {
          waiters.push({ type, resolve });
        }
      }),
  };
}

const audio = (pcm: Float32Array): Uint8Array =>
  encode({ type: 'Audio', pcm: Array.from(pcm) }, { forceFloat32: true });

describe('fake moshi-server', () => {
  it('answers 401 before the upgrade on a bad key; the header wins over ?auth_id=', async () => {
    const f = await fake({ apiKeys: ['good'] });
    const status = (url: string, headers: Record<string, string>): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => undefined);
      });
    expect(await status(f.url, { 'kyutai-api-key': 'bad' })).toBe(401);
    expect(await status(f.url, {})).toBe(401);
    expect(await status(`${f.url}?auth_id=good`, {})).toBe(101);
    expect(await status(`${f.url}?auth_id=good`, { 'kyutai-api-key': 'bad' })).toBe(401);
    expect(
      await status(f.url.replace('/api/asr-streaming', '/api/other'), { 'kyutai-api-key': 'good' }),
    ).toBe(404);
  });

  it('serves /api/build_info and /api/modules_info with slots as strings', async () => {
    const f = await fake({ slots: 2 });
    const base = `http://127.0.0.1:${f.port}`;
    expect((await fetch(`${base}/api/build_info`)).status).toBe(200);
    const c = client(f.url);
    await c.next('Ready');
    const info = (await (await fetch(`${base}/api/modules_info`)).json()) as Record<string, unknown>[];
    expect(info).toEqual([
      expect.objectContaining({
        type: 'batched_asr',
        path: '/api/asr-streaming',
        used_slots: '1',
        total_slots: '2',
      }),
    ]);
    expect((await fetch(`${base}/health`)).status).toBe(404);
    c.ws.close();
  });

  it('sends Error "no free channels" then closes when full', async () => {
    const f = await fake({ slots: 1 });
    const a = client(f.url);
    await a.next('Ready');
    const b = client(f.url);
    expect(await b.next('Error')).toEqual({ type: 'Error', message: 'no free channels' });
    await b.closed;
    expect(f.fullRejections).toBe(1);
    a.ws.close();
  });

  it('ignores text frames, drops the connection without a message on an undecodable frame', async () => {
    const f = await fake();
    const c = client(f.url);
    await c.next('Ready');
    c.ws.send('{"type":"Audio"}');
    // pcm as bin (what @msgpack/msgpack makes of a Float32Array) does not decode as Vec<f32>.
    c.ws.send(encode({ type: 'Audio', pcm: new Float32Array(1920) }));
    await c.closed;
    expect(c.messages.map((m) => m['type'])).toEqual(['Ready']);
    expect(f.admitted[0]!.closeReason).toBe('undecodable frame');
    expect(f.usedSlots).toBe(0);
  });

  it('recognises tone-coded words, sends Step/Word/EndWord, and echoes a Marker only after the model delay', async () => {
    const f = await fake({ delaySteps: 6 });
    const c = client(f.url);
    await c.next('Ready');
    const frames = synthesizeSpeech([{ word: 'hello' }, { silence: 1 }, { word: 'alice' }]);
    expect(frames.map(classifyFrame)).toEqual([0, 0, 0, -1, 4, 4, 4]);
    for (const fr of frames) {
      c.ws.send(audio(fr));
    }
    c.ws.send(encode({ type: 'Marker', id: 42 }));
    // The Marker needs 6 more steps of this stream: once every frame sent is stepped, still nothing.
    await expect
      .poll(() => c.messages.filter((m) => m['type'] === 'Step').length)
      .toBeGreaterThanOrEqual(frames.length);
    expect(c.messages.some((m) => m['type'] === 'Marker')).toBe(false);
    for (let i = 0; i < 8; i++) {
      c.ws.send(audio(new Float32Array(1920)));
    }
    await c.next('Marker');
    const types = c.messages.map((m) => m['type']);
    expect(types.filter((t) => t === 'Step').length).toBeGreaterThanOrEqual(13);
    const words = c.messages.filter((m) => m['type'] === 'Word');
    expect(words[0]).toEqual({ type: 'Word', text: '', start_time: 0 });
    expect(words[1]).toEqual({ type: 'Word', text: DEFAULT_VOCABULARY[0], start_time: 0 });
    expect(c.messages.find((m) => m['type'] === 'EndWord')).toEqual({ type: 'EndWord', stop_time: 0.24 });
    const step = c.messages.find((m) => m['type'] === 'Step')!;
    expect((step['prs'] as number[]).length).toBe(4);
    expect(typeof step['buffered_pcm']).toBe('number');
    // 'alice' ends with the first silent frame after it (stream step 7): 6 steps later, after the Marker.
    expect(words.some((w) => w['text'] === 'alice')).toBe(false);
    c.ws.send(audio(new Float32Array(1920)));
    while (!c.messages.some((m) => m['text'] === 'alice')) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(c.messages.find((m) => m['text'] === 'alice')).toEqual({
      type: 'Word',
      text: 'alice',
      start_time: 0.32,
    });
    expect(f.admitted[0]!.frames.length).toBe(7 + 1 + 8 + 1);
    c.ws.close();
  });

  it('closes a stream that sends nothing for idleTimeoutMs', async () => {
    const f = await fake({ idleTimeoutMs: 200 });
    const c = client(f.url);
    await c.next('Ready');
    await c.closed;
    expect(f.admitted[0]!.closeReason).toBe('idle timeout');
  });
});
