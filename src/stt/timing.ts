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
import { decodeUlaw, encodeUlaw, Upsampler8to24 } from '../../rtp/index.js';
import { FRAME_MS, FRAME_SAMPLES } from './protocol.js';

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
 * What a stream's frames carry, which decides how its replay buffer keeps them
 * (`SttStreamOptions.audio`). `wideband`: any 24 kHz audio. `narrowband`: 8 kHz audio upsampled by
 * the media layer's `Upsampler8to24` (every RTP session's frames).
 */
export type FrameAudio = 'wideband' | 'narrowband';

/** One 8 kHz block, shared by every buffer (single thread; used only within one call). */
const scratch8k = new Int16Array(FRAME_SAMPLES / 3);
/** The upsampler's delay in 24 kHz samples: a regenerated frame is read that much later. */
const DELAY = Upsampler8to24.DELAY;

/**
 * The last few seconds of streamed frames, kept for a failover replay without a reference to the
 * caller's frames; the frames are regenerated only on a replay.
 *
 * - `wideband`: 16-bit samples (3840 B per 80 ms frame instead of 7680 B as float32), regenerated
 *   as `/ 32768`; the samples move by at most half a 16-bit step (−96 dB).
 * - `narrowband`: the upsampler is a third-band Nyquist filter, so every third sample of its output
 *   is an 8 kHz input sample unchanged. Only those are kept, as G.711 μ-law (640 B per frame: 80 KB
 *   for 10 s instead of 480 KB), with the newest frame's last 66 samples as 16-bit (what the
 *   8 kHz samples of the next frame would give: the upsampler's delay). A replay upsamples them
 *   again (the frame before the first one replayed, when held, primes the filter) and reads the
 *   result 66 samples on: the same frames at the same call time. μ-law audio (PCMU) comes back as
 *   it was (within half a 16-bit step); A-law and concealed samples are requantised to the nearest
 *   μ-law level (about 38 dB SNR, what a PCMU call has anyway).
 */
export class ReplayBuffer {
  /** One frame per slot, reused when the ring wraps (allocated as the call goes on). */
  readonly #frames: (Int16Array | Uint8Array | undefined)[];
  /** Narrowband: the newest frame's last `DELAY` samples; else null. */
  readonly #tail: Int16Array | null;
  #next = 0;

  constructor(capacityFrames: number, audio: FrameAudio = 'wideband') {
    this.#frames = new Array<Int16Array | Uint8Array | undefined>(Math.max(1, capacityFrames));
    this.#tail = audio === 'narrowband' ? new Int16Array(DELAY) : null;
  }

  /**
   * Records call frame `next` (frames are numbered in order from 0); `pcm` is not kept.
   * @throws RangeError when a narrowband frame is not 1920 samples.
   */
  push(pcm: Float32Array): void {
    const tail = this.#tail;
    if (tail && pcm.length !== FRAME_SAMPLES) {
      throw new RangeError(
        `ReplayBuffer: a narrowband frame has ${FRAME_SAMPLES} samples, not ${pcm.length}`,
      );
    }
    const at = this.#next % this.#frames.length;
    this.#next++;
    if (tail) {
      let slot = this.#frames[at];
      if (!(slot instanceof Uint8Array)) {
        slot = new Uint8Array(FRAME_SAMPLES / 3);
        this.#frames[at] = slot;
      }
      const lin = scratch8k;
      for (let i = 0; i < lin.length; i++) {
        lin[i] = toInt16(pcm[3 * i] ?? 0);
      }
      encodeUlaw(lin, slot);
      for (let i = 0, from = FRAME_SAMPLES - DELAY; i < DELAY; i++) {
        tail[i] = toInt16(pcm[from + i] ?? 0);
      }
      return;
    }
    let slot = this.#frames[at];
    if (!(slot instanceof Int16Array) || slot.length !== pcm.length) {
      slot = new Int16Array(pcm.length);
      this.#frames[at] = slot;
    }
    for (let i = 0; i < pcm.length; i++) {
      slot[i] = toInt16(pcm[i] ?? 0);
    }
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
    return this.#frames.reduce((n, f) => n + (f?.byteLength ?? 0), this.#tail?.byteLength ?? 0);
  }

  /** Frames `from` (inclusive) to the newest, oldest first, regenerated as float32 in [-1, 1). */
  since(from: number): Float32Array[] {
    const first = Math.max(from, this.oldestFrame);
    const slots: (Int16Array | Uint8Array)[] = [];
    for (let k = first; k < this.#next; k++) {
      const f = this.#frames[k % this.#frames.length];
      if (f) {
        slots.push(f);
      }
    }
    if (!this.#tail) {
      return slots.map((f) => Float32Array.from(f, (v) => v / 32768));
    }
    // Narrowband: the 8 kHz samples of the frames (after the one before, which primes the filter).
    const before = first > this.oldestFrame ? this.#frames[(first - 1) % this.#frames.length] : undefined;
    const warm = before instanceof Uint8Array ? [before] : [];
    const codes = [...warm, ...slots] as Uint8Array[];
    const n = FRAME_SAMPLES / 3;
    const x = new Int16Array(codes.length * n);
    codes.forEach((c, i) => decodeUlaw(c, x.subarray(i * n)));
    const y = new Float32Array(3 * x.length + DELAY);
    new Upsampler8to24().process(x, y);
    // Output sample j of the upsampler is the call's sample j − DELAY of the first frame decoded;
    // its last DELAY samples need 8 kHz samples not received yet: the newest frame's tail.
    for (let i = 0; i < DELAY; i++) {
      y[3 * x.length + i] = (this.#tail[i] ?? 0) / 32768;
    }
    const base = warm.length * FRAME_SAMPLES + DELAY;
    return slots.map((_, i) => y.slice(base + i * FRAME_SAMPLES, base + (i + 1) * FRAME_SAMPLES));
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
