/**
 * A protocol-faithful fake of Kyutai's moshi-server `/api/asr-streaming` (BatchedAsr module), for
 * tests only: the product never uses it. It follows the behaviour read from moshi-server 0.6.4
 * (see src/stt/README.md): `401` before the upgrade on a bad key (header first, `?auth_id=` only
 * when the header is absent); `Ready` when a slot is free, else `Error{"no free channels"}` and a
 * close; binary MessagePack maps only (text frames ignored, an undecodable frame drops the socket
 * without a message); one model step consumes one 1920-sample frame per stream; `Marker{id}` is
 * echoed only once `global_step >= step_at_arrival + delay + frames_buffered`; `Step` (with `prs`
 * and `buffered_pcm`) after each step unless `steps: false` (the 2.6B model); `/api/build_info`
 * and `/api/modules_info` (values as strings). It records everything it receives.
 *
 * "Recognition": the test audio encodes words as tones (see {@link synthesizeSpeech}): a run of
 * frames with the same tone is a word, whose text is `vocabulary[index]`. So the transcript
 * depends only on the audio that actually reached the server, across reconnects too. A word is
 * emitted `delaySteps` steps after its run ends, with `start_time` = its first frame's stream time.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocketServer, type WebSocket } from 'ws';

export const FAKE_FRAME = 1920;
export const FAKE_RATE = 24_000;
/** Tone of vocabulary word k: TONE_BASE_HZ + k × TONE_STEP_HZ. */
export const TONE_BASE_HZ = 400;
export const TONE_STEP_HZ = 100;
export const DEFAULT_VOCABULARY = [
  'hello',
  'my',
  'name',
  'is',
  'alice',
  'and',
  'I',
  'would',
  'like',
  'to',
  'book',
  'an',
  'appointment',
  'for',
  'tuesday',
  'morning',
  'please',
  'thank',
  'you',
  'goodbye',
];

export interface FakeMoshiOptions {
  host?: string;
  port?: number;
  path?: string;
  apiKeys?: readonly string[];
  /** `batch_size`: concurrent streams (default 4). */
  slots?: number;
  /** `asr_delay_in_tokens` (default 6 = 1B model, 480 ms). */
  delaySteps?: number;
  /** Send `Step` messages (1B model); false = 2.6B behaviour (default true). */
  steps?: boolean;
  /** Period of the model loop in ms (default 10). Above 80 the server falls behind real time. */
  stepIntervalMs?: number;
  /** Send the empty first `Word` as the real server does (default true). */
  emptyFirstWord?: boolean;
  vocabulary?: readonly string[];
  /** Close a stream after this long without any frame (moshi-server: 20 s). */
  idleTimeoutMs?: number;
  /** Keep every received frame in `streams[].frames` (default true; benchmarks turn it off). */
  record?: boolean;
  /**
   * Send no `Ready` to the first N streams given a slot (a server slow to answer a handshake, as
   * under a burst: the client times out and closes). Default 0.
   */
  withholdReady?: number;
  /** Serve https:// and wss:// with this certificate and key (PEM) instead of plain HTTP. */
  tls?: { cert: Buffer | string; key: Buffer | string };
}

/** One frame received from a client. */
export interface ReceivedFrame {
  /** performance.now() at arrival. */
  readonly at: number;
  readonly binary: boolean;
  readonly data: Buffer;
  /** The decoded MessagePack value (undefined for text or undecodable frames). */
  readonly message: unknown;
}

/** One WebSocket connection the fake accepted (including those turned away as full). */
export interface FakeStream {
  readonly id: number;
  readonly headers: IncomingMessage['headers'];
  readonly url: string;
  readonly frames: ReceivedFrame[];
  /** Messages sent to the client, decoded. */
  readonly sent: Record<string, unknown>[];
  /** The stream held a slot (got `Ready`). */
  readonly admitted: boolean;
  closed: boolean;
  closeReason: string;
}

