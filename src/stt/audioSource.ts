/**
 * Audio input of the `transcribe` command: anything that yields 24 kHz mono frames of exactly
 * 1920 samples.
 * A WAV file of any rate becomes one through `src/audio/wavFileSource.ts` (rtp/'s reader and resampler).
 */
import { FRAME_SAMPLES } from './protocol.js';

/** 24 kHz mono audio cut into 1920-sample frames (the last one padded with zeros). */
export interface AudioSource {
  /** Duration in ms, when known. */
  readonly durationMs: number | null;
  frames(): Iterable<Float32Array> | AsyncIterable<Float32Array>;
}

/** Cuts mono 24 kHz samples into 1920-sample frames, zero-padding the last. */
export function framesOf(samples: Float32Array): Float32Array[] {
  const out: Float32Array[] = [];
  for (let pos = 0; pos < samples.length; pos += FRAME_SAMPLES) {
    const f = new Float32Array(FRAME_SAMPLES);
    f.set(samples.subarray(pos, Math.min(samples.length, pos + FRAME_SAMPLES)));
    out.push(f);
  }
  return out;
}
