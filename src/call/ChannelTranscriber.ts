/**
 * One side of a call (`caller` or `callee`) on its way to the STT: the audio received before its
 * stream opens (kept, bounded by `stt.earlyAudioMs`, as 16-bit samples), the STT slot and stream,
 * its words and utterances onto the TranscriptBus with the channel's label, its count in
 * `sipscribe_stt_streams`, and the flush at the end. A SIP call has one (the caller); a source that
 * carries both directions (Twilio `both_tracks`, a stereo FreeSWITCH stream) has two, each with its
 * own slot, stream and flush.
 *
 * The kind of source decides who owns the channel's timing (`source`): a `paced` source (an RTP
 * session: one frame per 80 ms of call time, silence included) hands its frames to the STT stream
 * as they come, and frame 0's call time (the oldest frame kept) comes from the clock; a `bursty`
 * one (the ingress streams, whose audio may come in bursts or stop) is paced by the stream's
 * `FramePacer`, which also fills silence, and frame 0's call time comes from the count of frames
 * received before it (only sample counts tell time there).
 */
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import {
  FRAME_MS,
  FRAME_SAMPLES,
  type FinalTranscript,
  type SttPool,
  type SttStream,
  type SttStreamDelegate,
} from '../stt/index.js';
import type { Channel } from '../transcripts/channelEvents.js';
import type { TranscriptBus } from '../transcripts/TranscriptBus.js';
import { callSttDelegate, StreamGauge } from './callStt.js';
import type { DeferredCall } from './DeferredCall.js';

/** What a channel needs from the call and the endpoint. */
interface ChannelTranscriberDeps {
  readonly callId: string;
  readonly channel: Channel;
  readonly log: Logger;
  readonly bus: TranscriptBus;
  readonly metrics: Metrics;
  readonly pool: SttPool;
  /** Monotonic clock (the STT stream's). */
  readonly clock: Clock;
  /** Wall clock (epoch ms). */
  readonly wallClock: () => number;
  /** Audio kept before the stream opens, in ms (`stt.earlyAudioMs`); the oldest goes beyond it. */
  readonly earlyAudioMs: number;
  /** The kind of source (see the file comment): who owns the timing; default `paced`. */
  readonly source?: 'paced' | 'bursty';
  /** The stream gave up its failover: it is on no server any more. */
  readonly onFailoverGivenUp: () => void;
}

/**
 * What `open()` came to: `stream` (streaming, the early audio sent first), `defer` (no slot and
 * `stt.whenFull: "defer"`: the early audio is the caller's to take with `takeEarly()`), `full` (no
 * slot, `reject`), or `closed` (the channel was aborted or flushed while the slot was sought).
 */
type OpenOutcome = 'stream' | 'defer' | 'full' | 'closed';

/**
 * Frames kept until the stream opens, as 16-bit samples (half the memory of float32: 10 s of
 * 24 kHz audio is 480 KB), the latest `maxFrames` of them.
 */
class EarlyAudio {
  readonly #frames: Int16Array[] = [];
  readonly #max: number;
  /** Frames dropped because the backlog was full (the oldest go first). */
  dropped = 0;

  constructor(maxFrames: number) {
    this.#max = maxFrames;
  }

  get length(): number {
    return this.#frames.length;
  }

  push(frame: Float32Array): void {
    if (this.#max <= 0) {
      this.dropped++;
      return;
    }
    const pcm = new Int16Array(frame.length);
    for (let i = 0; i < frame.length; i++) {
      const s = Math.max(-1, Math.min(1, frame[i] as number));
      pcm[i] = Math.round(s * 32767);
    }
    this.#frames.push(pcm);
    if (this.#frames.length > this.#max) {
      this.#frames.shift();
      this.dropped++;
    }
  }

  /** Every frame kept, as float32, oldest first; the backlog is empty after. */
  take(): Float32Array[] {
    return this.#frames.splice(0).map((pcm) => {
      const f = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) {
        f[i] = (pcm[i] as number) / 32767;
      }
      return f;
    });
  }
}

export class ChannelTranscriber {
  readonly channel: Channel;
  readonly #d: ChannelTranscriberDeps;
  readonly #gauge: StreamGauge;
  readonly #early: EarlyAudio;
  #stream: SttStream | null = null;
  #opening: Promise<OpenOutcome> | null = null;
  #closed = false;
  /** Frames received in all (early ones included). */
  #received = 0;

  constructor(deps: ChannelTranscriberDeps) {
    this.#d = deps;
    this.channel = deps.channel;
    this.#gauge = new StreamGauge(deps.metrics.sttStreams);
    this.#early = new EarlyAudio(Math.ceil(deps.earlyAudioMs / FRAME_MS));
  }

  /** Whether the stream is open and taking frames. */
  get streaming(): boolean {
    return this.#stream !== null;
  }

  /** Frames received so far (kept, streamed or dropped). */
  get framesReceived(): number {
    return this.#received;
  }

  /** Frames kept and not yet streamed. */
  get earlyFrames(): number {
    return this.#early.length;
  }

  /**
   * One frame of the channel's audio (1920 samples at 24 kHz), borrowed (the caller may reuse its
   * buffer: the stream sends it before this returns or copies it to wait, the early audio keeps
   * its own 16-bit copy): to the stream, or kept until it opens. Ignored once the channel is closed.
   */
  push(frame: Float32Array): void {
    if (this.#closed || frame.length !== FRAME_SAMPLES) {
      return;
    }
    this.#received++;
    if (this.#stream) {
      this.#stream.pushFrame(frame);
    } else {
      this.#early.push(frame);
    }
  }

