// The public surface of this layer: everything src/ may use is exported here by name.
export { systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';

// ===== Codecs and DSP (rtp/codec, rtp/dsp, rtp/wav.ts): maintained by Media-DSP =====
export {
  decodeUlaw,
  decodeAlaw,
  encodeUlaw,
  encodeAlaw,
  ulawToLinear,
  alawToLinear,
  linearToUlaw,
  linearToAlaw,
  ULAW_SILENCE,
  ALAW_SILENCE,
} from './codec/g711.js';
export { PCMU, PCMA, AUDIO_CODECS, codecByPayloadType, codecByName } from './codec/table.js';
export type { AudioCodec } from './codec/table.js';
export { Upsampler8to24 } from './dsp/Upsampler8to24.js';
export { Framer } from './dsp/Framer.js';
export type { AudioFrame, FramerOptions, FramerStats } from './dsp/Framer.js';
export { G711Plc } from './dsp/G711Plc.js';
export { Resampler, resample } from './dsp/Resampler.js';
export type { ResamplerOptions } from './dsp/Resampler.js';
export {
  parseWav,
  wavToFloat32,
  wavToInt16,
  encodeWav,
  readWavFloat32,
  readWavAtRate,
  WavError,
} from './wav.js';
export type { WavInfo, WavFormat, WavWriteOptions, WavErrorCode } from './wav.js';
// ===== end Codecs and DSP =====