interface Slot {
  readonly stream: FakeStream;
  readonly ws: WebSocket;
  /** Received samples not yet stepped: chunks as received (a burst of thousands of streams must not copy per sample). */
  pcm: number[][];
  /** Samples already consumed from `pcm[0]`. */
  pcmPos: number;
  /** Samples waiting in `pcm` (moshi-server's `buffered_pcm`). */
  buffered: number;
  step: number;
  run: { index: number; start: number } | null;
  lastWordEnd: number | null;
  silentRun: number;
  pending: { atStep: number; msg: Record<string, unknown> }[];
  markers: { id: unknown; target: number }[];
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  lastSentAt: number;
}

/** Creates 24 kHz test "speech": tones for words, zeros for silence, cut into 1920-sample frames. */
export function synthesizeSpeech(
  script: readonly ({ word: string; frames?: number } | { silence: number })[],
  vocabulary: readonly string[] = DEFAULT_VOCABULARY,
  amplitude = 0.3,
): Float32Array[] {
  const frames: Float32Array[] = [];
  let phase = 0;
  for (const item of script) {
    if ('silence' in item) {
      for (let i = 0; i < item.silence; i++) {
        frames.push(new Float32Array(FAKE_FRAME));
      }
      continue;
    }
    const index = vocabulary.indexOf(item.word);
    if (index < 0) {
      throw new Error(`"${item.word}" is not in the fake's vocabulary`);
    }
    const hz = TONE_BASE_HZ + index * TONE_STEP_HZ;
    for (let f = 0; f < (item.frames ?? 3); f++) {
      const frame = new Float32Array(FAKE_FRAME);
      for (let i = 0; i < FAKE_FRAME; i++) {
        frame[i] = amplitude * Math.sin(phase);
        phase += (2 * Math.PI * hz) / FAKE_RATE;
      }
      frames.push(frame);
    }
  }
  return frames;
}

/** Classifies one frame: -1 silence, else the vocabulary index its tone encodes. */
export function classifyFrame(pcm: ArrayLike<number>): number {
  let energy = 0;
  let crossings = 0;
  for (let i = 0; i < pcm.length; i++) {
    const v = pcm[i] ?? 0;
    energy += v * v;
    if (i > 0 && (pcm[i - 1] ?? 0) < 0 !== v < 0) {
      crossings++;
    }
  }
  if (Math.sqrt(energy / Math.max(1, pcm.length)) < 0.01) {
    return -1;
  }
  const hz = crossings / 2 / (pcm.length / FAKE_RATE);
  return Math.max(0, Math.round((hz - TONE_BASE_HZ) / TONE_STEP_HZ));
}

const HORIZONS = [6, 12, 25, 37];

/** The next 1920 samples of a slot's received audio (the caller checked `buffered`). */
function takeFrame(slot: Slot): number[] {
  const first = slot.pcm[0];
  slot.buffered -= FAKE_FRAME;
  if (first && slot.pcmPos === 0 && first.length === FAKE_FRAME) {
    slot.pcm.shift();
    return first;
  }
  const out: number[] = [];
  while (out.length < FAKE_FRAME) {
    const chunk = slot.pcm[0] as number[];
    const n = Math.min(FAKE_FRAME - out.length, chunk.length - slot.pcmPos);
    for (let k = 0; k < n; k++) {
      out.push(chunk[slot.pcmPos + k] as number);
    }
    slot.pcmPos += n;
    if (slot.pcmPos >= chunk.length) {
      slot.pcm.shift();
      slot.pcmPos = 0;
    }
  }
  return out;
}

export class FakeMoshiServer {
  readonly streams: FakeStream[] = [];
  /** Handshakes refused with 401. */
  authFailures = 0;
  /** Connections turned away with "no free channels". */
  fullRejections = 0;
  /** Global model step counter (server-wide, like moshi-server's `step_idx`). */
  globalStep = 0;
  readonly #opts: Required<Omit<FakeMoshiOptions, 'port' | 'host' | 'tls'>>;
  readonly #secure: boolean;
  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #slots = new Set<Slot>();
  /** The slot of each admitted socket (a send finds its slot without a scan: bursts of thousands). */
  readonly #slotOf = new Map<WebSocket, Slot>();
  readonly #sockets = new Set<Duplex>();
  /** What each open connection was last used for (`GET /path` or `WebSocket`). */
  readonly #socketUse = new Map<Duplex, string>();
  readonly #idle: (() => void)[] = [];
  #loop: ReturnType<typeof setInterval> | undefined;
  #port = 0;
  #host = '127.0.0.1';
  #nextId = 1;
  #frozen = false;
  /** `Ready` messages withheld so far (`withholdReady`). */
  #withheld = 0;
  #pinger: ReturnType<typeof setInterval> | undefined;

