/**
 * SDP offer/answer (RFC 3264) for one audio stream of G.711 (PCMU/PCMA) with telephone-event
 * (RFC 4733), plain RTP or SRTP keyed by SDES (RFC 4568, `crypto.ts`), parsed and written with
 * sdp-transform.
 */
import * as sdpTransform from 'sdp-transform';
import { SdpError } from '../errors.js';
import {
  answeredCrypto,
  cryptoBySection,
  inlineKey,
  streamSecurity,
  type ChosenCrypto,
  type OfferedCrypto,
  type SrtpNegotiation,
} from './crypto.js';
import { answerDirection, STATIC_PT, type Codec, type Direction, type MediaDescription } from './media.js';
import { checkSdp, checkTelephoneEvents } from './validate.js';

type SdpSession = sdpTransform.SessionDescription;
type SdpMedia = SdpSession['media'][number];

export interface LocalMedia {
  /** Our RTP address (IPv4 or IPv6). */
  address: string;
  port: number;
  /**
   * Our direction (default sendrecv): an offer's, or in an answer what we are willing to do, combined
   * with the offered direction (`answerDirection`).
   */
  direction?: Direction;
}

interface SdpSessionIds {
  /** o= session id, constant for the session. */
  sessionId: string;
  /** o= version, incremented on every change (RFC 3264 §8). */
  version: number;
}

/** Our telephone-event payload type in offers. */
const OFFER_TE_PT = 101;

/**
 * Checks every value we read (validate.ts), then parses.
 * @throws {SdpError} SDP_ERR_PARSE, SDP_ERR_BAD_VALUE, SDP_ERR_NO_AUDIO
 */
function parseSdp(text: string): SdpSession {
  checkSdp(text);
  let s: SdpSession;
  try {
    s = sdpTransform.parse(text);
  } catch (err) {
    throw new SdpError('SDP_ERR_PARSE', `SDP does not parse: ${(err as Error).message}`);
  }
  if (!Array.isArray(s.media) || s.media.length === 0) {
    throw new SdpError('SDP_ERR_NO_AUDIO', 'SDP has no m= line');
  }
  return s;
}

function payloadsOf(m: SdpMedia): number[] {
  return String(m.payloads ?? '')
    .split(' ')
    .filter((p) => /^[0-9]+$/.test(p))
    .map(Number);
}

function codecOfPayload(m: SdpMedia, pt: number): string | undefined {
  const map = m.rtp.find((r) => r.payload === pt);
  if (map) {
    return `${String(map.codec).toUpperCase()}/${map.rate ?? 8000}`;
  }
  return pt === 0 ? 'PCMU/8000' : pt === 8 ? 'PCMA/8000' : undefined;
}

/** The offered telephone-event events (RFC 4733 §7.1.1), checked; 0-16 when not stated. */
function telephoneEvents(m: SdpMedia, pt: number): string {
  const config = m.fmtp.find((f) => f.payload === pt)?.config;
  return config === undefined ? '0-16' : checkTelephoneEvents(pt, String(config));
}

/** No SRTP: plain RTP/AVP only (the default of every function here). */
const SRTP_OFF: SrtpNegotiation = {
  policy: 'off',
  suites: [],
  localKey: () => {
    throw new Error('no SRTP suite when SRTP is off');
  },
};

interface Pick {
  index: number;
  codec: Codec;
  payloadType: number;
  telephoneEventPayloadType: number | undefined;
  /** The crypto line chosen (its tag, our suite, the peer's key and its lifetime), for SRTP. */
  srtp?: ChosenCrypto | undefined;
}

/** The codec of our preference in an m-line, or undefined. */
function pickCodec(m: SdpMedia, index: number, prefs: readonly Codec[]): Pick | undefined {
  const pts = payloadsOf(m);
  for (const codec of prefs) {
    const pt = pts.find((p) => codecOfPayload(m, p) === `${codec}/8000`);
    if (pt !== undefined) {
      const te = pts.find((p) => codecOfPayload(m, p) === 'TELEPHONE-EVENT/8000');
      return { index, codec, payloadType: pt, telephoneEventPayloadType: te };
    }
  }
  return undefined;
}

/**
 * The first audio m-line (RTP/AVP, or RTP/SAVP) with an acceptable codec and security under the
 * SRTP policy, codec chosen by our preference. When none fits: SDP_ERR_SRTP if some stream had a
 * codec but not the security the policy asks (the error says why), else SDP_ERR_NO_CODEC.
 */
