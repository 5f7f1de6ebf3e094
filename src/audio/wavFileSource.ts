/**
 * A WAV file as the STT's input for `sipscribe transcribe`: read with the product's WAV reader and
 * resampled to 24 kHz mono by `rtp/` (`readWavAtRate`: PCM 8/16/24/32-bit, float, µ-law, A-law,
 * any rate and channel count), cut into 1920-sample frames.
 */
import { readFileSync } from 'node:fs';
import { readWavAtRate } from '../../rtp/index.js';
import { framesOf, SttError, STT_ERR, type AudioSource } from '../stt/index.js';

/**
 * Reads and converts the whole file.
 * @throws SttError `STT_ERR_WAV` when the file cannot be read or is not a WAV file we can decode.
 */
export function wavFileSource(path: string): AudioSource {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new SttError(STT_ERR.WAV, `cannot read ${path}: ${(err as Error).message}`);
  }
  let samples: Float32Array;
  try {
    samples = readWavAtRate(bytes, 24_000);
  } catch (err) {
    throw new SttError(STT_ERR.WAV, `${path}: ${(err as Error).message}`);
  }
  const frames = framesOf(samples);
  return { durationMs: Math.round(samples.length / 24), frames: () => frames };
}
