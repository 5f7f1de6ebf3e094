/**
 * The types around SttStream: what it needs (a link, a host), what it tells (the delegate), and
 * how it is set up (per-call options, pool-wide settings) and observed (state, counters).
 */
import type { SttConnectOptions, SttConnectionDelegate, SttServerConfig } from './SttConnection.js';
import type { TurnDetectorOptions } from './TurnDetector.js';
import type { SttError } from './errors.js';
import type { FrameAudio } from './timing.js';
import type { SttUtterance, SttWord } from './types.js';

/** The WebSocket side a stream needs (implemented by SttConnection; a fake in unit tests). */
export interface SttLink {
  readonly server: SttServerConfig;
  readonly isOpen: boolean;
  readonly bufferedAmount: number;
  /** Clock time of the server's last message or ping. */
  readonly lastActivityAt: number;
  attach(delegate: SttConnectionDelegate): void;
  sendAudio(pcm: Float32Array): void;
  sendMarker(id: number): void;
  close(): void;
}

/**
 * A link as the pool holds it (reserved, warm, or a stream's): an `SttConnection`, or its stand-in
 * for one whose socket is on a media thread (`SttLinkThreads`).
 */
export interface PooledLink extends SttLink {
  /** Set again when a warm link is taken (its idle time no longer counts against the server). */
  lastActivityAt: number;
  /** Resolves when the TCP connection is gone. */
  readonly closed: Promise<void>;
}

/** Opens a link and waits for `Ready` (`SttConnection.connect`, or on another thread). */
export type SttConnector = (server: SttServerConfig, opts: SttConnectOptions) => Promise<PooledLink>;

/** What the stream needs from its pool. */
export interface SttStreamHost {
  /** A new connection for a failover, to any server (the failed one last); rejects after `deadlineMs`. */
  reconnect(failed: SttServerConfig, deadlineMs: number): Promise<SttLink>;
  /** The stream is done with this connection (closed by the stream). */
  released(link: SttLink): void;
  /** The server is behind real time by `lagMs` for this stream. */
  reportLag(server: SttServerConfig, lagMs: number): void;
}

/** Upward notifications; all optional, all called synchronously, never with a throw back. */
export interface SttStreamDelegate {
  /** A word, as soon as it arrives (duplicates from a failover replay are not reported). */
  onWord?(word: SttWord): void;
  /** A word's `EndWord` arrived after the word (same object, `endMs` now set). */
  onWordEnd?(word: SttWord): void;
  /** A turn ended: final utterance. */
  onUtterance?(utterance: SttUtterance): void;
  /** Something went wrong (lost server, flush timeout, failover gave up); the stream goes on if it can. */
  onError?(err: SttError): void;
  /** The stream moved to a new connection after its server was lost. */
  onReconnect?(info: SttReconnectInfo): void;
}

export interface SttReconnectInfo {
  readonly from: string;
  readonly to: string;
  /** Audio replayed from the buffer (ms). */
  readonly replayedMs: number;
  /** Time without a server (ms). */
  readonly outageMs: number;
}

/** Per-call options of `SttPool.open()`. */
export interface SttStreamOptions {
  readonly callId: string;
  /** `clock.now()` at the call answer; defaults to the moment of `open()` (frame 0 = answer). */
  readonly answeredAt?: number;
  /**
   * Call time (ms since the answer) of the stream's frame 0: the oldest frame of `backlog`, else
   * the first pushed. Default: the time from `answeredAt` to `open()`.
   */
  readonly startMs?: number;
  /**
   * The call's audio kept before the stream opened (1920-sample frames, oldest first, frame 0 at
   * `startMs`; other sizes are refused, counted), handed over to the stream. Frames whose call
   * time has passed go out at once (the stream then runs at call time, not behind it by the
   * opening delay); frames that arrived ahead of real time wait for their time.
   */
  readonly backlog?: readonly Float32Array[];
  /** Wall clock (epoch ms) at the answer; defaults to `wallClock()` at open minus the offset. */
  readonly answeredWallMs?: number;
  /** Turn detection settings (Unmute's defaults). */
  readonly turns?: TurnDetectorOptions;
  /** Playback speed (1 = real time; the deferred path may go faster). */
  readonly speed?: number;
  /**
   * Who owns the timing of the frames. `stream` (default): the stream's `FramePacer` sends frame k
   * at its time and inserts zero frames when the source lags (a file, a deferred recording, a
   * source that bursts or stops). `source`: the source delivers one frame per 80 ms of call time
   * itself, silence included, until the flush (an RTP session): each frame goes out as it is
   * pushed and nothing is inserted (moshi-server closes a stream that gets no frame for 20 s).
   */
  readonly pacing?: 'stream' | 'source';
  /**
   * What the frames carry, for the failover replay buffer (`ReplayBuffer`). `wideband` (default):
   * any 24 kHz audio, kept as 16-bit samples (480 KB per 10 s). `narrowband`: 8 kHz audio
   * upsampled by the media layer's `Upsampler8to24` (an RTP session's frames): only the 8 kHz
   * samples are kept, as μ-law (80 KB per 10 s), and upsampled again on a replay.
   */
  readonly audio?: FrameAudio;
}

