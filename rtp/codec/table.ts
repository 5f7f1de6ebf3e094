import { decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw, ALAW_SILENCE, ULAW_SILENCE } from './g711.js';

/**
 * A static audio codec: its RTP/AVP identity (RFC 3551 §6, Table 4) and its sample converters.
 * Descriptors are constants; look them up with {@link codecByPayloadType} or {@link codecByName}.
 */
export interface AudioCodec {
  /** Encoding name as in SDP `a=rtpmap` (RFC 4566 §6), upper case. */
  readonly name: 'PCMU' | 'PCMA';
  /** Static payload type (RFC 3551 Table 4). */
  readonly payloadType: number;
  /** RTP clock rate and sample rate, Hz. */
  readonly clockRate: number;
  readonly channels: 1;
  /** Default packet time, ms (RFC 3551 §4.5). */
  readonly ptimeMs: number;
  /** Bytes per sample in the payload. */
  readonly bytesPerSample: 1;
  /** The payload byte that decodes to (near) zero, for silence packets. */
  readonly silenceByte: number;
  /** WAV `wFormatTag` of the same encoding (7 μ-law, 6 A-law). */
  readonly wavFormatTag: number;
  /** Payload → 16-bit linear; writes into `dst`, returns samples written; RangeError when short. */
  readonly decode: (src: Uint8Array, dst: Int16Array) => number;
  /** 16-bit linear → payload; writes into `dst`, returns bytes written; RangeError when short. */
  readonly encode: (src: Int16Array, dst: Uint8Array) => number;
}

/** G.711 μ-law, RTP payload type 0. */
export const PCMU: AudioCodec = Object.freeze({
  name: 'PCMU',
  payloadType: 0,
  clockRate: 8000,
  channels: 1,
  ptimeMs: 20,
  bytesPerSample: 1,
  silenceByte: ULAW_SILENCE,
  wavFormatTag: 7,
  decode: decodeUlaw,
  encode: encodeUlaw,
});

/** G.711 A-law, RTP payload type 8. */
export const PCMA: AudioCodec = Object.freeze({
  name: 'PCMA',
  payloadType: 8,
  clockRate: 8000,
  channels: 1,
  ptimeMs: 20,
  bytesPerSample: 1,
  silenceByte: ALAW_SILENCE,
  wavFormatTag: 6,
  decode: decodeAlaw,
  encode: encodeAlaw,
});

/** Every codec this layer implements, in default preference order. */
const AUDIO_CODECS: readonly AudioCodec[] = Object.freeze([PCMU, PCMA]);

/** The codec with this static payload type, or undefined. */
export function codecByPayloadType(payloadType: number): AudioCodec | undefined {
  return AUDIO_CODECS.find((c) => c.payloadType === payloadType);
}

/**
 * The codec with this encoding name and clock rate (case-insensitive, as SDP rtpmap names are:
 * RFC 4566 §6), or undefined.
 */
export function codecByName(name: string, clockRate = 8000): AudioCodec | undefined {
  const upper = name.toUpperCase();
  return AUDIO_CODECS.find((c) => c.name === upper && c.clockRate === clockRate);
}
