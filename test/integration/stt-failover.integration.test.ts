// Failover, turns, lag and deferred transcription against fake moshi-servers on loopback.
import { describe, expect, it } from 'vitest';
import { MediaThreads, Upsampler8to24 } from '../../rtp/index.js';
import { systemClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { SttLinkThreads } from '../../src/stt/SttLinkThreads.js';
import { MemoryRecording, transcribeRecording } from '../../src/stt/DeferredTranscriber.js';
import type { SttStream } from '../../src/stt/SttStream.js';
import type { SttUtterance, SttWord } from '../../src/stt/types.js';
import { useSttTestbed } from '../helpers/sttTestbed.js';
import { DEFAULT_VOCABULARY, synthesizeSpeech } from '../helpers/fakeMoshiServer.js';

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

const { fake, pool, links: inProcessLinks } = useSttTestbed();

async function drained(stream: SttStream): Promise<void> {
  while (stream.queuedFrames > 0) {
    await sleep(20);
  }
}

/** The first 13 words of the fake's vocabulary: 'hello my name is alice … appointment'. */
const SENTENCE = DEFAULT_VOCABULARY.slice(0, 13);
/** Each word: 3 frames of tone then 1 of silence, after 2 frames of silence: onset of word k = (2 + 4k) × 80 ms. */
const SCRIPT = [{ silence: 2 }, ...SENTENCE.flatMap((word) => [{ word }, { silence: 1 }])];
const ONSETS = SENTENCE.map((_, k) => (2 + 4 * k) * 80);

/**
 * The fake's tones (400–1600 Hz) as an RTP session delivers them: 8 kHz 16-bit, upsampled to
 * 24 kHz. The 8 kHz samples are taken 22 samples ahead, so that after the upsampler's delay each
 * tone fills its own frames (the fake hears one word per frame and no tail in the next).
 */
function throughTelephone(frames: readonly Float32Array[]): Float32Array[] {
  const all = Float32Array.from(frames.flatMap((f) => Array.from(f)));
  const up = new Upsampler8to24();
  const x = new Int16Array(640);
  return frames.map((_, k) => {
    for (let i = 0; i < x.length; i++) {
      x[i] = Math.round((all[3 * (640 * k + i + 22)] ?? 0) * 32767);
    }
    const out = new Float32Array(1920);
    up.process(x, out);
    return out;
  });
}

describe('STT failover, turns, lag and deferred transcription', () => {
  const cases = [
    { minReplayMs: 3000, audio: 'wideband' },
    { minReplayMs: 400, audio: 'wideband' },
    // An RTP call's frames: 8 kHz audio upsampled; the replay is regenerated from its 8 kHz μ-law.
    { minReplayMs: 3000, audio: 'narrowband' },
    // The same with the sockets on a link thread (`rtp.threads` > 0): the loss crosses as a message.
    { minReplayMs: 3000, audio: 'narrowband', threads: true },
  ] as const;
  for (const c of cases) {
    const { minReplayMs, audio } = c;
    const threads = 'threads' in c;
    it(`survives its server being killed mid-sentence with a complete transcript (min replay ${minReplayMs} ms, ${audio}${threads ? ', sockets on a link thread' : ''})`, async () => {
      const a = await fake();
      const b = await fake();
      const links = threads ? inProcessLinks().links : undefined;
      const p = pool({
        servers: [{ url: a.url }, { url: b.url }],
        stream: { minReplayMs },
        ...(links ? { connect: links.connect } : {}),
      });
      const r = await p.reserve();
      const first = r!.server === a.url ? a : b;
      const second = first === a ? b : a;
      const words: SttWord[] = [];
      const reconnects: string[] = [];
      const errors: string[] = [];
      const stream = p.open(
        r!,
        { callId: 'fo', audio },
        {
          onWord: (w) => words.push(w),
          onReconnect: (info) => reconnects.push(info.to),
          onError: (e) => errors.push(e.code),
        },
      );
      const speech = synthesizeSpeech(SCRIPT);
      for (const f of audio === 'narrowband' ? throughTelephone(speech) : speech) {
        stream.pushFrame(f);
      }
      while (words.length < 5) {
        await sleep(10);
      }
      await first.kill();
      await drained(stream);
      const final = await stream.flush();

      expect(reconnects).toEqual([second.url]);
      expect(errors).toContain('STT_ERR_CLOSED');
      expect(final.complete).toBe(true);
      expect(final.reconnects).toBe(1);
      expect(final.words.map((w) => w.text)).toEqual(SENTENCE);
      expect(final.words.map((w) => w.startMs)).toEqual(ONSETS);
      expect(final.words.map((w) => w.seq)).toEqual(SENTENCE.map((_, k) => k + 1));
      expect(stream.stats.framesReplayed).toBeGreaterThan(0);
      expect(second.admitted.length).toBe(1);
      if (links) {
        expect(links.connections()).toEqual([1]);
      }
    });
  }

  it('survives its server being killed during the hangup flush: the flush completes on another server', async () => {
    const a = await fake();
    const b = await fake();
    const p = pool({ servers: [{ url: a.url }, { url: b.url }] });
    const r = await p.reserve();
    const first = r!.server === a.url ? a : b;
    const stream = p.open(r!, { callId: 'fo-flush' }, {});
    const script = [{ silence: 2 }, ...SENTENCE.slice(0, 5).flatMap((word) => [{ word }, { silence: 1 }])];
    for (const f of synthesizeSpeech(script)) {
      stream.pushFrame(f);
    }
    await drained(stream);
    const pending = stream.flush();
    await first.kill();
    const final = await pending;
    expect(final.complete).toBe(true);
    expect(final.reconnects).toBe(1);
    expect(final.words.map((w) => w.text)).toEqual(SENTENCE.slice(0, 5));
    expect(final.words.map((w) => w.startMs)).toEqual(ONSETS.slice(0, 5));
  });

  for (const threads of [false, true]) {
    it(`fails over from a hung server (socket open, nothing coming back) after deadPeerMs${threads ? ' (sockets on a link thread: the silence known from its reports)' : ''}`, async () => {
      const a = await fake();
      const b = await fake();
      const links = threads ? inProcessLinks().links : undefined;
      const p = pool({
        servers: [{ url: a.url }, { url: b.url }],
        stream: { deadPeerMs: 1500 },
        ...(links ? { connect: links.connect } : {}),
      });
      const r = await p.reserve();
      const first = r!.server === a.url ? a : b;
      const words: SttWord[] = [];
      const stream = p.open(r!, { callId: 'hung' }, { onWord: (w) => words.push(w) });
      for (const f of synthesizeSpeech(SCRIPT)) {
        stream.pushFrame(f);
      }
      while (words.length < 3) {
        await sleep(10);
      }
      first.freeze();
      await drained(stream);
      const final = await stream.flush();
      expect(final.complete).toBe(true);
      expect(final.reconnects).toBe(1);
      expect(final.words.map((w) => w.text)).toEqual(SENTENCE);
      expect(final.words.map((w) => w.startMs)).toEqual(ONSETS);
    });
  }

  it('ends turns with the semantic VAD (Step.prs[2]) and emits final utterances with a sequence', async () => {
    const server = await fake();
    const p = pool({ servers: [{ url: server.url }] });
    const utterances: SttUtterance[] = [];
    const stream = p.open(
      (await p.reserve())!,
      { callId: 'vad' },
      { onUtterance: (u) => utterances.push(u) },
    );
    const frames = synthesizeSpeech([
      { silence: 2 },
      { word: 'hello' },
      { silence: 1 },
      { word: 'my' },
      { silence: 25 },
      { word: 'name' },
      { silence: 1 },
      { word: 'is' },
    ]);
    for (const f of frames) {
      stream.pushFrame(f);
    }
    await drained(stream);
    // The pause after 'my' ends the first turn; nothing ends the second before the flush.
    await expect.poll(() => utterances.length).toBeGreaterThan(0);
    expect(utterances.map((u) => [u.seq, u.text, u.reason])).toEqual([[1, 'hello my', 'vad']]);
    const final = await stream.flush();
    expect(final.utterances.map((u) => [u.seq, u.text, u.reason, u.startMs])).toEqual([
      [1, 'hello my', 'vad', 160],
      [2, 'name is', 'flush', (2 + 3 + 1 + 3 + 25) * 80],
    ]);
    expect(final.utterances[0]!.endMs).toBeGreaterThanOrEqual(480);
    expect(final.text).toBe('hello my name is');
  });

  it('without Step messages (2.6B model) falls back to word-gap timing', async () => {
    const server = await fake({ steps: false });
    const p = pool({ servers: [{ url: server.url }] });
    const utterances: SttUtterance[] = [];
    const stream = p.open(
      (await p.reserve())!,
      { callId: 'gap', turns: { gapMs: 800 } },
      { onUtterance: (u) => utterances.push(u) },
    );
    for (const f of synthesizeSpeech([
      { word: 'hello' },
      { silence: 1 },
      { word: 'my' },
      { silence: 20 },
      { word: 'name' },
    ])) {
      stream.pushFrame(f);
    }
    await drained(stream);
    const final = await stream.flush();
    expect(server.admitted[0]!.sent.some((m) => m['type'] === 'Step')).toBe(false);
    expect(final.utterances.map((u) => [u.text, u.reason])).toEqual([
      ['hello my', 'gap'],
      ['name', 'flush'],
    ]);
  });

  it('reports a server that falls behind real time and avoids it for new calls', async () => {
    const slow = await fake({ stepIntervalMs: 200 });
    const fast = await fake();
    // Threshold above the pacer's 5-frame (400 ms) start-up lead, so only a real backlog counts.
    const p = pool({ servers: [{ url: slow.url }, { url: fast.url }], stream: { lagThresholdMs: 700 } });
    const r1 = await p.reserve();
    const r2 = await p.reserve();
    expect([r1!.server, r2!.server]).toEqual([slow.url, fast.url]);
    const streams = [p.open(r1!, { callId: 'lag1' }, {}), p.open(r2!, { callId: 'lag2' }, {})];
    for (const f of synthesizeSpeech([{ silence: 40 }])) {
      streams.forEach((s) => s.pushFrame(f));
    }
    while (p.laggingServers().length === 0) {
      await sleep(50);
    }
    // Every frame reaches the fast server while the slow one lags: it is never flagged.
    await drained(streams[1]!);
    expect(p.laggingServers()).toEqual([slow.url]);
    expect(p.status().map((s) => s.lagEvents)).toEqual([1, 0]);
    expect(streams[0]!.stats.maxBufferedPcm).toBeGreaterThan(700 * 24);
    expect(streams[1]!.stats.maxBufferedPcm).toBeLessThan(700 * 24);
    // Round robin would now start with the slow one again: the pool avoids it.
    const next = await p.reserve();
    expect(next!.server).toBe(fast.url);
    next!.release();
    streams.forEach((s) => s.close());
  });

  it('reconnects to the same server when it comes back on its port within the bound', async () => {
    const a = await fake();
    const port = a.port;
    const p = pool({ servers: [{ url: a.url }], stream: { reconnectTimeoutMs: 5000 } });
    const words: SttWord[] = [];
    const stream = p.open((await p.reserve())!, { callId: 'same' }, { onWord: (w) => words.push(w) });
    for (const f of synthesizeSpeech(SCRIPT)) {
      stream.pushFrame(f);
    }
    while (words.length < 4) {
      await sleep(10);
    }
    await a.kill();
    // Down until the stream has noticed and is trying to reconnect; then back on the same port.
    await expect.poll(() => stream.state).toBe('reconnecting');
    const again = await fake({ port });
    await drained(stream);
    const final = await stream.flush();
    expect(final.reconnects).toBe(1);
    expect(again.admitted.length).toBe(1);
    expect(final.words.map((w) => w.text)).toEqual(SENTENCE);
    expect(final.words.map((w) => w.startMs)).toEqual(ONSETS);
  });

  it('gives up failover after the bound: STT_ERR_FAILOVER, the call goes on, flush resolves incomplete', async () => {
    const a = await fake();
    const p = pool({ servers: [{ url: a.url }], stream: { reconnectTimeoutMs: 800 } });
    const errors: string[] = [];
    const words: SttWord[] = [];
    const stream = p.open(
      (await p.reserve())!,
      { callId: 'gone' },
      { onError: (e) => errors.push(e.code), onWord: (w) => words.push(w) },
    );
    for (const f of synthesizeSpeech(SCRIPT)) {
      stream.pushFrame(f);
    }
    while (words.length < 2) {
      await sleep(10);
    }
    await a.kill();
    while (stream.state !== 'failed') {
      await sleep(50);
    }
    expect(errors).toEqual(['STT_ERR_CLOSED', 'STT_ERR_FAILOVER']);
    stream.pushFrame(new Float32Array(1920));
    const final = await stream.flush();
    expect(final.complete).toBe(false);
    expect(final.words.map((w) => w.text)).toEqual(words.map((w) => w.text));
  });

  it('transcribes a deferred call from its recording when a slot frees up, in call time', async () => {
    const server = await fake({ slots: 1 });
    const p = pool({ servers: [{ url: server.url }], whenFull: 'defer' });
    const busy = await p.reserve();
    expect((await p.admit()).decision).toBe('defer');
    const recording = new MemoryRecording();
    for (const f of synthesizeSpeech([
      { silence: 5 },
      { word: 'thank' },
      { silence: 1 },
      { word: 'you' },
      { silence: 2 },
      { word: 'goodbye' },
    ])) {
      recording.push(f);
    }
    setTimeout(() => busy!.release(), 300);
    const words: SttWord[] = [];
    const final = await transcribeRecording(
      p,
      recording,
      { callId: 'def', answeredWallMs: 1_700_000_000_000, speed: 4, retryMs: 100, maxWaitMs: 10_000 },
      { onWord: (w) => words.push(w) },
    );
    expect(final?.complete).toBe(true);
    expect(final?.words.map((w) => [w.text, w.startMs])).toEqual([
      ['thank', 400],
      ['you', 720],
      ['goodbye', 1120],
    ]);
    expect(words[0]!.wallMs).toBe(1_700_000_000_400);
  });

  it('a link thread that ends during a handshake: the connection opens elsewhere (here: on this thread, none being left)', async () => {
    const a = await fake();
    const { links, port } = inProcessLinks();
    const pending = links.connect(
      { url: a.url },
      { clock: systemClock, logger: silentLogger, readyTimeoutMs: 3000, tls: undefined },
    );
    port.close(); // the thread ends before its Ready
    const conn = await pending;
    expect(conn.isOpen).toBe(true);
    expect(links.connections()).toEqual([0]);
    conn.close();
    await conn.closed;
    // The ended thread's side closed what its handshake opened after the end: no socket is left.
    await expect.poll(() => a.openSockets, { timeout: 10_000 }).toBe(0);
  });

  it('a media thread that dies mid-sentence takes its STT sockets: the stream fails over and the transcript completes', async () => {
    const a = await fake();
    const b = await fake();
    const links = new SttLinkThreads(silentLogger);
    const media = new MediaThreads({ threads: 1, extension: links.extension });
    try {
      const p = pool({ servers: [{ url: a.url }, { url: b.url }], connect: links.connect });
      const r = await p.reserve();
      expect(links.connections()).toEqual([1]);
      const first = r!.server === a.url ? a : b;
      const second = first === a ? b : a;
      const words: SttWord[] = [];
      const errors: string[] = [];
      const stream = p.open(
        r!,
        { callId: 'thread-dies', audio: 'narrowband' },
        { onWord: (w) => words.push(w), onError: (e) => errors.push(e.code) },
      );
      for (const f of throughTelephone(synthesizeSpeech(SCRIPT))) {
        stream.pushFrame(f);
      }
      while (words.length < 5) {
        await sleep(10);
      }
      await media.terminateThread(0);
      await drained(stream);
      const final = await stream.flush();
      expect(errors).toContain('STT_ERR_CLOSED');
      expect(final.complete).toBe(true);
      expect(final.reconnects).toBe(1);
      expect(final.words.map((w) => w.text)).toEqual(SENTENCE);
      expect(final.words.map((w) => w.startMs)).toEqual(ONSETS);
      // No thread was up to take it: the new connection is on this thread.
      expect(second.admitted.length).toBe(1);
      expect(links.connections()).toEqual([0]);
      // The dead thread's socket is gone from the first server too.
      await expect.poll(() => first.openSockets, { timeout: 10_000 }).toBe(0);
    } finally {
      await media.stop();
    }
  });
});