function pickAudio(
  session: SdpSession,
  text: string,
  prefs: readonly Codec[],
  srtp: SrtpNegotiation,
): Pick | SdpError {
  const crypto = cryptoBySection(text);
  let refusal: SdpError | undefined;
  for (const [index, m] of session.media.entries()) {
    const secure = /^RTP\/SAVP$/i.test(m.protocol);
    if (m.type !== 'audio' || m.port === 0 || !(secure || /RTP\/AVP/i.test(m.protocol))) {
      continue;
    }
    const pick = pickCodec(m, index, prefs);
    if (!pick) {
      continue;
    }
    const security = streamSecurity(m.protocol, crypto[index] ?? [], srtp);
    if (security.ok) {
      return { ...pick, srtp: security.srtp };
    }
    refusal ??= new SdpError('SDP_ERR_SRTP', security.why);
  }
  return refusal ?? new SdpError('SDP_ERR_NO_CODEC', `no offered audio codec among ${prefs.join(', ')}`);
}

function describe(
  session: SdpSession,
  m: SdpMedia,
  pick: Pick,
  muxAgreed: boolean,
  srtp: SrtpNegotiation,
): MediaDescription {
  const address = m.connection?.ip ?? session.connection?.ip;
  if (address === undefined) {
    throw new SdpError('SDP_ERR_BAD_VALUE', 'no c= line for the audio stream');
  }
  const te = pick.telephoneEventPayloadType;
  if (te !== undefined) {
    telephoneEvents(m, te);
  }
  const direction: Direction = m.direction ?? session.direction ?? 'sendrecv';
  const rtcpMux = muxAgreed && m.rtcpMux !== undefined;
  const desc: MediaDescription = {
    address,
    port: m.port,
    rtcpPort: rtcpMux ? m.port : (m.rtcp?.port ?? m.port + 1),
    rtcpMux,
    codec: pick.codec,
    payloadType: pick.payloadType,
    ptime: m.ptime ?? 20,
    direction,
  };
  if (pick.telephoneEventPayloadType !== undefined) {
    desc.telephoneEventPayloadType = pick.telephoneEventPayloadType;
  }
  if (pick.srtp) {
    const { suite, key, lifetime } = pick.srtp;
    desc.srtp = { suite: suite.name, remoteKey: key, localKey: srtp.localKey(suite, key) };
    if (lifetime !== undefined) {
      desc.srtp.remoteLifetime = lifetime;
    }
  }
  return desc;
}

/**
 * The remote media of an offer (for `call.offer`), as the answer would take it. Undefined when the
 * offer has no acceptable audio codec.
 * @throws {SdpError} SDP_ERR_PARSE when the SDP does not parse, SDP_ERR_BAD_VALUE for a wrong value,
 *   SDP_ERR_SRTP when a stream with our codec is refused by the SRTP policy
 */
export function describeOffer(
  offer: string,
  prefs: readonly Codec[],
  srtp: SrtpNegotiation = SRTP_OFF,
): MediaDescription | undefined {
  const session = parseSdp(offer);
  const pick = pickAudio(session, offer, prefs, srtp);
  if (pick instanceof SdpError) {
    if (pick.code === 'SDP_ERR_NO_CODEC') {
      return undefined;
    }
    throw pick;
  }
  const m = session.media[pick.index];
  return m ? describe(session, m, pick, true, srtp) : undefined;
}

