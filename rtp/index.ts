// The public surface of the media layer: everything src/ uses is exported here by name.

// Codecs and WAV files.
export { encodeUlaw, encodeAlaw } from './codec/g711.js';
export { readWavAtRate, WavWriter } from './wav.js';

// The per-call RTP session and what it takes.
export { RtpSession } from './session/RtpSession.js';
export type { RemoteMedia, RtpSessionDelegate, RtpSessionStats } from './session/RtpSession.js';
export type { DtmfEvent } from './session/DtmfReceiver.js';
export { portPairCount } from './session/socket.js';
export type { SocketFactory } from './session/socket.js';
export { MediaThreads, RemoteRtpSession } from './threads/MediaThreads.js';
export type { MediaThreadExtension } from './threads/MediaThreads.js';
export { JITTER_DEFAULTS } from './jitter/JitterBuffer.js';

// SRTP: the suites the media layer implements (what SDES negotiation may choose), strongest first.
export { SRTP_SUITES } from './srtp/suites.js';

// Audio from other sources than RTP (the ingress adapters of src/): G.711 and any rate to 24 kHz;
// the 8 → 24 kHz upsampler an RTP session uses (the STT replay buffer regenerates its frames).
export { decodeUlaw } from './codec/g711.js';
export { Resampler } from './dsp/Resampler.js';
export { Upsampler8to24 } from './dsp/Upsampler8to24.js';
