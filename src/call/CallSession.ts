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
 * ended`, `rejected`, `cancelled`; an illegal move throws); this class drives it through its
 * {@link CallLifecycle}, which reads the session's phase from it and takes each way out once.
 */
import type { Clock } from '../../lib/clock.js';
import type { DtmfEvent, MediaThreads, SocketFactory } from '../../rtp/index.js';
import type { IncomingCall, MediaDescription } from '../../sip/index.js';
import type { CallRegistry } from './CallRegistry.js';
import type { Config } from '../config.js';
import type { EndReason } from '../events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { CallRecorder } from '../recording/CallRecorder.js';
import type { FinalTranscript, SttPool } from '../stt/index.js';
import type { TranscriptBus } from '../transcripts/TranscriptBus.js';
import { CallLifecycle, type EndOutcome } from './CallLifecycle.js';
import { CallMedia } from './CallMedia.js';
import type { ChannelTranscriber } from './ChannelTranscriber.js';
import type { DeferredCall } from './DeferredCall.js';
import type { PendingBudget } from '../recording/PendingRecording.js';
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
  /** Media threads (`rtp.threads`); none: RTP on the main thread. */
  readonly mediaThreads?: MediaThreads;
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

export class CallSession {
  readonly id: string;
  readonly call: SessionCall;
  readonly log: Logger;
  readonly #d: CallSessionDeps;
  /** Its phase (from the registry's state), rejection and end, each once. */
  readonly #life: CallLifecycle;
  #rtp: CallMedia | null = null;
  /** The caller's audio to the STT (the one channel of a SIP call). */
  readonly #stt: ChannelTranscriber;
  /** Deferred from the INVITE on (no STT slot then, `stt.whenFull: "defer"`). */
  #deferFromStart = false;
  #aborted = false;
  /** The deferred call's recording and transcription (null for a call streamed live). */
  #deferred: DeferredCall | null = null;
  /** Resolves when the call reached a terminal state and released everything. */
  readonly done: Promise<void>;

  constructor(id: string, call: SessionCall, log: Logger, deps: CallSessionDeps) {
    this.id = id;
    this.call = call;
    this.log = log;
    this.#d = deps;
    // (The SIP stack's 488 for an offer without our codecs never reaches a session:
    // CallManager.onRefused records that one.)
    this.#life = new CallLifecycle(id, deps, log, call, 'call', {
      releaseSetup: () => {
        this.#rtp?.close();
        this.#rtp = null;
      },
      ending: (reason) => this.#ending(reason),
      abort: () => this.abort(),
      openStt: () => this.#openStt(),
    });
    this.done = this.#life.done;
    this.#stt = this.#life.transcriber('caller');
    call.on('mediaUpdated', (desc) => this.#onMediaUpdated(desc));
    call.on('dtmf', (e) => this.#onDtmf(e, 'info'));
  }

  /** Registry state of the call (terminal states once over). */
  get state(): string {
    return this.#life.state;
  }

  /**
   * Runs the setup: ring, RTP ports, answer, start media; the STT stream follows at the ACK (at
   * once when it already came). Never rejects: every failure rejects the call or ends it.
   * @param opts.deferred no STT slot at the INVITE (`stt.whenFull: "defer"`): record from the answer
   */
  async start(opts: { ringMs: number; deferred?: boolean }): Promise<void> {
    this.#deferFromStart = opts.deferred === true;
    await this.#life.setup(() => this.#setup(opts.ringMs));
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
        this.#life.sipGone,
      ]);
      if (timer !== undefined) {
        this.#d.clock.clearTimeout(timer);
      }
    }
    if (this.#life.abandoned()) {
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
        onFailed: (err) => {
          this.log.error({ err }, 'media lost: ending the call');
          void this.end('error');
        },
      });
    } catch (err) {
      this.log.error({ err }, 'no RTP port: 503');
      this.#life.reject(503, { reason: 'No Media Port' });
      return;
    }
    if (this.#life.abandoned()) {
      return;
    }
    const address = await sdpAddress(config, this.call.source.address);
    if (this.#life.abandoned()) {
      return;
    }
    const rtp = this.#rtp;
    // (A failure: 488, no common codec, sent by call.answer(); the 'ended' handler recorded it.)
    const remote = await this.#life.answer(() => this.call.answer(rtp.local(address)));
    if (!remote) {
      return;
    }
    this.#life.answered({
      meta: { codec: remote.codec, srtp: remote.srtp?.suite ?? null },
      deferred: this.#deferFromStart,
    });
    this.log.info(
      {
        local: `${address}:${rtp.localPort}`,
        remote: `${remote.address}:${remote.port}`,
        codec: remote.codec,
        ptime: remote.ptime,
        srtp: remote.srtp?.suite ?? null,
        stt: this.#deferFromStart ? 'deferred' : 'at the ACK',
      },
      'call answered',
    );
    rtp.start(remote, () => this.#life.phase === 'live');
    if (this.#deferFromStart) {
      this.#deferred = this.#life.defer(this.#stt);
    } else if (this.call.state === 'confirmed') {
      // The ACK came before the answer settled (a late offer: its ACK carries the SDP answer).
      await this.#life.openStt();
    }
  }

  /**
   * Takes an STT slot and opens the stream, with the audio received since the answer first. When
   * the slot went to another call between the INVITE and the ACK: recorded for later
   * (`whenFull: "defer"`, room left in `storage.pendingMaxBytes`), else the call is hung up (reason
   * `error`, counted as `stt-full`).
   */
  async #openStt(): Promise<void> {
    const { metrics } = this.#d;
    if (this.#life.phase === 'done' || this.#aborted) {
      return;
    }
    const outcome = await this.#stt.open(this.#life);
    if (outcome === 'closed') {
      return;
    }
    if (outcome === 'stream') {
      this.#life.streaming();
      return;
    }
    if (outcome === 'defer' && (this.#d.pendingBudget?.hasRoom() ?? true)) {
      this.log.info('no STT slot at the ACK: recording, transcription deferred');
      this.#deferred = this.#life.defer(this.#stt);
      return;
    }
    this.#stt.takeEarly();
    metrics.admissionRefused.inc({ reason: 'stt-full' });
    this.log.warn('no STT slot at the ACK (taken since the INVITE): hanging up');
    if (this.#life.phase === 'live') {
      void this.end('error');
    }
  }

  #onFrame(frame: Float32Array): void {
    if (this.#life.phase !== 'live') {
      return;
    }
    if (!this.#deferred) {
      // To the stream, or kept until it opens (the transcriber copies: RTP reuses its buffer).
      this.#stt.push(frame);
    }
    if (this.#deferred && !this.#deferred.push(frame)) {
      this.#life.pendingFull('hanging up the deferred call');
    }
    this.#d.recorder?.writeFloat24k(this.id, frame);
  }

  #onDtmf(e: DtmfEvent, via: 'rtp' | 'info'): void {
    if (this.#life.phase !== 'live' || !this.#d.bus.isOpen(this.id)) {
      return;
    }
    this.log.debug({ digit: e.digit, via }, 'dtmf');
    this.#d.bus.publish(this.id, { type: 'dtmf', digit: e.digit, durationMs: e.durationMs });
  }

  #onMediaUpdated(desc: MediaDescription): void {
    if (!this.#rtp || this.#life.phase !== 'live') {
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

  /**
   * Ends an answered call through `ending`: BYE (unless the peer already ended it), RTP closed,
   * STT flushed (or the deferred recording transcribed), then `ended` with the whole transcript.
   * Idempotent; before the answer it rejects (503) or does nothing when already over.
   */
  end(reason: EndReason): Promise<void> {
    return this.#life.end(reason);
  }

  /** The work of `ending`: RTP closed, the STT stream flushed or the deferred audio transcribed. */
  async #ending(reason: EndReason): Promise<EndOutcome> {
    const { recorder } = this.#d;
    this.log.info({ reason }, 'call ending');
    if (this.#rtp) {
      this.#rtp.end();
      this.#rtp = null;
    }
    recorder?.stop(this.id);
    // A stream being opened (ACK just in) is waited for, so a short call still gets its words.
    await this.#life.sttOpened;
    /** Deferred audio: its duration is the call's, and its file goes once the transcript is stored. */
    const deferred = this.#deferred;
    let final: FinalTranscript | null = null;
    let leftPending = false;
    try {
      if (!deferred) {
        final = await this.#stt.flush();
      } else {
        final = await this.#stt.transcribeDeferred(deferred, this.#life.answeredWallMs);
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
    return {
      parked: leftPending,
      ...(deferred ? { durationMs: deferred.durationMs } : {}),
      // The file goes once the sinks (database, JSONL) have the transcript. (After a failure it
      // stays: the next start transcribes it and publishes the utterances.)
      ...(final && deferred ? { after: () => deferred.removeAfter(() => this.#d.bus.flush()) } : {}),
    };
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