function ipVer(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function baseSession(local: LocalMedia, ids: SdpSessionIds): SdpSession {
  return {
    version: 0,
    origin: {
      username: '-',
      sessionId: ids.sessionId,
      sessionVersion: ids.version,
      netType: 'IN',
      ipVer: ipVer(local.address),
      address: local.address,
    },
    name: 'sipscribe',
    connection: { version: ipVer(local.address), ip: local.address },
    timing: { start: 0, stop: 0 },
    media: [],
  };
}

/** An m-line refused in an answer: port 0, the offer's first format (RFC 3264 §6). */
function rejected(m: SdpMedia): SdpMedia {
  const first = payloadsOf(m)[0] ?? 0;
  return { type: m.type, port: 0, protocol: m.protocol, payloads: String(first), rtp: [], fmtp: [] };
}

/**
 * Answers an offer (RFC 3264 §6): the chosen audio stream with one codec (plus telephone-event
 * when offered), the offer's ptime, the complementary direction and rtcp-mux when offered, for
 * SRTP the offer's profile with one a=crypto (the offer's tag, the suite chosen, our key; RFC 4568
 * §7.1.2); every other m-line rejected with port 0.
 * @throws {SdpError} SDP_ERR_NO_CODEC (→ 488 with Warning 305), SDP_ERR_SRTP (→ 488 with Warning
 *   303), SDP_ERR_BAD_VALUE (→ 488 with Warning 399) or SDP_ERR_PARSE (→ 400)
 */
export function answerOffer(
  offer: string,
  prefs: readonly Codec[],
  local: LocalMedia,
  ids: SdpSessionIds,
  srtp: SrtpNegotiation = SRTP_OFF,
): { sdp: string; remote: MediaDescription } {
  const session = parseSdp(offer);
  const pick = pickAudio(session, offer, prefs, srtp);
  if (pick instanceof SdpError) {
    throw pick;
  }
  const mAudio = session.media[pick.index];
  if (!mAudio) {
    throw new SdpError('SDP_ERR_NO_AUDIO', 'audio stream vanished');
  }
  const remote = describe(session, mAudio, pick, true, srtp);
  const out = baseSession(local, ids);
  for (const [i, m] of session.media.entries()) {
    if (i !== pick.index) {
      out.media.push(rejected(m));
      continue;
    }
    const te = pick.telephoneEventPayloadType;
    const pts = te === undefined ? [pick.payloadType] : [pick.payloadType, te];
    const media: SdpMedia = {
      type: 'audio',
      port: local.port,
      protocol: m.protocol,
      payloads: pts.join(' '),
      rtp: [{ payload: pick.payloadType, codec: pick.codec, rate: 8000 }],
      fmtp: [],
      ptime: m.ptime ?? 20,
      direction: answerDirection(m.direction ?? session.direction ?? 'sendrecv', local.direction),
    };
    if (te !== undefined) {
      media.rtp.push({ payload: te, codec: 'telephone-event', rate: 8000 });
      media.fmtp.push({ payload: te, config: telephoneEvents(m, te) });
    }
    if (m.rtcpMux !== undefined) {
      media.rtcpMux = 'rtcp-mux';
    }
    if (pick.srtp && remote.srtp) {
      media.crypto = [
        { id: pick.srtp.tag, suite: remote.srtp.suite, config: inlineKey(remote.srtp.localKey) },
      ];
    }
    out.media.push(media);
  }
  return { sdp: sdpTransform.write(out), remote };
}

/** One audio stream of a multi-stream offer (a SIPREC recording session, RFC 7866). */
export interface OfferedStream {
  /** The index of its m-line in the SDP. */
  readonly index: number;
  /** Its `a=label` (RFC 4574): the metadata binds the stream to a participant by it. */
  readonly label: string | undefined;
  /** The sender's media: address, port, codec chosen, direction as offered. */
  readonly media: MediaDescription;
}

/**
 * Every audio stream of an offer we can receive: plain RTP/AVP, port not 0, one of our codecs
 * (chosen per m-line by our preference).
 * @throws {SdpError} SDP_ERR_PARSE / SDP_ERR_BAD_VALUE / SDP_ERR_NO_AUDIO for a malformed offer
 */
export function describeStreams(offer: string, prefs: readonly Codec[]): OfferedStream[] {
  const session = parseSdp(offer);
  const streams: OfferedStream[] = [];
  for (const [index, m] of session.media.entries()) {
    if (m.type !== 'audio' || m.port === 0 || !/^RTP\/AVP$/i.test(m.protocol)) {
      continue;
    }
    const pick = pickCodec(m, index, prefs);
    if (pick) {
      const label = m.label === undefined ? undefined : String(m.label);
      streams.push({ index, label, media: describe(session, m, pick, true, SRTP_OFF) });
    }
  }
  return streams;
}

/** The direction we answer a recorded stream with: we only receive (RFC 7866). */
function recordingDirection(offered: Direction): Direction {
  return offered === 'sendonly' || offered === 'sendrecv' ? 'recvonly' : 'inactive';
}

/**
 * Answers a multi-stream offer as a recorder (RFC 7866, RFC 3264 §6): every stream of
 * {@link describeStreams} that has a local address in `locals` (by m-line index) is accepted with
 * its own port and codec, `a=recvonly` (`a=inactive` when offered inactive or recvonly: we never
 * send), its `a=label`, rtcp-mux when offered; every other m-line refused with port 0.
 * @throws {SdpError} SDP_ERR_NO_CODEC when no stream is accepted (→ 488), or as describeStreams
 */
export function answerStreams(
  offer: string,
  prefs: readonly Codec[],
  locals: ReadonlyMap<number, LocalMedia>,
  ids: SdpSessionIds,
): { sdp: string; streams: OfferedStream[] } {
  const session = parseSdp(offer);
  const streams = describeStreams(offer, prefs).filter((s) => locals.has(s.index));
  const first = streams[0] && locals.get(streams[0].index);
  if (!first) {
    throw new SdpError('SDP_ERR_NO_CODEC', `no offered audio stream with a codec among ${prefs.join(', ')}`);
  }
  const out = baseSession(first, ids);
  for (const [i, m] of session.media.entries()) {
    const stream = streams.find((s) => s.index === i);
    const local = locals.get(i);
    if (!stream || !local) {
      out.media.push(rejected(m));
      continue;
    }
    const { codec, payloadType, ptime, direction } = stream.media;
    const media: SdpMedia = {
      type: 'audio',
      port: local.port,
      protocol: m.protocol,
      payloads: String(payloadType),
      rtp: [{ payload: payloadType, codec, rate: 8000 }],
      fmtp: [],
      ptime,
      direction: recordingDirection(direction),
    };
    if (local.address !== first.address) {
      media.connection = { version: ipVer(local.address), ip: local.address };
    }
    if (stream.label !== undefined) {
      media.label = stream.label;
    }
    if (m.rtcpMux !== undefined) {
      media.rtcpMux = 'rtcp-mux';
    }
    out.media.push(media);
  }
  return { sdp: sdpTransform.write(out), streams };
}

/**
 * Our offer (RFC 3264 §5): every preferred codec, telephone-event 101, ptime 20; with `crypto` its
 * a=crypto lines, as RTP/SAVP or best-effort RTP/AVP (RFC 4568 §7.1.1).
 */
export function createOffer(
  prefs: readonly Codec[],
  local: LocalMedia,
  ids: SdpSessionIds,
  crypto?: OfferedCrypto,
): string {
  const out = baseSession(local, ids);
  const pts = [...prefs.map((c) => STATIC_PT[c]), OFFER_TE_PT];
  out.media.push({
    type: 'audio',
    port: local.port,
    protocol: crypto?.secure ? 'RTP/SAVP' : 'RTP/AVP',
    ...(crypto
      ? { crypto: crypto.lines.map((l) => ({ id: l.tag, suite: l.suite.name, config: inlineKey(l.key) })) }
      : {}),
    payloads: pts.join(' '),
    rtp: [
      ...prefs.map((c) => ({ payload: STATIC_PT[c], codec: c, rate: 8000 })),
      { payload: OFFER_TE_PT, codec: 'telephone-event', rate: 8000 },
    ],
    fmtp: [{ payload: OFFER_TE_PT, config: '0-16' }],
    ptime: 20,
    direction: local.direction ?? 'sendrecv',
  });
  return sdpTransform.write(out);
}

/**
 * The remote media from an answer to our offer (RFC 3264 §7): the first codec of the answer that
 * we offered; with `crypto` (what we offered) its SRTP keys when it took one of our crypto lines.
 * @throws {SdpError} SDP_ERR_NO_CODEC when the answer has none of ours, SDP_ERR_SRTP when our
 *   RTP/SAVP offer got an answer without a crypto line of ours, SDP_ERR_BAD_VALUE / SDP_ERR_PARSE
 *   when it is malformed
 */
export function readAnswer(
  answer: string,
  prefs: readonly Codec[],
  crypto?: OfferedCrypto,
): MediaDescription {
  const session = parseSdp(answer);
  for (const [index, m] of session.media.entries()) {
    if (m.type !== 'audio' || m.port === 0) {
      continue;
    }
    const pts = payloadsOf(m);
    for (const pt of pts) {
      const name = codecOfPayload(m, pt);
      const codec = prefs.find((c) => `${c}/8000` === name);
      if (codec) {
        const te = pts.find((p) => codecOfPayload(m, p) === 'TELEPHONE-EVENT/8000');
        const pick: Pick = { index, codec, payloadType: pt, telephoneEventPayloadType: te };
        const srtp = crypto && answeredCrypto(cryptoBySection(answer)[index] ?? [], crypto);
        if (crypto?.secure && !srtp) {
          throw new SdpError('SDP_ERR_SRTP', 'the answer to our RTP/SAVP offer has no a=crypto of ours');
        }
        if (!srtp) {
          return describe(session, m, pick, true, SRTP_OFF);
        }
        pick.srtp = { tag: srtp.tag, suite: srtp.suite, key: srtp.key, lifetime: srtp.lifetime };
        const ours = { policy: 'required', suites: [srtp.suite], localKey: () => srtp.localKey } as const;
        return describe(session, m, pick, true, ours);
      }
    }
  }
  throw new SdpError('SDP_ERR_NO_CODEC', 'the answer has none of the offered codecs');
}
