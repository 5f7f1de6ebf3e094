/**
 * One call whose audio comes from another system (Twilio, FreeSWITCH, AudioSocket) rather than
 * sipscribe's own SIP and RTP: the same call record, states and events as a SIP call (`answered`
 * when the stream starts, `streaming` once every channel's STT stream is open, `ending` through the
 * STT flush, `ended` with the whole transcript), one {@link ChannelTranscriber} per channel
 * (`caller`, and `callee` when the source carries both directions), and the audio's time taken
 * from its sample counts, never from its arrival (except for an already paced source, below).
 *
 * A source that sends nothing for `rtp.timeoutMs` ends with `rtp-timeout`. While a channel's STT
 * stream is being opened the source is paused once half of `stt.earlyAudioMs` is waiting, so a
 * burst (a minute sent at once) loses nothing; the STT stream's pacer then plays it in real time.
 * (An adapter whose audio is already paced, `RtpIngress`, says so: `IngressStreamInfo.paced`.)
 *
 * Deferred (`stt.whenFull: "defer"`), as a SIP call is: with no slot for every channel when the
 * stream starts (`start({ deferred: true })`, `call.started.deferred`), or for one channel when its
 * slot went elsewhere meanwhile, a channel's 24 kHz frames are recorded (`DeferredCall`: the caller
 * to `pending/<callId>.wav`, the callee to `pending/<callId>.callee.wav`) and transcribed after the
 * end, its words under its own label. The pending budget (`storage.pendingMaxBytes`) spent ends the
 * call (`error`, counted as `pending-full`); a shutdown past its deadline cancels the transcription
 * and leaves the call parked with its audio pending.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import { CallLifecycle, type EndOutcome } from '../call/CallLifecycle.js';
import type { CallRegistry } from '../call/CallRegistry.js';
import type { Config } from '../config.js';
import type { EndReason, IngressKind } from '../events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { FRAME_MS, type SttPool } from '../stt/index.js';
import type { Channel } from '../transcripts/channelEvents.js';
import type { TranscriptBus } from '../transcripts/TranscriptBus.js';
import { flushChannels, type ChannelTranscriber } from '../call/ChannelTranscriber.js';
import type { DeferredCall } from '../call/DeferredCall.js';
import type { PendingBudget } from '../recording/PendingRecording.js';
import { PcmFramer } from './PcmFramer.js';

/** What an ingress call needs from the running endpoint. */
export interface IngressDeps {
  readonly config: Config;
  readonly calls: CallRegistry;
  readonly bus: TranscriptBus;
  readonly metrics: Metrics;
  readonly pool: SttPool;
  /** Monotonic clock. */
  readonly clock: Clock;
  /** Wall clock (epoch ms). */
  readonly wallClock: () => number;
  /** The disk budget of deferred audio (`storage.pendingMaxBytes`); none: unbounded. */
  readonly pendingBudget?: PendingBudget;
}

/** Where a stream's audio comes from, as its adapter describes it. */
export interface IngressStreamInfo {
  readonly ingress: Exclude<IngressKind, 'sip'>;
  /** The source's own id of the call (AudioSocket UUID, Twilio CallSid, FreeSWITCH call key). */
  readonly key: string;
  readonly from: string;
  readonly to: string;
  /** The peer's address, `host:port`. */
  readonly remote: string;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** What the audio is, e.g. `PCMU/8000`, `L16/16000`. */
  readonly codec: string;
  /** The sample rate of the PCM the adapter pushes. */
  readonly rate: number;
  /** The channels in the order the adapter numbers them (0 = caller). */
  readonly channels: readonly Channel[];
  /**
   * The adapter pushes one 80 ms frame per 80 ms of call time itself, silence included (an
   * `RtpSession`'s playout, `RtpIngress`): its channels' STT streams send the frames as they come
   * (no second pacer) and place the first kept frame by the clock. Otherwise the audio is timed by
   * its sample counts and paced by the streams (a source that bursts or stops).
   */
  readonly paced?: boolean;
}

/** The adapter's hold on its connection: reading paused while the STT streams open. */
export interface SourceFlow {
  pause(): void;
  resume(): void;
}

interface Lane {
  readonly stt: ChannelTranscriber;
  readonly framer: PcmFramer;
  /** The channel's recording when its transcription is deferred (no STT slot for it). */
  deferred: DeferredCall | null;
}

