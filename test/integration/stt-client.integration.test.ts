// The STT client against the protocol-faithful fake moshi-server on loopback: exact bytes on the
// wire, pacing, the flush sequence, capacity, 401, slot-aware choice of server.
import { systemClock } from '../../lib/clock.js';
import { describe, expect, it } from 'vitest';
import { SttConnection } from '../../src/stt/SttConnection.js';
import { STT_ERR } from '../../src/stt/errors.js';
import type { SttUtterance, SttWord } from '../../src/stt/types.js';
import { silentLogger } from '../../lib/logger.js';
import { useSttTestbed } from '../helpers/sttTestbed.js';
import { synthesizeSpeech, type FakeStream } from '../helpers/fakeMoshiServer.js';

const { fake, pool } = useSttTestbed();

/** The bytes of `{type:"Audio", pcm:[1920 × float32]}` as the MessagePack spec lays them out. */
const AUDIO_HEAD = Buffer.from([
  0x82, // fixmap, 2 entries
  0xa4,
  ...Buffer.from('type'),
  0xa5,
  ...Buffer.from('Audio'),
  0xa3,
  ...Buffer.from('pcm'),
  0xdc,
  0x07,
  0x80, // array16, 1920 elements
]);

function audioFrames(s: FakeStream): FakeStream['frames'] {
  return s.frames.filter((f) => (f.message as { type?: string } | undefined)?.type === 'Audio');
}

interface Collected {
  words: SttWord[];
  utterances: SttUtterance[];
  errors: string[];
  reconnects: number;
}

function collector(): Collected & {
  onWord(w: SttWord): void;
  onUtterance(u: SttUtterance): void;
  onError(e: { code: string }): void;
  onReconnect(): void;
} {
  const c: Collected = { words: [], utterances: [], errors: [], reconnects: 0 };
  return {
    ...c,
    words: c.words,
    utterances: c.utterances,
    errors: c.errors,
    onWord: (w) => c.words.push(w),
    onUtterance: (u) => c.utterances.push(u),
    onError: (e) => c.errors.push(e.code),
    onReconnect: () => {
      c.reconnects++;
    },
  };
}

