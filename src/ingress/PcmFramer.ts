/**
 * Linear 16-bit PCM of one channel at the source's rate (8, 16, 24, 48 kHz…) into the STT's
 * frames: 1920 float samples at 24 kHz (80 ms), resampled by `rtp/`'s polyphase resampler, the last
 * frame padded with silence at the end. Time is the count of samples, never the arrival: a minute
 * of audio pushed at once is a minute of frames.
 */
import { Resampler } from '../../rtp/index.js';
import { FRAME_SAMPLES, SAMPLE_RATE } from '../stt/index.js';

export class PcmFramer {
  readonly #resampler: Resampler | null;
  readonly #onFrame: (frame: Float32Array) => void;
  readonly #frame = new Float32Array(FRAME_SAMPLES);
  #fill = 0;
  #scratch = new Float32Array(0);
  #out = new Float32Array(0);
  /** Input samples pushed so far. */
  samples = 0;

  /** @param rate the input's sample rate in Hz */
  constructor(
    readonly rate: number,
    onFrame: (frame: Float32Array) => void,
  ) {
    this.#resampler = rate === SAMPLE_RATE ? null : new Resampler(rate, SAMPLE_RATE);
    this.#onFrame = onFrame;
  }

  /** Input milliseconds pushed so far. */
  get durationMs(): number {
    return (this.samples * 1000) / this.rate;
  }

  /** Pushes samples (`stride` apart from `offset`: one channel of interleaved audio). */
  push(pcm: Int16Array, offset = 0, stride = 1): void {
    const n = Math.max(0, Math.ceil((pcm.length - offset) / stride));
    if (this.#scratch.length < n) {
      this.#scratch = new Float32Array(n);
    }
    for (let i = 0; i < n; i++) {
      this.#scratch[i] = (pcm[offset + i * stride] as number) / 32768;
    }
    this.samples += n;
    const src = this.#scratch.subarray(0, n);
    if (!this.#resampler) {
      this.#emit(src);
      return;
    }
    const need = this.#resampler.maxOutput(n);
    if (this.#out.length < need) {
      this.#out = new Float32Array(need);
    }
    this.#emit(this.#out.subarray(0, this.#resampler.process(src, this.#out)));
  }

  /** The end of the stream: the resampler's tail and the last frame, padded with zeros. */
  flush(): void {
    if (this.#resampler) {
      const out = new Float32Array(this.#resampler.maxOutput(0) + FRAME_SAMPLES);
      this.#emit(out.subarray(0, this.#resampler.flush(out)));
    }
    if (this.#fill > 0) {
      this.#frame.fill(0, this.#fill);
      this.#fill = 0;
      this.#onFrame(this.#frame);
    }
  }

  #emit(samples: Float32Array): void {
    let pos = 0;
    while (pos < samples.length) {
      const take = Math.min(FRAME_SAMPLES - this.#fill, samples.length - pos);
      this.#frame.set(samples.subarray(pos, pos + take), this.#fill);
      this.#fill += take;
      pos += take;
      if (this.#fill === FRAME_SAMPLES) {
        this.#fill = 0;
        // The receiver copies (ChannelTranscriber.push): the buffer is reused.
        this.#onFrame(this.#frame);
      }
    }
  }
}