  /**
   * Takes an STT slot and opens the stream, the early audio first, at its place in call time.
   * Once per channel: every call returns the same promise.
   * @param at the call's answer: `clock.now()` and the wall clock then
   */
  open(at: { answeredAt: number; answeredWallMs: number }): Promise<OpenOutcome> {
    this.#opening ??= this.#open(at);
    return this.#opening;
  }

  async #open(at: { answeredAt: number; answeredWallMs: number }): Promise<OpenOutcome> {
    const { pool, clock, log } = this.#d;
    const adm = await pool.admit();
    if (this.#closed) {
      if (adm.decision === 'stream') {
        adm.reservation.release();
      }
      return 'closed';
    }
    if (adm.decision !== 'stream') {
      return adm.decision === 'defer' ? 'defer' : 'full';
    }
    const kept = this.#early.length;
    // Call time of the stream's frame 0 (the oldest frame kept).
    const paced = this.#d.source !== 'bursty';
    const startMs = paced
      ? Math.max(0, clock.now() - at.answeredAt - kept * FRAME_MS)
      : (this.#received - kept) * FRAME_MS;
    this.#stream = pool.open(
      adm.reservation,
      {
        callId: this.#d.callId,
        answeredAt: at.answeredAt,
        answeredWallMs: at.answeredWallMs,
        startMs,
        backlog: this.#early.take(),
        pacing: paced ? 'source' : 'stream',
        // An RTP session's frames are its 8 kHz audio upsampled: the replay buffer keeps 8 kHz.
        audio: paced ? 'narrowband' : 'wideband',
      },
      this.delegate(),
    );
    this.#gauge.set(adm.reservation.server);
    log.info(
      {
        stt: adm.reservation.server,
        channel: this.channel,
        afterAnswerMs: clock.now() - at.answeredAt,
        earlyFrames: kept,
        earlyDropped: this.#early.dropped,
      },
      'stt stream open',
    );
    return 'stream';
  }

  /** The early audio, for a recording when the call is deferred; nothing is kept after. */
  takeEarly(): Float32Array[] {
    return this.#early.take();
  }

  /**
   * This channel's deferred recording after the call: waits for a slot, streams it, flushes; its
   * words labelled with the channel and counted on the server that took it.
   * @returns null when the shutdown cancelled it (the recording is left as it is).
   */
  transcribeDeferred(deferred: DeferredCall, answeredWallMs: number): Promise<FinalTranscript | null> {
    return deferred.transcribe(
      this.#d.pool,
      { answeredWallMs, clock: this.#d.clock, onStreamOpen: (server) => this.countOn(server) },
      this.delegate(),
    );
  }

  /** Moves this channel's count in `sipscribe_stt_streams` (a deferred transcription's server). */
  countOn(server: string | null): void {
    this.#gauge.set(server);
  }

  /** The STT delegate of this channel: words and utterances labelled with it. */
  delegate(): SttStreamDelegate {
    const { callId, channel, log, bus, metrics, wallClock } = this.#d;
    return callSttDelegate({
      callId,
      channel,
      log,
      bus,
      metrics,
      wallClock,
      gauge: this.#gauge,
      onFailoverGivenUp: () => this.#d.onFailoverGivenUp(),
    });
  }

  /**
   * The end of the channel: waits for a stream being opened, then for the audio still queued
   * for real-time pacing to reach the server (a backlog or a burst: the server transcribes in real
   * time, so flushing it all at once would cut its end), flushes the stream (its last words
   * arrive first) and gives its slot and count back. Null when no stream was opened. `abort()`
   * cuts the wait.
   */
  async flush(): Promise<FinalTranscript | null> {
    await this.#opening;
    this.#closed = true;
    this.#early.take();
    const { clock } = this.#d;
    while (
      this.#stream &&
      this.#stream.queuedFrames > 0 &&
      (this.#stream.state === 'streaming' || this.#stream.state === 'reconnecting')
    ) {
      await new Promise<void>((r) => clock.setTimeout(r, FRAME_MS));
    }
    try {
      // (The stream stays referenced while it flushes: abort() may cut the flush.)
      return this.#stream ? await this.#stream.flush() : null;
    } finally {
      this.#stream = null;
      this.#gauge.set(null);
    }
  }

  /** Ends at once (shutdown past its deadline): the stream is closed without a flush. */
  abort(): void {
    this.#closed = true;
    this.#stream?.close();
    this.#stream = null;
    this.#gauge.set(null);
  }
}

/**
 * Flushes every channel of a call at its end (a failure is logged and leaves that channel null)
 * and logs one `call transcript final` line with each channel's words, completeness and audio.
 * @param finish how a channel ends (default its flush; a deferred channel's is its transcription)
 * @returns each channel's transcript, in order (null: none, failed or cancelled)
 */
export async function flushChannels(
  channels: readonly ChannelTranscriber[],
  log: Logger,
  finish: (stt: ChannelTranscriber) => Promise<FinalTranscript | null> = (stt) => stt.flush(),
): Promise<(FinalTranscript | null)[]> {
  const finals = await Promise.all(
    channels.map((stt) =>
      finish(stt).catch((err: unknown) => {
        log.error({ err, channel: stt.channel }, 'transcription at the end of the call failed');
        return null;
      }),
    ),
  );
  log.info(
    {
      channels: finals.map((f, i) => ({
        channel: channels[i]?.channel,
        words: f?.words.length ?? 0,
        complete: f?.complete ?? false,
        audioMs: f?.audioMs ?? 0,
      })),
    },
    'call transcript final',
  );
  return finals;
}