export class IngressCall {
  readonly id: string;
  readonly info: IngressStreamInfo;
  readonly log: Logger;
  readonly #d: IngressDeps;
  readonly #lanes: Lane[];
  readonly #flow: SourceFlow;
  #paused = false;
  #opened: Promise<void> | null = null;
  #idle: TimerHandle | undefined;
  /** Its phase (from the registry's state) and end, once. */
  readonly #life: CallLifecycle;
  /** Resolves once the call is over and everything is released. */
  readonly done: Promise<void>;

  constructor(id: string, info: IngressStreamInfo, log: Logger, deps: IngressDeps, flow: SourceFlow) {
    this.id = id;
    this.info = info;
    this.log = log;
    this.#d = deps;
    this.#flow = flow;
    this.#life = new CallLifecycle(id, deps, log, null, 'ingress call', {
      releaseSetup: () => this.abort(),
      ending: (r) => this.#ending(r),
      abort: () => this.abort(),
    });
    this.done = this.#life.done;
    this.#lanes = info.channels.map((channel) => {
      const lane: Lane = {
        stt: this.#life.transcriber(channel, info.paced ? 'paced' : 'bursty'),
        framer: new PcmFramer(info.rate, (f) => this.#frame(lane, f)),
        deferred: null,
      };
      return lane;
    });
  }

  /** Whether the call still takes audio (not ending or over). */
  get live(): boolean {
    const phase = this.#life.phase;
    return phase === 'setup' || phase === 'live';
  }

  /** Milliseconds of audio received on the first channel. */
  get audioMs(): number {
    return this.#lanes[0]?.framer.durationMs ?? 0;
  }

  /**
   * Answers the call (`call.started`) and opens one STT stream per channel; `deferred` (no slot for
   * every channel at admission, `stt.whenFull: "defer"`): records every channel instead.
   */
  start(opts: { deferred?: boolean } = {}): void {
    this.#life.answered({
      meta: { codec: this.info.codec },
      ...(opts.deferred ? { deferred: true } : {}),
    });
    this.#armIdle();
    if (opts.deferred) {
      this.log.info('no STT slot: recording the stream, transcription deferred');
      for (const l of this.#lanes) {
        l.deferred = this.#life.defer(l.stt);
      }
      this.#opened = Promise.resolve();
      return;
    }
    const life = this.#life;
    this.#opened = Promise.all(this.#lanes.map(async (l) => this.#opened1(l, await l.stt.open(life)))).then(
      (outcomes) => {
        this.#resumeFlow();
        if (outcomes.some((o) => o === 'stream')) {
          this.#life.streaming();
        }
      },
    );
  }

  /** What a channel's `open()` came to: streaming, deferred (room left), or the call ends. */
  #opened1(lane: Lane, outcome: 'stream' | 'defer' | 'full' | 'closed'): 'stream' | 'defer' | 'failed' {
    if (outcome === 'stream') {
      return 'stream';
    }
    if (outcome === 'defer' && (this.#d.pendingBudget?.hasRoom() ?? true)) {
      this.log.info(
        { channel: lane.stt.channel },
        'no STT slot for the channel: recording, transcription deferred',
      );
      lane.deferred = this.#life.defer(lane.stt);
      return 'defer';
    }
    lane.stt.takeEarly();
    if (outcome !== 'closed') {
      this.#d.metrics.admissionRefused.inc({ reason: outcome === 'defer' ? 'pending-full' : 'stt-full' });
      this.log.warn(
        { channel: lane.stt.channel, outcome },
        'no STT slot for a channel of the stream: ending it',
      );
      void this.end('error');
    }
    return 'failed';
  }

  /** One 24 kHz frame of a channel: to its STT stream (or kept until it opens), or its recording. */
  #frame(lane: Lane, frame: Float32Array): void {
    if (!lane.deferred) {
      lane.stt.push(frame);
      return;
    }
    if (!lane.deferred.push(frame) && this.live) {
      this.#life.pendingFull('ending the deferred stream');
    }
  }

  /**
   * PCM of one channel (`channel` is its index in `info.channels`), or interleaved stereo with
   * `stride` 2 and `offset` the channel's index. Ignored once the call is ending.
   */
  push(channel: number, pcm: Int16Array, offset = 0, stride = 1): void {
    const lane = this.#lanes[channel];
    if (!lane || !this.live) {
      return;
    }
    lane.framer.push(pcm, offset, stride);
    this.#armIdle();
    this.#holdIfBacklogged(lane);
  }

  /** Interleaved PCM of every channel (channel 0 first in each sample pair). */
  pushInterleaved(pcm: Int16Array): void {
    const n = this.#lanes.length;
    for (let c = 0; c < n; c++) {
      this.push(c, pcm, c, n);
    }
  }

  /** A key pressed on the phone (`dtmf` event). */
  dtmf(digit: string, durationMs: number): void {
    if (!this.live || !this.#d.bus.isOpen(this.id)) {
      return;
    }
    this.#armIdle();
    this.#d.bus.publish(this.id, { type: 'dtmf', digit, durationMs });
  }

  /** Something arrived that is neither audio nor DTMF (Twilio's marks): the source is alive. */
  touch(): void {
    if (this.live) {
      this.#armIdle();
    }
  }

  /**
   * Ends the call through `ending`: the last partial frame of every channel, each STT stream
   * flushed (both at once), then `ended` with the whole transcript. Idempotent.
   */
  end(reason: EndReason): Promise<void> {
    return this.#life.end(reason);
  }

  /** The work of `ending`: the source resumed, the last frames out, every channel flushed. */
  async #ending(reason: EndReason): Promise<EndOutcome> {
    this.#resumeFlow();
    this.#disarmIdle();
    this.log.info({ reason, audioMs: Math.round(this.audioMs) }, 'call ending');
    for (const l of this.#lanes) {
      l.framer.flush();
    }
    // Every channel's slot sought first: it streams, or its audio is recorded.
    await this.#opened;
    const live = this.#lanes.filter((l) => !l.deferred);
    const [, deferred] = await Promise.all([
      live.length > 0
        ? flushChannels(
            live.map((l) => l.stt),
            this.log,
          )
        : null,
      Promise.all(this.#lanes.flatMap((l) => (l.deferred ? [this.#transcribeDeferred(l, l.deferred)] : []))),
    ]);
    return {
      // Parked: the next start transcribes the caller's file and ends the call.
      parked: deferred.some((d) => d.leftPending),
      // The duration is the audio's (it may have come faster than real time), not the wall's.
      durationMs: Math.round(this.audioMs),
      after: () => {
        for (const d of deferred) {
          if (d.done) {
            // The file goes once the sinks (database, JSONL) have the transcript.
            d.recording.removeAfter(() => this.#d.bus.flush());
          }
        }
      },
    };
  }

  /** A deferred channel after the end: waits for a slot, streams its recording, its words labelled. */
  async #transcribeDeferred(
    lane: Lane,
    recording: DeferredCall,
  ): Promise<{ recording: DeferredCall; done: boolean; leftPending: boolean }> {
    try {
      const final = await lane.stt.transcribeDeferred(recording, this.#life.answeredWallMs);
      this.log.info(
        final
          ? {
              channel: lane.stt.channel,
              words: final.words.length,
              complete: final.complete,
              audioMs: final.audioMs,
            }
          : { channel: lane.stt.channel },
        'deferred channel transcribed',
      );
      return { recording, done: final !== null, leftPending: final === null && recording.onDisk };
    } catch (err) {
      this.log.error({ err, channel: lane.stt.channel }, 'deferred transcription failed: audio kept');
      return { recording, done: false, leftPending: false };
    } finally {
      lane.stt.countOn(null);
    }
  }

  /** Ends at once (shutdown past its deadline): streams closed without their flush. */
  abort(): void {
    for (const l of this.#lanes) {
      l.stt.abort();
      l.deferred?.cancel();
    }
  }

  #holdIfBacklogged(lane: Lane): void {
    if (this.#paused || lane.stt.streaming || lane.deferred || !this.#opened) {
      return;
    }
    if (lane.stt.earlyFrames * FRAME_MS * 2 >= this.#d.config.stt.earlyAudioMs) {
      this.#paused = true;
      this.#disarmIdle(); // (no audio is read while paused)
      this.#flow.pause();
      this.log.debug({ earlyFrames: lane.stt.earlyFrames }, 'source paused until the STT streams open');
    }
  }

  #resumeFlow(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#flow.resume();
      if (this.live) {
        this.#armIdle();
      }
    }
  }

  #armIdle(): void {
    const { clock, config } = this.#d;
    this.#disarmIdle();
    this.#idle = clock.setTimeout(() => {
      this.log.warn({ timeoutMs: config.rtp.timeoutMs }, 'no audio from the source: ending the call');
      void this.end('rtp-timeout');
    }, config.rtp.timeoutMs);
  }

  #disarmIdle(): void {
    if (this.#idle !== undefined) {
      this.#d.clock.clearTimeout(this.#idle);
      this.#idle = undefined;
    }
  }
}
