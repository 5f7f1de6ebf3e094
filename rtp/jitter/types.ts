import type { Concealer } from './Concealer.js';

// The jitter buffer's types and default settings (re-exported by JitterBuffer.ts).

/** Decoder of one payload into 16-bit linear samples (e.g. the codec's `decode`). */
export type Decode = (src: Uint8Array, dst: Int16Array) => number;

/**
 * What {@link JitterBuffer.push} did with a packet: `late` is a packet after its playout time that
 * was not waited for (dropped, or held to see whether the next packet is late too: a delay step).
 */
export type PushResult = 'queued' | 'duplicate' | 'late' | 'overflow';

/**
 * The buffer's delay settings for a recogniser (accuracy first, delay bounded; see rtp/README.md):
 * a 60 ms floor rides out 30 ms event-loop stalls and sub-frame jitter without concealing anything;
 * the buffer may grow to 500 ms to wait for a late packet; it shrinks back at most 10 % faster than
 * real time.
 */
export const JITTER_DEFAULTS = { minDelayMs: 60, maxDelayMs: 500, shrinkPercent: 10 } as const;

export interface JitterBufferOptions {
  /** RTP clock rate (Hz). Default 8000. */
  clockRate?: number;
  /** Samples per output frame. Default 160 (20 ms at 8 kHz). */
  frameSamples?: number;
  /** Lowest target delay in ms. Default {@link JITTER_DEFAULTS} (60). */
  minDelayMs?: number;
  /**
   * Highest delay in ms the buffer grows to: the target's ceiling, and how far it may grow to wait
   * for one late packet rather than drop it. Default {@link JITTER_DEFAULTS} (500).
   */
  maxDelayMs?: number;
  /**
   * How fast an excess delay is played away, in percent of real time (10: up to 10 % faster, a
   * 300 ms excess gone in about 3 s). Default {@link JITTER_DEFAULTS} (10).
   */
  shrinkPercent?: number;
  /** How long to conceal a silent sender before playing silence, in ms. Default 60. */
  maxConcealMs?: number;
  /** PLC. Default `silenceConcealer`. */
  concealer?: Concealer;
  /** Largest packet in samples. Default 960 (120 ms at 8 kHz). */
  maxPacketSamples?: number;
}

/** Counters and gauges (the numbers RTCP and the metrics need). */
export interface JitterStats {
  /** Packets accepted into the buffer. */
  received: number;
  /** Packets never played: sequence gaps between played packets. */
  lost: number;
  /** Packets that arrived after their playout time and were dropped (not waited for). */
  late: number;
  /** Times the buffer grew at once to take packets that arrived after their playout time. */
  waits: number;
  /** Talkspurts (RTP marker bit) moved earlier or later to bring the delay to its target. */
  talkspurtMoves: number;
  /** Packets received twice (dropped). */
  duplicated: number;
  /** Packets that arrived after a higher sequence number. */
  reordered: number;
  /** Packets dropped because the buffer was full. */
  overflow: number;
  /** Output frames containing concealed samples. */
  concealedFrames: number;
  /** Output frames played faster or slower to move the delay toward its target. */
  adjustedFrames: number;
  /** Times the timeline was re-anchored (new SSRC, timestamp jump). */
  resyncs: number;
  /** Source splices smoothed because the waveform jumped (see the de-click ramp). */
  declicks: number;
  /** Current buffering delay (ms) above the fastest packet's transit. */
  currentDelayMs: number;
  /** Target delay (ms) derived from the measured jitter. */
  targetDelayMs: number;
  /** 95th percentile of transit above its 10th percentile, over the last 128 packets (ms). */
  jitterMs: number;
}