/** Stream tunables resolved by the pool. */
export interface SttStreamSettings {
  /** The model's delay (`asr_delay_in_tokens` × 80 ms): 480 for stt-1b-en_fr, 2560 for stt-2.6b-en. */
  readonly modelDelayMs: number;
  /**
   * The flush gives up when the server sends nothing (no Step, no word, no Marker) for this long;
   * default `max(5000, 3 × delay + 2000)`.
   */
  readonly flushTimeoutMs?: number;
  /**
   * Bound on the whole flush, however busy the server (a server behind real time returns the
   * Marker only after its backlog; default 60 000 ms).
   */
  readonly flushMaxMs?: number;
  /** Silence kept flowing after the Marker echo for words emitted one step late (default 240). */
  readonly flushGraceMs?: number;
  /** Audio kept for a failover replay (default 10 000 ms). */
  readonly replayBufferMs?: number;
  /** Replay at least this much before the drop (default 3000 ms). */
  readonly minReplayMs?: number;
  /**
   * Silence sent on a new connection before the replay (default 1000 ms when the model delay is
   * 2 s or more, i.e. stt-2.6b-en, whose reference client sends 1 s of silence first "for
   * technical reasons"; else 0). It is not call audio: times stay mapped to the call.
   */
  readonly replayPrefixMs?: number;
  /**
   * A server silent this long (no message, no ping; moshi-server pings every 10 s when idle) is
   * taken for dead (power loss, half-open TCP) and failed over (default 15 000 ms).
   */
  readonly deadPeerMs?: number;
  /** Bound on finding a new server after a drop (default 5000 ms). */
  readonly reconnectTimeoutMs?: number;
  /** A word within this of the last delivered one, in the replayed window, is a duplicate (160 ms). */
  readonly dedupToleranceMs?: number;
  /** Server backlog (Step.buffered_pcm or socket buffer) above this is reported as lag (1000 ms). */
  readonly lagThresholdMs?: number;
  readonly leadFrames?: number;
  readonly fillAfterFrames?: number;
}

export type SttStreamState = 'streaming' | 'reconnecting' | 'flushing' | 'closed' | 'failed';

/** Counters of one stream. */
export interface SttStreamStats {
  framesSent: number;
  framesFilled: number;
  framesReplayed: number;
  framesRefused: number;
  duplicatesDropped: number;
  reconnects: number;
  maxBufferedPcm: number;
  maxSocketBuffered: number;
}

/** The settings with every default filled in (the defaults documented on `SttStreamSettings`). */
export function resolveStreamSettings(settings: SttStreamSettings): Required<SttStreamSettings> {
  return {
    modelDelayMs: settings.modelDelayMs,
    flushTimeoutMs: settings.flushTimeoutMs ?? Math.max(5000, 3 * settings.modelDelayMs + 2000),
    flushMaxMs: settings.flushMaxMs ?? 60_000,
    flushGraceMs: settings.flushGraceMs ?? 240,
    replayBufferMs: settings.replayBufferMs ?? 10_000,
    minReplayMs: settings.minReplayMs ?? 3000,
    replayPrefixMs: settings.replayPrefixMs ?? (settings.modelDelayMs >= 2000 ? 1000 : 0),
    reconnectTimeoutMs: settings.reconnectTimeoutMs ?? 5000,
    deadPeerMs: settings.deadPeerMs ?? 15_000,
    dedupToleranceMs: settings.dedupToleranceMs ?? 160,
    lagThresholdMs: settings.lagThresholdMs ?? 1000,
    leadFrames: settings.leadFrames ?? 5,
    fillAfterFrames: settings.fillAfterFrames ?? 3,
  };
}