describe('STT client against the fake moshi-server', () => {
  it('puts exact MessagePack float32 1920-sample frames on the wire, paced, then Marker + silence, and gets every word', async () => {
    const server = await fake();
    const p = pool({ servers: [{ url: server.url, apiKey: 'public_token' }] });
    await p.start();
    const r = await p.reserve();
    expect(r).not.toBeNull();
    // "hello my name is alice" with the last word running right up to the hangup.
    const frames = synthesizeSpeech([
      { silence: 2 },
      { word: 'hello' },
      { silence: 2 },
      { word: 'my' },
      { silence: 1 },
      { word: 'name', frames: 4 },
      { silence: 3 },
      { word: 'is' },
      { silence: 1 },
      { word: 'alice', frames: 5 },
    ]);
    expect(frames.length).toBe(27);
    const c = collector();
    const stream = p.open(r!, { callId: 'c1' }, c);
    for (const f of frames) {
      stream.pushFrame(f);
    }
    // The pacer releases them in real time; hang up once the last one is on the wire.
    while (stream.queuedFrames > 0) {
      await new Promise((res) => setTimeout(res, 20));
    }
    const final = await stream.flush();

    expect(final.complete).toBe(true);
    expect(final.words.map((w) => w.text)).toEqual(['hello', 'my', 'name', 'is', 'alice']);
    // Onsets in call time, from the script: frames 2, 7, 11, 18, 22 × 80 ms.
    expect(final.words.map((w) => w.startMs)).toEqual([160, 560, 880, 1440, 1760]);
    expect(c.words.map((w) => w.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(final.text).toBe('hello my name is alice');

    const s = server.admitted[0]!;
    expect(s.headers['kyutai-api-key']).toBe('public_token');
    expect(s.frames.every((f) => f.binary)).toBe(true);
    const audio = audioFrames(s);
    for (const f of audio) {
      expect(f.data.length).toBe(AUDIO_HEAD.length + 1920 * 5);
      expect(f.data.subarray(0, AUDIO_HEAD.length).equals(AUDIO_HEAD)).toBe(true);
      for (let k = 0; k < 1920; k++) {
        expect(f.data[AUDIO_HEAD.length + 5 * k]).toBe(0xca);
      }
    }
    // The caller's samples arrive as float32, in order, before the Marker.
    const markerAt = s.frames.findIndex((f) => (f.message as { type?: string }).type === 'Marker');
    expect(markerAt).toBe(27);
    expect(
      s.frames[markerAt]!.data.equals(
        Buffer.from([
          0x82,
          0xa4,
          ...Buffer.from('type'),
          0xa6,
          ...Buffer.from('Marker'),
          0xa2,
          ...Buffer.from('id'),
          0x01,
        ]),
      ),
    ).toBe(true);
    for (let i = 0; i < 27; i++) {
      const pcm = (audio[i]!.message as { pcm: number[] }).pcm;
      const want = frames[i]!;
      expect(pcm.length).toBe(1920);
      expect(pcm[100]).toBe(want[100]);
      expect(pcm[1919]).toBe(want[1919]);
    }
    // After the Marker: at least ceil(480/80)+2 = 8 frames of exact zeros.
    const after = s.frames
      .slice(markerAt + 1)
      .filter((f) => (f.message as { type?: string }).type === 'Audio');
    expect(after.length).toBeGreaterThanOrEqual(8);
    expect(after.every((f) => (f.message as { pcm: number[] }).pcm.every((v) => v === 0))).toBe(true);
    // Pacing: 27 frames pushed at once go out over ≈ (27 - 1 - 5 lead) × 80 ms = 1.68 s (generous bound).
    expect(audio[26]!.at - audio[0]!.at).toBeGreaterThan(1200);
    // Closed by the client after the echo; the slot is free again.
    await stream.ended;
    await new Promise((res) => setTimeout(res, 100));
    expect(server.usedSlots).toBe(0);
    expect(s.sent.some((m) => m['type'] === 'Marker' && m['id'] === 1)).toBe(true);
  });

  it("the pool's turns option caps an utterance's words (stt.utterance.maxWords)", async () => {
    const server = await fake();
    const p = pool({ servers: [{ url: server.url, apiKey: 'public_token' }], turns: { maxWords: 2 } });
    await p.start();
    const r = await p.reserve();
    // Five words with one-frame pauses: no pause long enough for the VAD to end a turn.
    const frames = synthesizeSpeech([
      { silence: 2 },
      { word: 'hello' },
      { silence: 1 },
      { word: 'my' },
      { silence: 1 },
      { word: 'name' },
      { silence: 1 },
      { word: 'is' },
      { silence: 1 },
      { word: 'alice' },
    ]);
    const c = collector();
    const stream = p.open(r!, { callId: 'c-cap' }, c);
    for (const f of frames) {
      stream.pushFrame(f);
    }
    while (stream.queuedFrames > 0) {
      await new Promise((res) => setTimeout(res, 20));
    }
    const final = await stream.flush();
    expect(final.words.map((w) => w.text)).toEqual(['hello', 'my', 'name', 'is', 'alice']);
    expect(c.utterances.map((u) => [u.text, u.reason])).toEqual([
      ['hello my', 'limit'],
      ['name is', 'limit'],
      ['alice', 'flush'],
    ]);
  });

  it('2.6B behaviour (no Step, 2.56 s delay): the flush still brings the last word', async () => {
    const server = await fake({ steps: false, delaySteps: 32 });
    const p = pool({ servers: [{ url: server.url }], modelDelayMs: 2560 });
    const stream = p.open((await p.reserve())!, { callId: 'big' }, {});
    for (const f of synthesizeSpeech([{ word: 'thank' }, { silence: 1 }, { word: 'you', frames: 4 }])) {
      stream.pushFrame(f);
    }
    while (stream.queuedFrames > 0) {
      await new Promise((res) => setTimeout(res, 20));
    }
    const final = await stream.flush();
    expect(final.complete).toBe(true);
    expect(final.text).toBe('thank you');
    const s = server.admitted[0]!;
    const markerAt = s.frames.findIndex((f) => (f.message as { type?: string }).type === 'Marker');
    // ceil(2560 / 80) + 2 = 34 zero frames right after the Marker, then paced silence.
    expect(s.frames.length - markerAt - 1).toBeGreaterThanOrEqual(34);
  });

  it('never stalls: when the caller stops sending, zero frames keep the stream alive', async () => {
    const server = await fake();
    const p = pool({ servers: [{ url: server.url }] });
    const r = await p.reserve();
    const stream = p.open(r!, { callId: 'c2' }, {});
    for (const f of synthesizeSpeech([{ word: 'hello' }])) {
      stream.pushFrame(f);
    }
    await new Promise((res) => setTimeout(res, 1200));
    const s = server.admitted[0]!;
    // ≈ 15 frames in 1.2 s; at least half of them must have arrived (generous), most of them silence.
    const got = audioFrames(s);
    expect(got.length).toBeGreaterThanOrEqual(8);
    expect(stream.stats.framesFilled).toBeGreaterThanOrEqual(5);
    stream.close();
  });

  it('reports 401 as a configuration error with a code', async () => {
    const server = await fake({ apiKeys: ['right'] });
    await expect(
      SttConnection.connect(
        { url: server.url, apiKey: 'wrong' },
        { clock: systemClock, logger: silentLogger, readyTimeoutMs: 3000 },
      ),
    ).rejects.toMatchObject({ code: STT_ERR.AUTH });
    const p = pool({ servers: [{ url: server.url, apiKey: 'wrong' }] });
    expect(await p.reserve()).toBeNull();
    expect(p.status()[0]!.lastError).toBe(STT_ERR.AUTH);
    expect(p.stats.authFailures).toBe(1);
    expect(server.authFailures).toBe(2);
  });

  it('sends the key as ?auth_id= only when configured, and the server accepts it', async () => {
    const server = await fake({ apiKeys: ['k1'] });
    const conn = await SttConnection.connect(
      { url: server.url, apiKey: 'k1', authInQuery: true },
      { clock: systemClock, logger: silentLogger, readyTimeoutMs: 3000 },
    );
    const s = server.admitted[0]!;
    expect(s.headers['kyutai-api-key']).toBeUndefined();
    expect(s.url).toBe('/api/asr-streaming?auth_id=k1');
    conn.close();
  });

  it('treats "no free channels" as full: reserve() gives null, admission follows the policy', async () => {
    const server = await fake({ slots: 1 });
    const p = pool({ servers: [{ url: server.url }], whenFull: 'reject' });
    const first = await p.reserve();
    expect(first).not.toBeNull();
    await expect(
      SttConnection.connect(
        { url: server.url },
        { clock: systemClock, logger: silentLogger, readyTimeoutMs: 3000 },
      ),
    ).rejects.toMatchObject({ code: STT_ERR.FULL });
    expect(await p.reserve()).toBeNull();
    expect(p.stats.fullRefusals).toBe(1);
    expect(p.status()[0]!.lastError).toBe(STT_ERR.FULL);
    const adm = await p.admit();
    expect(adm.decision).toBe('reject');
    expect(adm.decision === 'reject' && adm.retryAfterS).toBeGreaterThanOrEqual(1);
    const deferring = pool({ servers: [{ url: server.url }], whenFull: 'defer' });
    expect((await deferring.admit()).decision).toBe('defer');
    expect(server.fullRejections).toBe(3);
    first!.release();
  });

  it('skips a full or dead server and retries it later with a doubling backoff', async () => {
    const full = await fake({ slots: 0 });
    const dead = await fake();
    const deadUrl = dead.url;
    await dead.kill();
    const good = await fake();
    const p = pool({
      servers: [{ url: full.url }, { url: deadUrl }, { url: good.url }],
      backoff: { initialMs: 400, maxMs: 5000 },
    });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await p.reserve();
      got.push(r!.server);
      r!.release();
    }
    expect(got).toEqual([good.url, good.url, good.url, good.url]);
    expect(p.stats.fullRefusals).toBe(1);
    expect(p.stats.connectFailures).toBe(1);
    expect(p.status().map((s) => s.lastError)).toEqual([STT_ERR.FULL, STT_ERR.CONNECT, null]);
    await new Promise((res) => setTimeout(res, 500));
    for (let i = 0; i < 3; i++) {
      (await p.reserve())!.release();
    }
    // Both were tried again once after 400 ms, and now wait 800 ms.
    expect(p.stats.fullRefusals).toBe(2);
    expect(p.stats.connectFailures).toBe(2);
    expect(p.status().map((s) => s.failures)).toEqual([2, 2, 0]);
  });

  it('a slow handshake (no Ready in time) is tried again before a refusal, and the server is not backed off', async () => {
    // Under a burst on a loaded machine the only server answered late: backing it off refused
    // every call for seconds (issue #18).
    const slow = await fake({ withholdReady: 2 });
    const p = pool({ servers: [{ url: slow.url }], readyTimeoutMs: 200, backoff: { initialMs: 60_000 } });
    const first = await p.reserve(); // Ready withheld twice: refused after its second attempt
    expect(first).toBeNull();
    const second = await p.reserve(); // the server answers now: not in any backoff
    expect(second?.server).toBe(slow.url);
    second!.release();
    expect(p.stats).toMatchObject({ slowHandshakes: 2, connectFailures: 0, noServer: 1 });
    expect(slow.streams.map((st) => st.admitted)).toEqual([true, true, true]);
  });

  it('chooses the server with more free slots (from /api/modules_info), round robin when unknown', async () => {
    const a = await fake({ slots: 3 });
    const b = await fake({ slots: 3 });
    const holder = pool({ servers: [{ url: a.url }] });
    const held = [await holder.reserve(), await holder.reserve()];
    expect(a.usedSlots).toBe(2);
    const p = pool({ servers: [{ url: a.url }, { url: b.url }] });
    await p.start();
    expect(p.status().map((s) => s.freeSlots)).toEqual([1, 3]);
    const r1 = await p.reserve();
    const r2 = await p.reserve();
    const r3 = await p.reserve();
    // b (3 free), b (2 free), then a tie at 1 free each.
    expect([r1!.server, r2!.server]).toEqual([b.url, b.url]);
    expect([a.url, b.url]).toContain(r3!.server);
    for (const r of [...held, r1, r2, r3]) {
      r?.release();
    }
    while (a.usedSlots + b.usedSlots > 0) {
      await new Promise((res) => setTimeout(res, 20));
    }
    // No modules_info (probe fails): round robin.
    const rr = pool({
      servers: [{ url: a.url }, { url: b.url }],
      httpGet: (url) =>
        Promise.resolve(
          url.endsWith('/api/build_info') ? { status: 200, body: '{}' } : { status: 404, body: '' },
        ),
    });
    await rr.start();
    const picks = [];
    for (let i = 0; i < 4; i++) {
      const r = await rr.reserve();
      picks.push(r!.server);
      r!.release();
      while (a.usedSlots + b.usedSlots > 0) {
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    expect(rr.stats.fullRefusals).toBe(0);
    expect(picks).toEqual([a.url, b.url, a.url, b.url]);
  });
});
