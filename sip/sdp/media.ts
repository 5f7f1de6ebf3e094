/**
 * The typed media description handed to src/ (and rtp/ through it). The same shape describes the
 * remote side negotiated from an SDP offer or answer.
 */

import type { SrtpKeys } from './crypto.js';

export type Codec = 'PCMU' | 'PCMA';
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface MediaDescription {
  /** Where the peer receives RTP (its c= address). `0.0.0.0` means hold (RFC 3264 §8.4, old style). */
  address: string;
  /** Its RTP port. */
  port: number;
  /** Its RTCP port (a=rtcp, else port + 1; equal to port with rtcp-mux). */
  rtcpPort: number;
  /** RTP and RTCP multiplexed on one port (RFC 5761), agreed in both offer and answer. */
  rtcpMux: boolean;
  codec: Codec;
  /** Payload type of the codec as the peer numbered it (0 / 8 static). */
  payloadType: number;
  /** Payload type of telephone-event/8000 (RFC 4733) when both sides have it. */
  telephoneEventPayloadType?: number;
  /** Packetisation time in ms (a=ptime, default 20). */
  ptime: number;
  /** The direction attribute as the peer wrote it (its sendonly = we only receive). */
  direction: Direction;
  /** SRTP (RFC 3711) keyed by SDES (RFC 4568) when negotiated: the suite and both keys. */
  srtp?: SrtpKeys;
}

/** Static payload types of RFC 3551. */
export const STATIC_PT: Readonly<Record<Codec, number>> = { PCMU: 0, PCMA: 8 };

/**
 * The direction to answer with for an offered direction (RFC 3264 §6.1), within what we are willing
 * to do (`local`, default sendrecv): e.g. a sendrecv offer is answered recvonly by a side that
 * never sends, an inactive or recvonly offer is then answered inactive.
 */
export function answerDirection(offered: Direction, local: Direction = 'sendrecv'): Direction {
  const send =
    (offered === 'sendrecv' || offered === 'recvonly') && (local === 'sendrecv' || local === 'sendonly');
  const recv =
    (offered === 'sendrecv' || offered === 'sendonly') && (local === 'sendrecv' || local === 'recvonly');
  return send ? (recv ? 'sendrecv' : 'sendonly') : recv ? 'recvonly' : 'inactive';
}