  private constructor(opts: FakeMoshiOptions) {
    this.#opts = {
      path: opts.path ?? '/api/asr-streaming',
      apiKeys: opts.apiKeys ?? ['public_token'],
      slots: opts.slots ?? 4,
      delaySteps: opts.delaySteps ?? 6,
      steps: opts.steps ?? true,
      stepIntervalMs: opts.stepIntervalMs ?? 10,
      emptyFirstWord: opts.emptyFirstWord ?? true,
      vocabulary: opts.vocabulary ?? DEFAULT_VOCABULARY,
      idleTimeoutMs: opts.idleTimeoutMs ?? 20_000,
      record: opts.record ?? true,
      withholdReady: opts.withholdReady ?? 0,
    };
    this.#secure = opts.tls !== undefined;
    const handler: RequestListener = (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/api/build_info') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            build_timestamp: '0',
            git_branch: 'fake',
            git_hash: 'fake',
            rustc_version: 'none',
          }),
        );
        return;
      }
      if (req.method === 'GET' && path === '/api/modules_info') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify([
            {
              type: 'batched_asr',
              path: this.#opts.path,
              lm: 'fake-lm',
              audio_tokenizer: 'fake-mimi',
              used_slots: String(this.usedSlots),
              total_slots: String(this.#opts.slots),
            },
          ]),
        );
        return;
      }
      res.writeHead(404);
      res.end();
    };
    this.#http = opts.tls ? createHttpsServer(opts.tls, handler) : createServer(handler);
    this.#http.on(opts.tls ? 'secureConnection' : 'connection', (s: Duplex) => {
      this.#sockets.add(s);
      this.#socketUse.set(s, 'connected');
      s.once('close', () => {
        this.#sockets.delete(s);
        this.#socketUse.delete(s);
        if (this.#sockets.size === 0) {
          for (const resolve of this.#idle.splice(0)) {
            resolve();
          }
        }
      });
    });
    this.#http.on('request', (req) => {
      this.#socketUse.set(req.socket, `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0] ?? '/'}`);
    });
    this.#http.on('upgrade', (req, socket, head) => {
      this.#socketUse.set(socket, 'WebSocket');
      this.#upgrade(req, socket, head);
    });
  }

  /** Starts a fake on `host:port` (port 0 = any free port). */
  static async start(opts: FakeMoshiOptions = {}): Promise<FakeMoshiServer> {
    const fake = new FakeMoshiServer(opts);
    await fake.#listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
    return fake;
  }

  async #listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, host, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    this.#host = host;
    this.#port = (this.#http.address() as AddressInfo).port;
    this.#loop = setInterval(() => this.#step(), this.#opts.stepIntervalMs);
    // moshi-server: a WebSocket Ping when nothing was sent for SEND_PING_EVERY = 10 s.
    this.#pinger = setInterval(() => {
      const now = performance.now();
      for (const slot of this.#slots) {
        if (!this.#frozen && now - slot.lastSentAt >= 10_000) {
          slot.lastSentAt = now;
          slot.ws.ping();
        }
      }
    }, 1000);
  }

  /**
   * Simulates a hung server (GPU stall, half-open TCP after a power loss): sockets stay open but
   * nothing is processed or sent any more, not even pings.
   */
  freeze(): void {
    this.#frozen = true;
    clearInterval(this.#loop);
  }

  get port(): number {
    return this.#port;
  }
  /** `ws://host:port/api/asr-streaming` (`wss://` with `tls`). */
  get url(): string {
    return `${this.#secure ? 'wss' : 'ws'}://${this.#host}:${this.#port}${this.#opts.path}`;
  }
  /** TCP connections (HTTP probes and WebSockets) currently open to the fake. */
  get openSockets(): number {
    return this.#sockets.size;
  }
  /** Resolves when no connection is open to the fake (at once if none is). */
  settled(): Promise<void> {
    return this.#sockets.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }
  /** What each open connection was last used for (`GET /api/build_info`, `WebSocket`, …). */
  openConnections(): string[] {
    return [...this.#socketUse.values()];
  }
  get usedSlots(): number {
    return this.#slots.size;
  }
  /** Streams that got a slot, in order. */
  get admitted(): FakeStream[] {
    return this.streams.filter((s) => s.admitted);
  }

  /** Every `pcm` sample the stream received, concatenated. */
  static audioOf(stream: FakeStream): Float32Array {
    const parts = stream.frames
      .map((f) => f.message as { type?: unknown; pcm?: unknown } | undefined)
      .filter((m): m is { type: 'Audio'; pcm: number[] } => m?.type === 'Audio' && Array.isArray(m.pcm));
    const out = new Float32Array(parts.reduce((n, p) => n + p.pcm.length, 0));
    let pos = 0;
    for (const p of parts) {
      out.set(p.pcm, pos);
      pos += p.pcm.length;
    }
    return out;
  }

  /** Simulates the process being killed: every socket is cut without a close frame, no more listening. */
  async kill(): Promise<void> {
    clearInterval(this.#loop);
    clearInterval(this.#pinger);
    for (const slot of this.#slots) {
      this.#release(slot, 'killed');
      slot.ws.terminate();
    }
    for (const s of this.#sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  /** Stops the fake (same as kill; kept for readability in afterAll). */
  async stop(): Promise<void> {
    if (this.#http.listening) {
      await this.kill();
    }
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== this.#opts.path) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    // moshi-server: the header wins; the query is consulted only when the header is absent.
    const header = req.headers['kyutai-api-key'];
    const key = typeof header === 'string' ? header : url.searchParams.get('auth_id');
    if (key === null || !this.#opts.apiKeys.includes(key)) {
      this.authFailures++;
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    const full = this.#slots.size >= this.#opts.slots;
    const stream: FakeStream = {
      id: this.#nextId++,
      headers: req.headers,
      url: req.url ?? '',
      frames: [],
      sent: [],
      admitted: !full,
      closed: false,
      closeReason: '',
    };
    this.streams.push(stream);
    ws.on('close', () => {
      stream.closed = true;
    });
    if (full) {
      this.fullRejections++;
      this.#send(ws, stream, { type: 'Error', message: 'no free channels' });
      stream.closeReason = 'full';
      ws.close();
      return;
    }
    const slot: Slot = {
      stream,
      ws,
      pcm: [],
      pcmPos: 0,
      buffered: 0,
      step: 0,
      run: null,
      lastWordEnd: null,
      silentRun: 0,
      pending: [],
      markers: [],
      idleTimer: undefined,
      lastSentAt: performance.now(),
    };
    this.#slots.add(slot);
    this.#slotOf.set(ws, slot);
    this.#touch(slot);
    ws.on('close', () => this.#release(slot, stream.closeReason || 'client closed'));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#receive(slot, data, isBinary));
    if (this.#withheld < this.#opts.withholdReady) {
      this.#withheld++;
      return;
    }
    this.#send(ws, stream, { type: 'Ready' });
  }

  #touch(slot: Slot): void {
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      slot.stream.closeReason = 'idle timeout';
      slot.ws.close();
      this.#release(slot, 'idle timeout');
    }, this.#opts.idleTimeoutMs);
  }

  #release(slot: Slot, reason: string): void {
    clearTimeout(slot.idleTimer);
    this.#slotOf.delete(slot.ws);
    if (this.#slots.delete(slot)) {
      slot.stream.closeReason ||= reason;
    }
  }

  #receive(slot: Slot, data: Buffer, isBinary: boolean): void {
    this.#touch(slot);
    if (!isBinary) {
      // moshi-server skips Text frames.
      slot.stream.frames.push({
        at: performance.now(),
        binary: false,
        data: Buffer.from(data),
        message: undefined,
      });
      return;
    }
    let message: unknown;
    try {
      message = decode(data);
    } catch {
      message = undefined;
    }
    if (this.#opts.record) {
      slot.stream.frames.push({ at: performance.now(), binary: true, data: Buffer.from(data), message });
    }
    const m = message as { type?: unknown; pcm?: unknown; id?: unknown } | undefined;
    if (m?.type === 'Audio' && Array.isArray(m.pcm) && m.pcm.every((v) => typeof v === 'number')) {
      if (m.pcm.length > 0) {
        slot.pcm.push(m.pcm);
        slot.buffered += m.pcm.length;
      }
      return;
    }
    if (m?.type === 'Marker' && typeof m.id === 'number' && Number.isInteger(m.id)) {
      const buffered = Math.floor(slot.buffered / FAKE_FRAME);
      slot.markers.push({ id: m.id, target: this.globalStep + this.#opts.delaySteps + buffered });
      return;
    }
    // Undecodable (bad MessagePack, unknown type, wrong field type such as pcm as bin):
    // moshi-server's receive task fails and the connection is dropped without a message.
    slot.stream.closeReason = 'undecodable frame';
    this.#release(slot, 'undecodable frame');
    slot.ws.terminate();
  }

  #send(ws: WebSocket, stream: FakeStream, msg: Record<string, unknown>): void {
    if (this.#frozen) {
      return;
    }
    const slot = this.#slotOf.get(ws);
    if (slot) {
      slot.lastSentAt = performance.now();
    }
    if (this.#opts.record) {
      stream.sent.push(msg);
    }
    ws.send(encode(msg));
  }

  #step(): void {
    const active = [...this.#slots].filter((s) => s.buffered >= FAKE_FRAME);
    if (active.length > 0) {
      this.globalStep++;
      for (const slot of active) {
        this.#process(slot, takeFrame(slot));
      }
    }
    for (const slot of this.#slots) {
      const due = slot.markers.filter((m) => m.target <= this.globalStep);
      if (due.length > 0) {
        slot.markers = slot.markers.filter((m) => m.target > this.globalStep);
        for (const m of due) {
          this.#send(slot.ws, slot.stream, { type: 'Marker', id: m.id });
        }
      }
    }
  }

  #process(slot: Slot, frame: number[]): void {
    const step = slot.step++;
    const delay = this.#opts.delaySteps;
    const at = (s: number): number => s * (FAKE_FRAME / FAKE_RATE);
    if (step === 1 && this.#opts.emptyFirstWord) {
      slot.pending.push({ atStep: step, msg: { type: 'Word', text: '', start_time: 0 } });
    }
    const cls = classifyFrame(frame);
    if (slot.run && slot.run.index !== cls) {
      const text = this.#opts.vocabulary[slot.run.index] ?? `word${slot.run.index}`;
      slot.pending.push({
        atStep: step + delay,
        msg: { type: 'Word', text, start_time: at(slot.run.start) },
      });
      slot.lastWordEnd = step;
      slot.run = null;
    }
    if (cls >= 0 && !slot.run) {
      if (slot.lastWordEnd !== null) {
        // EndWord comes only when a new word begins (end-of-padding token), as in moshi-core.
        slot.pending.push({
          atStep: step + delay,
          msg: { type: 'EndWord', stop_time: at(slot.lastWordEnd) },
        });
        slot.lastWordEnd = null;
      }
      slot.run = { index: cls, start: step };
    }
    slot.silentRun = cls < 0 ? slot.silentRun + 1 : 0;
    const due = slot.pending.filter((p) => p.atStep <= step);
    slot.pending = slot.pending.filter((p) => p.atStep > step);
    for (const p of due) {
      this.#send(slot.ws, slot.stream, p.msg);
    }
    if (this.#opts.steps) {
      const prs = HORIZONS.map((h) => Math.min(0.99, 0.02 + (0.97 * slot.silentRun) / h));
      this.#send(slot.ws, slot.stream, {
        type: 'Step',
        step_idx: this.globalStep,
        prs,
        buffered_pcm: slot.buffered,
      });
    }
  }
}
