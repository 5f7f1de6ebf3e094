// The public surface of this layer: everything src/ may use is exported here by name.
export { setIoTimeout, systemClock } from './clock.js';
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

// ===== Packets, sessions, jitter buffer (rtp/packet, rtp/session, rtp/jitter): maintained by Media-RTP =====
export { RtpSession } from './session/RtpSession.js';
export type {
  RemoteMedia,
  RtpSessionDelegate,
  RtpSessionOptions,
  RtpSessionStats,
} from './session/RtpSession.js';
export type { DtmfEvent } from './session/DtmfReceiver.js';
export { udpSocketFactory } from './session/socket.js';
export type { DatagramSocket, RemoteInfo, SocketFactory } from './session/socket.js';
export type { Logger } from './logger.js';
export { nullLogger } from './logger.js';
export {
  RtpError,
  RtpParseError,
  RtpPortsExhaustedError,
  RtpSessionStateError,
  RtpConfigError,
} from './errors.js';
export type { RtpParseErrorCode } from './errors.js';
export { RtpPacket, serializeRtp } from './packet/RtpPacket.js';
export type { RtpHeaderInit } from './packet/RtpPacket.js';
export { parseRtcp, buildRtcpReport, isRtcp } from './packet/rtcp.js';
export type { RtcpPacket, ReportBlock, SenderInfo } from './packet/rtcp.js';
export { JITTER_DEFAULTS, JitterBuffer, silenceConcealer } from './jitter/JitterBuffer.js';
export type { JitterBufferOptions, JitterStats, Concealer, FrameKind } from './jitter/JitterBuffer.js';
// ===== end Packets, sessions, jitter buffer =====

// ===== SRTP/SRTCP (rtp/srtp) =====
export { SrtpContext, SRTP_SUITES, srtpSuite } from './srtp/index.js';
export type { SrtpSuite, SrtpSuiteName } from './srtp/index.js';
export { SrtpError } from './errors.js';
export type { SrtpErrorCode } from './errors.js';
// ===== end SRTP/SRTCP =====
