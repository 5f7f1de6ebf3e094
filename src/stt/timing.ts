/**
 * Mapping server time onto call time, across reconnects, and the failover replay window.
 *
 * A moshi-server stream's `start_time`/`stop_time` are seconds of *that stream's* audio since its
 * slot was initialised (already corrected for the model delay). The client numbers every frame it
 * streams for a call (k = 0, 1, … each 80 ms, caller audio and inserted silence alike), so frame k
 * is at `offsetMs + k · 80` ms of call time. A connection whose first frame was call frame `base`
 * (0 for the first one, the replay start after a failover) maps `t` seconds to
 * `offsetMs + base · 80 + t · 1000`.
 */
import { FRAME_MS } from './protocol.js';

/**
 * Call time (ms since answer) of a server time.
 * @param offsetMs - call time of frame 0 (the stream opened that long after the answer).
 * @param baseFrame - call frame index of the connection's first frame.
 * @param serverSeconds - `start_time`/`stop_time` from the server.
 */
export function serverToCallMs(offsetMs: number, baseFrame: number, serverSeconds: number): number {
  return Math.round(offsetMs + baseFrame * FRAME_MS + serverSeconds * 1000);
}

/** Call frame index that contains call time `callMs`. */
export function callMsToFrame(offsetMs: number, callMs: number): number {
  return Math.floor((callMs - offsetMs) / FRAME_MS);
}

interface ReplayWindowInput {
  /** Frames streamed when the connection was lost. */
  readonly dropFrame: number;
  /** Call frame of the last word delivered, or null if none yet. */
  readonly lastWordFrame: number | null;
  /** Oldest frame still held in the replay buffer. */
  readonly oldestFrame: number;
  /** Replay at least this many frames before the drop. */
  readonly minFrames: number;
  /** Never replay more than this many frames before the drop. */
  readonly maxFrames: number;
}

/**
 * First frame to replay on the new connection: no later than the onset of the last word already
 * delivered (everything after it may not have been transcribed yet), and at least `minFrames`
 * before the drop, within what the buffer holds and `maxFrames`.
 */
export function replayStartFrame(w: ReplayWindowInput): number {
  const wanted = Math.min(w.dropFrame - w.minFrames, w.lastWordFrame ?? 0);
  return Math.max(0, wanted, w.dropFrame - w.maxFrames, w.oldestFrame);
}

/**
 * Whether a word from a replaying connection repeats one already delivered: it starts inside the
 * replayed window (before the drop) and no later than the last delivered word's start plus a
 * tolerance (the model restarts without context, so its timing may move by a frame or two).
 */
export function isReplayDuplicate(
  wordStartMs: number,
  dropMs: number,
  lastDeliveredStartMs: number | null,
  toleranceMs: number,
): boolean {
  return (
    lastDeliveredStartMs !== null && wordStartMs < dropMs && wordStartMs <= lastDeliveredStartMs + toleranceMs
  );
}

/** Float sample → 16-bit: ×32768, rounded, within int16 (1.0 becomes 32767). */
function toInt16(v: number): number {
  const x = Math.round(v * 32768);
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}

/**
 * The last few seconds of streamed frames, kept for a failover replay as 16-bit samples (3840 B
 * per 80 ms frame instead of 7680 B as float32, and no reference to the caller's frames): the
 * frames are regenerated (`/ 32768`) only on a replay. Phone audio loses nothing: it came from
 * 16-bit G.711 samples, and the 8 → 24 kHz upsampler passes every third sample through unchanged;
 * the others move by at most half a 16-bit step (−96 dB), below what the model hears.
 */
export class ReplayBuffer {
  /** One 16-bit frame per slot, reused when the ring wraps (allocated as the call goes on). */
  readonly #frames: (Int16Array | undefined)[];
  #next = 0;

  constructor(capacityFrames: number) {
    this.#frames = new Array<Int16Array | undefined>(Math.max(1, capacityFrames));
  }

  /** Records call frame `next` (frames are numbered in order from 0); `pcm` is not kept. */
  push(pcm: Float32Array): void {
    const at = this.#next % this.#frames.length;
    let slot = this.#frames[at];
    if (slot?.length !== pcm.length) {
      slot = new Int16Array(pcm.length);
      this.#frames[at] = slot;
    }
    for (let i = 0; i < pcm.length; i++) {
      slot[i] = toInt16(pcm[i] ?? 0);
    }
    this.#next++;
  }

  /** Index the next frame will get (= frames recorded). */
  get nextFrame(): number {
    return this.#next;
  }

  /** Oldest frame still held. */
  get oldestFrame(): number {
    return Math.max(0, this.#next - this.#frames.length);
  }

  /** Bytes held by the samples (for the memory figures). */
  get bytes(): number {
    return this.#frames.reduce((n, f) => n + (f?.byteLength ?? 0), 0);
  }

  /** Frames `from` (inclusive) to the newest, oldest first, regenerated as float32 in [-1, 1). */
  since(from: number): Float32Array[] {
    const out: Float32Array[] = [];
    for (let k = Math.max(from, this.oldestFrame); k < this.#next; k++) {
      const f = this.#frames[k % this.#frames.length];
      if (f) {
        const pcm = new Float32Array(f.length);
        for (let i = 0; i < f.length; i++) {
          pcm[i] = (f[i] ?? 0) / 32768;
        }
        out.push(pcm);
      }
    }
    return out;
  }
}

/** What a new connection gets after a failover. */
interface ReplayPlan {
  /** Call frames to replay, oldest first (after `prefixFrames` of silence). */
  readonly frames: readonly Float32Array[];
  /** Zero frames sent before them (the 2.6B model needs a silence prefix; not call time). */
  readonly prefixFrames: number;
  /** Call frame index of the new connection's time 0: `prefixFrames` before the first replayed frame. */
  readonly baseFrame: number;
}

/** The replay after a drop at `dropFrame` (see `replayStartFrame`), from what `ring` holds. */
export function planReplay(
  ring: ReplayBuffer,
  o: {
    readonly dropFrame: number;
    readonly lastWordFrame: number | null;
    readonly minReplayMs: number;
    readonly replayBufferMs: number;
    readonly replayPrefixMs: number;
  },
): ReplayPlan {
  const start = replayStartFrame({
    dropFrame: o.dropFrame,
    lastWordFrame: o.lastWordFrame,
    oldestFrame: ring.oldestFrame,
    minFrames: Math.ceil(o.minReplayMs / FRAME_MS),
    maxFrames: Math.ceil(o.replayBufferMs / FRAME_MS),
  });
  const frames = ring.since(start);
  const prefixFrames = Math.ceil(o.replayPrefixMs / FRAME_MS);

  return { frames, prefixFrames, baseFrame: ring.nextFrame - frames.length - prefixFrames };
}
