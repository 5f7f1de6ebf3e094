// Scripted stand-ins for the SIP call and the STT pool that CallSession and CallManager drive.
import type { MediaDescription } from '../../../sip/index.js';
import type { CallMeta } from '../../../src/events.js';
import type { FinalTranscript, SttAdmission, SttStreamDelegate } from '../../../src/stt/index.js';

type Listener = (...args: never[]) => void;

/** The parts of IncomingCall a session uses, scripted. */
export class FakeCall {
  readonly callId = 'a84b4c76e66710@192.0.2.4';
  readonly from = 'sip:bob@192.0.2.4';
  readonly fromDisplayName = 'Bob';
  readonly to = 'sip:transcribe@192.0.2.10';
  readonly transport = 'udp';
  readonly source = { address: '192.0.2.4', port: 5060 };
  readonly request = { uri: 'sip:transcribe@192.0.2.10' };
  state: 'offered' | 'ringing' | 'answered' | 'confirmed' | 'ended' = 'offered';
  endReason: string | undefined;
  rejected: { status: number; opts: unknown } | null = null;
  answeredWith: { address: string; port: number } | null = null;
  hangups = 0;
  readonly #l: Record<string, Listener[]> = {
    confirmed: [],
    ended: [],
    mediaUpdated: [],
    dtmf: [],
    recordingUpdated: [],
  };
  /**
   * @param autoAck the ACK follows the 200 at once (else `ack()` brings it, or nothing: a caller
   *   that never ACKs)
   */
  constructor(
    readonly remote: MediaDescription,
    readonly autoAck = true,
  ) {}
  on(name: string, l: Listener): this {
    this.#l[name]?.push(l);
    return this;
  }
  emit(name: string, ...args: unknown[]): void {
    for (const l of this.#l[name] ?? []) {
      (l as (...a: unknown[]) => void)(...args);
    }
  }
  ring(): void {
    this.state = 'ringing';
  }
  reject(status: number, opts: unknown = {}): void {
    this.rejected = { status, opts };
    this.end('rejected');
  }
  answer(local: { address: string; port: number }): Promise<MediaDescription> {
    this.answeredWith = local;
    this.state = 'answered';
    if (this.autoAck) {
      this.ack();
    }
    return Promise.resolve(this.remote);
  }
  /** The caller's ACK for our 200. */
  ack(): void {
    if (this.state === 'answered') {
      this.state = 'confirmed';
      this.emit('confirmed');
    }
  }
  hangup(): Promise<void> {
    this.hangups++;
    this.end('bye-local');
    return Promise.resolve();
  }
  end(reason: string): void {
    if (this.state !== 'ended') {
      this.state = 'ended';
      this.endReason = reason;
      this.emit('ended', reason);
    }
  }
}

/** A scripted STT stream: counts frames; flush() emits the scripted words, then resolves. */
export class FakeStream {
  frames = 0;
  flushed = false;
  closed = false;
  /** The deferred path feeds the stream by this. */
  readonly queuedFrames = 0;
  get state(): string {
    return this.closed || this.flushed ? 'closed' : 'streaming';
  }
  readonly server = 'ws://stt.test/api/asr-streaming';
  constructor(
    readonly delegate: SttStreamDelegate,
    readonly words: string[],
  ) {}
  pushFrame(): void {
    if (!this.flushed) {
      this.frames++;
    }
  }
  flush(): Promise<FinalTranscript> {
    this.flushed = true;
    const words = this.words.map((text, i) => ({ seq: i + 1, text, startMs: i * 400, wallMs: 0 }));
    for (const w of words) {
      this.delegate.onWord?.(w);
    }
    if (words.length > 0) {
      this.delegate.onUtterance?.({
        seq: 1,
        text: this.words.join(' '),
        startMs: 0,
        endMs: words.length * 400,
        words,
        final: true,
        reason: 'flush',
      });
    }
    return Promise.resolve({ utterances: [], words, text: '', complete: true, audioMs: 0, reconnects: 0 });
  }
  close(): void {
    this.closed = true;
  }
}

export class FakePool {
  released = 0;
  stream: FakeStream | null = null;
  /** For the deferred path: whether `reserve()` finds a slot; `stopped` as SttPool's. */
  slotFree = false;
  /** How many more `reserve()` calls may find a slot (while `slotFree`). */
  reservable = Number.POSITIVE_INFINITY;
  stopped = false;
  reserves = 0;
  /** Calls to `admit()` (each takes a slot when it streams). */
  admits = 0;
  /** Every stream opened, in order (one per channel of an ingress call). */
  readonly streams: FakeStream[] = [];
  /** What `freeSlots()` answers (null: no server reports its slots). */
  slots: number | null = null;
  freeSlots(): number | null {
    return this.slots;
  }
  /** What `canAdmit()` answers (capacity at the INVITE, no slot taken). */
  capacity = true;
  /** The words of the next streams opened, one list per stream (then `words` for the rest). */
  readonly wordQueue: string[][] = [];
  /** The options of the last `open()`. */
  openOptions: { answeredAt?: number; answeredWallMs?: number; startMs?: number } | null = null;
  next: () => Promise<SttAdmission>;
  constructor(
    decision: 'stream' | 'reject' | 'defer',
    readonly words: string[] = ['hello', 'world'],
  ) {
    this.next = () => Promise.resolve(this.decision(decision));
  }
  decision(d: 'stream' | 'reject' | 'defer'): SttAdmission {
    if (d === 'reject') {
      return { decision: 'reject', retryAfterS: 7 };
    }
    if (d === 'defer') {
      return { decision: 'defer' };
    }
    const reservation = { server: 'ws://stt.test/api/asr-streaming', release: () => void this.released++ };
    return { decision: 'stream', reservation } as unknown as SttAdmission;
  }
  canAdmit(): boolean {
    return this.capacity;
  }
  admit(): Promise<SttAdmission> {
    this.admits++;
    return this.next();
  }
  reserve(): Promise<unknown> {
    this.reserves++;
    if (!this.slotFree || this.stopped || this.reservable <= 0) {
      return Promise.resolve(null);
    }
    this.reservable--;
    const d = this.decision('stream');
    return Promise.resolve(d.decision === 'stream' ? d.reservation : null);
  }
  open(
    _r: unknown,
    o: { answeredAt?: number; answeredWallMs?: number; startMs?: number; backlog?: readonly Float32Array[] },
    delegate: SttStreamDelegate,
  ): FakeStream {
    this.openOptions = o;
    this.stream = new FakeStream(delegate, this.wordQueue.shift() ?? this.words);
    this.streams.push(this.stream);
    for (let i = 0; i < (o.backlog?.length ?? 0); i++) {
      this.stream.pushFrame();
    }
    return this.stream;
  }
}

/** The record of the scripted call (`FakeCall`). */
export const META: CallMeta = {
  sipCallId: 'a84b4c76e66710@192.0.2.4',
  from: '"Bob" <sip:bob@192.0.2.4>',
  to: 'sip:transcribe@192.0.2.10',
  account: null,
  transport: 'udp',
  codec: null,
  source: '192.0.2.4:5060',
};

export const REMOTE: MediaDescription = {
  address: '192.0.2.4',
  port: 40000,
  rtcpPort: 40001,
  rtcpMux: false,
  codec: 'PCMU',
  payloadType: 0,
  ptime: 20,
  direction: 'sendrecv',
};
