/**
 * One incoming call, from the INVITE to `call.ended`: RTP session, answer, STT stream at the ACK,
 * frames to the STT stream, words and utterances onto the TranscriptBus, and every way out through
 * `ending` (STT flush) with every socket, timer and WebSocket released.
 *
 * The STT slot is taken when the ACK arrives, not at the INVITE or the answer: a caller that never
 * ACKs our 200 (a scanner, an attacker) holds no STT slot and leaves no half-open stream; the call
 * ends at the ACK timeout (64·T1) having used one RTP port pair. The audio between the answer and
 * the stream's opening (the ACK's round trip plus the WebSocket's `Ready`, seconds when the STT
 * server is loaded) is kept by the call's {@link ChannelTranscriber} (up to `stt.earlyAudioMs`)
 * and sent first, at its place in call time.
 *
 * The call's state lives in the CallRegistry (`offered → ringing → answered → streaming → ending →
 * ended`, `rejected`, `cancelled`; an illegal move throws); this class only drives it.
 */
import type { Clock } from '../../lib/clock.js';
import type { DtmfEvent, SocketFactory } from '../../rtp/index.js';
import type { EndReason as SipEndReason, IncomingCall, MediaDescription } from '../../sip/index.js';
import type { CallRegistry } from './CallRegistry.js';
import type { Config } from '../config.js';
import type { EndReason } from '../events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { CallRecorder } from '../recording/CallRecorder.js';
import type { FinalTranscript, SttPool } from '../stt/index.js';
import type { TranscriptBus } from '../transcripts/TranscriptBus.js';
import { CallMedia } from './CallMedia.js';
import { ChannelTranscriber } from './ChannelTranscriber.js';
import { DeferredCall } from './DeferredCall.js';
import type { PendingBudget } from '../recording/PendingRecording.js';
import { appEndReason } from './endReason.js';
import { sdpAddress } from './sdpAddress.js';

export { appEndReason } from './endReason.js';
export { sdpAddress } from './sdpAddress.js';

/** What a call session needs from the running endpoint. */
export interface CallSessionDeps {
  readonly config: Config;
  readonly calls: CallRegistry;
  readonly bus: TranscriptBus;
  readonly metrics: Metrics;
  readonly recorder: CallRecorder | null;
  readonly pool: SttPool;
  /** Monotonic clock for RTP and STT. */
  readonly clock: Clock;
  /** Wall clock (epoch ms). */
  readonly wallClock: () => number;
  /** RTP sockets (node:dgram unless a test says otherwise). */
  readonly socketFactory?: SocketFactory;
  /** The disk budget of deferred calls' audio (`storage.pendingMaxBytes`); none: unbounded. */
  readonly pendingBudget?: PendingBudget;
}

/**
 * What a session needs of its SIP call (sip/'s `IncomingCall` offers it; the tests script it):
 * its state and end, its source, the answer steps and its events.
 */
export type SessionCall = Pick<
  IncomingCall,
  'state' | 'endReason' | 'source' | 'ring' | 'answer' | 'reject' | 'hangup' | 'on'
>;

type Phase = 'setup' | 'live' | 'ending' | 'done';

export class CallSession {
  readonly id: string;
  readonly call: SessionCall;
  readonly log: Logger;
  readonly #d: CallSessionDeps;
  #phase: Phase = 'setup';
  #rtp: CallMedia | null = null;
  /** The caller's audio to the STT (the one channel of a SIP call). */
  readonly #stt: ChannelTranscriber;
  /** The STT stream being opened (from the ACK until it streams, is deferred or given up). */
  #sttOpening: Promise<void> | null = null;
  /** Deferred from the INVITE on (no STT slot then, `stt.whenFull: "defer"`). */
  #deferFromStart = false;
  #aborted = false;
  /** The deferred call's recording and transcription (null for a call streamed live). */
  #deferred: DeferredCall | null = null;
  #answeredAt = 0;
  #answeredWall = 0;
  #ending: Promise<void> | null = null;
  /**
   * The status we rejected with ourselves (else 488 from `call.answer()`'s offer/answer; the SIP
   * stack's earlier 488 for an offer without our codecs never reaches a session:
   * CallManager.onRefused records that one).
   */
  #rejectStatus: number | null = null;
  #resolveDone!: () => void;
  #resolveSipGone!: () => void;
  /** Resolves when the SIP side of the call ended. */
  readonly #sipGone = new Promise<void>((resolve) => {
    this.#resolveSipGone = resolve;
  });
  /** Resolves when the call reached a terminal state and released everything. */
  readonly done = new Promise<void>((resolve) => {
    this.#resolveDone = resolve;
  });

  constructor(id: string, call: SessionCall, log: Logger, deps: CallSessionDeps) {
    this.id = id;
    this.call = call;
    this.log = log;
    this.#d = deps;
    this.#stt = new ChannelTranscriber({
      callId: id,
      channel: 'caller',
      log,
      bus: deps.bus,
      metrics: deps.metrics,
      pool: deps.pool,
      clock: deps.clock,
      wallClock: deps.wallClock,
      earlyAudioMs: deps.config.stt.earlyAudioMs,
      onFailoverGivenUp: () => {
        if (this.#phase === 'live') {
          void this.end('error');
        }
      },
    });
    call.on('ended', (r) => this.#onSipEnded(r));
    call.on('confirmed', () => {
      if (this.#phase === 'live') {
        void this.#startStt();
      }
    });
    call.on('mediaUpdated', (desc) => this.#onMediaUpdated(desc));
    call.on('dtmf', (e) => this.#onDtmf(e, 'info'));
  }

  /** Registry state of the call (terminal states once over). */
  get state(): string {
    return this.#d.calls.get(this.id)?.state ?? 'ended';
  }

  /**
   * Runs the setup: ring, RTP ports, answer, start media; the STT stream follows at the ACK (at
   * once when it already came). Never rejects: every failure rejects the call or ends it.
   * @param opts.deferred no STT slot at the INVITE (`stt.whenFull: "defer"`): record from the answer
   */
  async start(opts: { ringMs: number; deferred?: boolean }): Promise<void> {
    this.#deferFromStart = opts.deferred === true;
    try {
      await this.#setup(opts.ringMs);
    } catch (err) {
      this.log.error({ err }, 'call setup failed');
      this.#fail(500);
    }
  }

  async #setup(ringMs: number): Promise<void> {
    const { calls, config } = this.#d;
    this.call.ring();
    calls.transition(this.id, 'ringing');
    if (ringMs > 0) {
      // Ring for ringMs (sip.inbound.ringMs), unless the caller gives up first.
      let timer: ReturnType<Clock['setTimeout']> | undefined;
      await Promise.race([
        new Promise<void>((r) => (timer = this.#d.clock.setTimeout(r, ringMs))),
        this.#sipGone,
      ]);
      if (timer !== undefined) {
        this.#d.clock.clearTimeout(timer);
      }
    }
    if (this.#gone()) {
      this.#releaseSetup();
      return;
    }
    if (this.#deferFromStart) {
      this.log.info('no STT slot: answering and recording, transcription deferred');
    }
    try {
      this.#rtp = await CallMedia.open(this.#d, this.log, {
        onFrame: (frame) => this.#onFrame(frame),
        onDtmf: (e) => this.#onDtmf(e, 'rtp'),
        onTimeout: () => {
          this.log.warn({ timeoutMs: config.rtp.timeoutMs }, 'no RTP: ending the call');
          void this.end('rtp-timeout');
        },
      });
    } catch (err) {
      this.log.error({ err }, 'no RTP port: 503');
      this.#reject(503, { reason: 'No Media Port' });
      return;
    }
    if (this.#gone()) {
      this.#releaseSetup();
      return;
    }
    const address = await sdpAddress(config, this.call.source.address);
    if (this.#gone()) {
      this.#releaseSetup();
      return;
    }
    let remote: MediaDescription;
    try {
      remote = await this.call.answer(this.#rtp.local(address));
    } catch (err) {
      // 488 (no common codec) was sent by call.answer(); the 'ended' handler recorded it.
      this.log.info({ err }, 'answer failed');
      this.#releaseSetup();
      return;
    }
    if (this.#phase !== 'setup') {
      return;
    }
    this.#phase = 'live';
    this.#answeredAt = this.#d.clock.now();
    this.#answeredWall = this.#d.wallClock();
    calls.transition(this.id, 'answered', {
      meta: { codec: remote.codec, srtp: remote.srtp?.suite ?? null },
      deferred: this.#deferFromStart,
    });
    this.log.info(
      {
        local: `${address}:${this.#rtp.localPort}`,
        remote: `${remote.address}:${remote.port}`,
        codec: remote.codec,
        ptime: remote.ptime,
        srtp: remote.srtp?.suite ?? null,
        stt: this.#deferFromStart ? 'deferred' : 'at the ACK',
      },
      'call answered',
    );
    this.#rtp.start(remote, () => this.#phase === 'live');
    if (this.#deferFromStart) {
      this.#deferred = this.#record();
    } else if (this.call.state === 'confirmed') {
      // The ACK came before the answer settled (a late offer: its ACK carries the SDP answer).
      await this.#startStt();
    }
    if (this.#sipEnded()) {
      // BYE raced the answer.
      void this.end(appEndReason(this.call.endReason ?? 'error'));
    }
  }

  /** Opens the STT stream once (at the ACK); the same promise for every caller. */
  #startStt(): Promise<void> {
    this.#sttOpening ??= this.#openStt().catch((err: unknown) => {
      this.log.error({ err }, 'opening the STT stream failed');
    });
    return this.#sttOpening;
  }

  /**
   * Takes an STT slot and opens the stream, with the audio received since the answer first. When
   * the slot went to another call between the INVITE and the ACK: recorded for later
   * (`whenFull: "defer"`, room left in `storage.pendingMaxBytes`), else the call is hung up (reason
   * `error`, counted as `stt-full`).
   */
  async #openStt(): Promise<void> {
    const { calls, metrics } = this.#d;
    if (this.#phase === 'done' || this.#aborted) {
      return;
    }
    const outcome = await this.#stt.open({
      answeredAt: this.#answeredAt,
      answeredWallMs: this.#answeredWall,
    });
    if (outcome === 'closed') {
      return;
    }
    if (outcome === 'stream') {
      if (this.#phase === 'live') {
        calls.transition(this.id, 'streaming');
      }
      return;
    }
    if (outcome === 'defer' && (this.#d.pendingBudget?.hasRoom() ?? true)) {
      this.log.info('no STT slot at the ACK: recording, transcription deferred');
      const deferred = this.#record();
      this.#deferred = deferred;
      for (const frame of this.#stt.takeEarly()) {
        deferred.push(frame);
      }
      return;
    }
    this.#stt.takeEarly();
    metrics.admissionRefused.inc({ reason: 'stt-full' });
    this.log.warn('no STT slot at the ACK (taken since the INVITE): hanging up');
    if (this.#phase === 'live') {
      void this.end('error');
    }
  }

  /** The call ended (CANCEL, BYE, failure) while setup was waiting. */
  #gone(): boolean {
    return this.#phase !== 'setup' || this.#sipEnded();
  }

  #sipEnded(): boolean {
    return this.call.state === 'ended';
  }

  #onFrame(frame: Float32Array): void {
    if (this.#phase !== 'live') {
      return;
    }
    if (!this.#deferred) {
      // To the stream, or kept until it opens (the transcriber copies: RTP reuses its buffer).
      this.#stt.push(frame);
    }
    if (this.#deferred && !this.#deferred.push(frame) && this.#phase === 'live') {
      const budget = this.#d.pendingBudget;
      this.log.warn(
        { pendingMaxBytes: budget?.maxBytes, pendingBytes: budget?.usedBytes },
        'pending audio budget spent (storage.pendingMaxBytes): hanging up the deferred call',
      );
      this.#d.metrics.admissionRefused.inc({ reason: 'pending-full' });
      void this.end('error');
    }
    this.#d.recorder?.writeFloat24k(this.id, frame);
  }

  /** Starts recording a deferred call's audio to `pending/`. */
  #record(): DeferredCall {
    const { config, pendingBudget } = this.#d;
    return DeferredCall.record(config.storage.dir, this.id, this.log, pendingBudget ?? null);
  }

  #onDtmf(e: DtmfEvent, via: 'rtp' | 'info'): void {
    if (this.#phase !== 'live' || !this.#d.bus.isOpen(this.id)) {
      return;
    }
    this.log.debug({ digit: e.digit, via }, 'dtmf');
    this.#d.bus.publish(this.id, { type: 'dtmf', digit: e.digit, durationMs: e.durationMs });
  }

  #onMediaUpdated(desc: MediaDescription): void {
    if (!this.#rtp || this.#phase !== 'live') {
      return;
    }
    try {
      this.#rtp.update(desc);
      const meta = this.#d.calls.get(this.id)?.meta;
      const srtp = desc.srtp?.suite ?? null;
      if (desc.codec !== meta?.codec || srtp !== meta.srtp) {
        this.#d.calls.updateMeta(this.id, { codec: desc.codec, srtp });
      }
    } catch (err) {
      this.log.warn({ err }, 'media update failed');
    }
  }

  #onSipEnded(reason: SipEndReason): void {
    this.log.debug({ reason, phase: this.#phase }, 'sip call ended');
    this.#resolveSipGone();
    if (this.#phase === 'setup') {
      this.#phase = 'done';
      const state = this.state;
      if (state === 'offered' || state === 'ringing') {
        if (reason === 'cancel') {
          this.#d.calls.transition(this.id, 'cancelled');
        } else {
          this.#d.calls.transition(this.id, 'rejected', {
            status: this.#rejectStatus ?? (reason === 'rejected' ? 488 : 503),
          });
        }
      }
      this.#releaseSetup();
      return;
    }
    if (this.#phase === 'live') {
      void this.end(appEndReason(reason));
    }
  }

  #reject(status: number, opts: { retryAfter?: number; reason?: string } = {}): void {
    this.#rejectStatus = status;
    if (this.call.state === 'offered' || this.call.state === 'ringing') {
      this.call.reject(status, opts); // 'ended' → #onSipEnded records it
    } else if (this.call.state !== 'ended') {
      // Answered at the SIP level but setup failed after that: hang up ('ended' follows).
      this.call.hangup().catch((err: unknown) => this.log.warn({ err }, 'hangup failed'));
    } else {
      this.#onSipEnded('rejected');
    }
  }

  #fail(status: number): void {
    if (this.#phase === 'setup') {
      this.#reject(status);
    } else if (this.#phase === 'live') {
      void this.end('error');
    }
  }

  /** Frees what setup took when the call never got answered. */
  #releaseSetup(): void {
    this.#rtp?.close();
    this.#rtp = null;
    if (this.#phase === 'setup') {
      this.#phase = 'done';
    }
    if (this.#phase === 'done') {
      this.#resolveDone();
    }
  }

  /**
   * Ends an answered call through `ending`: BYE (unless the peer already ended it), RTP closed,
   * STT flushed (or the deferred recording transcribed), then `ended` with the whole transcript.
   * Idempotent; before the answer it rejects (503) or does nothing when already over.
   */
  end(reason: EndReason): Promise<void> {
    if (this.#phase === 'setup') {
      this.#reject(503);
      return this.done;
    }
    if (this.#phase === 'done') {
      return this.done;
    }
    this.#ending ??= this.#end(reason).catch((err: unknown) => {
      // Never an unhandled rejection: the call is over either way.
      this.log.error({ err }, 'ending the call failed');
      this.#stt.abort();
      this.#phase = 'done';
      this.#resolveDone();
    });
    return this.#ending;
  }

  async #end(reason: EndReason): Promise<void> {
    const { calls, recorder } = this.#d;
    this.#phase = 'ending';
    calls.transition(this.id, 'ending', { reason });
    this.log.info({ reason }, 'call ending');
    if (this.call.state !== 'ended') {
      this.call.hangup().catch((err: unknown) => this.log.warn({ err }, 'hangup failed'));
    }
    if (this.#rtp) {
      this.#rtp.end();
      this.#rtp = null;
    }
    recorder?.stop(this.id);
    // A stream being opened (ACK just in) is waited for, so a short call still gets its words.
    await this.#sttOpening;
    let final: FinalTranscript | null = null;
    /** Deferred audio: its duration is the call's, and its file goes once the transcript is stored. */
    let deferred: DeferredCall | null = null;
    let leftPending = false;
    try {
      if (!this.#deferred) {
        final = await this.#stt.flush();
      } else {
        deferred = this.#deferred;
        final = await this.#stt.transcribeDeferred(deferred, this.#answeredWall);
        leftPending = final === null && deferred.onDisk;
      }
    } catch (err) {
      this.log.error({ err }, 'transcription at the end of the call failed');
    } finally {
      this.#stt.countOn(null);
    }
    this.log.info(
      final
        ? {
            words: final.words.length,
            complete: final.complete,
            audioMs: final.audioMs,
            reconnects: final.reconnects,
          }
        : {},
      'call transcript final',
    );
    this.#phase = 'done';
    if (leftPending) {
      // The row stays `ending`; the next start transcribes the file and ends the call.
      calls.park(this.id);
    } else if (calls.active().some((r) => r.id === this.id)) {
      // (At shutdown past the deadline the registry may already have ended it.)
      calls.transition(this.id, 'ended', deferred ? { durationMs: deferred.durationMs } : {});
    }
    if (final && deferred) {
      // The file goes once the sinks (database, JSONL) have the transcript. (After a failure it
      // stays: the next start transcribes it and publishes the utterances.)
      deferred.removeAfter(() => this.#d.bus.flush());
    }
    this.#resolveDone();
  }

  /**
   * Ends at once without waiting for the STT (the shutdown deadline passed): the stream is closed,
   * the call ends with what was transcribed so far; a deferred transcription is cancelled and its
   * audio left pending on disk.
   */
  abort(): void {
    this.#aborted = true;
    this.#stt.abort();
    this.#deferred?.cancel();
  }
}
