/**
 * Our side of a call's SDP session (RFC 3264 §5, §8): the o= session id and its version (one more
 * for every SDP we create), our media, the SDP last sent, and how an offer inside the dialog is
 * answered (re-INVITE/UPDATE, RFC 3261 §14.2, RFC 3311 §5.2).
 */
import { randomInt } from 'node:crypto';
import { SdpError, type SipBodyError } from '../errors.js';
import { setBody, type SipRequest, type SipResponse } from '../message/SipMessage.js';
import {
  newSrtpKey,
  offerCrypto,
  type OfferedCrypto,
  type SrtpNegotiation,
  type SrtpPolicy,
  type SrtpSuiteInfo,
} from '../sdp/crypto.js';
import type { Codec, MediaDescription } from '../sdp/media.js';
import {
  answerOffer,
  answerStreams,
  createOffer,
  describeOffer,
  readAnswer,
  type LocalMedia,
  type OfferedStream,
} from '../sdp/offerAnswer.js';

/** What {@link SdpSession.reoffer} did with a re-INVITE/UPDATE. */
type ReofferResult =
  | { readonly refused: true; readonly error: SdpError }
  | {
      readonly refused: false;
      readonly remote: MediaDescription | undefined;
      /** For a recording session answered with {@link SdpSession.answerStreams}: its streams now. */
      readonly streams?: OfferedStream[];
    };

/** The answer to an offer we cannot take, with the Warning (RFC 3261 §20.43) that says why. */
interface SdpRefusal {
  status: 400 | 488;
  reason?: string;
  warning: string;
}

/**
 * How to refuse an offer: 400 Bad SDP when it is not SDP (RFC 3261 §21.4.1) and 488 when a value
 * is wrong (§21.4.26), both with Warning 399 naming the problem; 488 with Warning 303 (incompatible
 * transport protocol: RTP/AVP or RTP/SAVP) saying why when the SRTP policy refuses the stream; 488
 * with Warning 305 when it has none of our codecs. `host` is our host as the Warning's warn-agent.
 */
export function sdpRefusal(err: SdpError, host: string): SdpRefusal {
  const text = `"${err.message.replace(/["\\]/g, "'").slice(0, 200)}"`;
  const what = `399 ${host} ${text}`;
  switch (err.code) {
    case 'SDP_ERR_PARSE':
    case 'SDP_ERR_NO_AUDIO':
      return { status: 400, reason: 'Bad SDP', warning: what };
    case 'SDP_ERR_BAD_VALUE':
      return { status: 488, warning: what };
    case 'SDP_ERR_SRTP':
      return { status: 488, warning: `303 ${host} ${text}` };
    default:
      return { status: 488, warning: `305 ${host} "Incompatible media format"` };
  }
}

/**
 * How to refuse a body that cannot be read (a malformed multipart body, RFC 2046): 400 (RFC 3261
 * §21.4.1) with Warning 399 naming the problem.
 */
export function bodyRefusal(
  err: SipBodyError,
  host: string,
): { status: 400; reason: string; warning: string } {
  const text = `"${err.message.replace(/["\\]/g, "'").slice(0, 200)}"`;
  return { status: 400, reason: 'Bad Multipart Body', warning: `399 ${host} ${text}` };
}

/** SRTP settings of one call: its policy and the suites of the media layer, strongest first. */
interface SdpSrtpOptions {
  readonly policy: SrtpPolicy;
  readonly suites: readonly SrtpSuiteInfo[];
}

export class SdpSession {
  readonly #codecs: readonly Codec[];
  readonly #sessionId = String(randomInt(1, 2 ** 31));
  #srtp: SrtpNegotiation;
  #version = 0;
  #media: LocalMedia | undefined;
  #sdp: string | undefined;
  /** The crypto lines of our offers (kept for the session: a re-offer repeats them). */
  #offered: OfferedCrypto | undefined;
  /** A recording session's local media, by m-line index (its re-offers are answered stream by stream). */
  #streams: ReadonlyMap<number, LocalMedia> | undefined;
  /** Our SRTP key and the peer key and suite it goes with. */
  #srtpKey: { suite: string; remote: Buffer; local: Buffer } | undefined;

  constructor(codecs: readonly Codec[], srtp: SdpSrtpOptions = { policy: 'off', suites: [] }) {
    this.#codecs = codecs;
    this.#srtp = {
      policy: srtp.policy,
      suites: srtp.suites,
      localKey: (suite, remoteKey) => this.#localKey(suite, remoteKey),
    };
  }

  /**
   * Our SRTP key: kept while the peer keeps its key and the suite (a re-INVITE repeating its SDP
   * changes nothing, so no SRTP state restarts), a fresh one when the peer brings a new key or
   * suite (RFC 4568 §7.1.4: a new key rekeys both directions).
   */
  #localKey(suite: SrtpSuiteInfo, remoteKey: Uint8Array): Buffer {
    const k = this.#srtpKey;
    if (k && k.suite === suite.name && k.remote.equals(remoteKey)) {
      return k.local;
    }
    const local = newSrtpKey(suite);
    this.#srtpKey = { suite: suite.name, remote: Buffer.from(remoteKey), local };
    return local;
  }

  /**
   * The remote media of an offer as {@link SdpSession.answer} would take it; undefined when it
   * has none of our codecs.
   * @throws {SdpError} when it does not parse, has a wrong value or is refused by the SRTP policy
   */
  describe(offer: string): MediaDescription | undefined {
    return describeOffer(offer, this.#codecs, this.#srtp);
  }

  /** Where we receive RTP, once an offer or answer was created. */
  get media(): LocalMedia | undefined {
    return this.#media;
  }

  /** The SDP we sent last. */
  get sdp(): string | undefined {
    return this.#sdp;
  }

  /**
   * Our offer for `local` (a new version): plain RTP/AVP under `off`, best-effort RTP/AVP with a
   * crypto line per suite under `optional`, RTP/SAVP under `required`.
   */
  offer(local: LocalMedia): string {
    this.#offered ??= offerCrypto(this.#srtp.policy, this.#srtp.suites);
    const sdp = createOffer(this.#codecs, local, this.#nextIds(), this.#offered);
    this.#media = local;
    this.#sdp = sdp;
    return sdp;
  }

  /**
   * The remote media of the answer to our offer, with its SRTP keys when it took one of our crypto
   * lines.
   * @throws {SdpError} when it does not parse, has none of our codecs, or answers our RTP/SAVP
   *   offer without a crypto line of ours
   */
  readAnswer(answer: string): MediaDescription {
    return this.#secured(readAnswer(answer, this.#codecs, this.#offered));
  }

  /** Once the media is SRTP, later offers may not take it back to plain RTP. */
  #secured(remote: MediaDescription): MediaDescription {
    if (remote.srtp && this.#srtp.policy !== 'required') {
      // A downgrade, and packets still in flight would be read as plain RTP: refused like under
      // `required`.
      this.#srtp = { ...this.#srtp, policy: 'required' };
    }
    return remote;
  }

  /**
   * Our answer to `offer` for `local` (a new version) and the remote media it describes.
   * @throws {SdpError} when the offer does not parse or has none of our codecs
   */
  answer(offer: string, local: LocalMedia): { sdp: string; remote: MediaDescription } {
    const result = answerOffer(offer, this.#codecs, local, this.#nextIds(), this.#srtp);
    this.#secured(result.remote);
    this.#media = local;
    this.#sdp = result.sdp;
    return result;
  }

  /**
   * Our answer to a recording session's offer (RFC 7866): each stream with a local address
   * in `locals` (by m-line index) received on it, `recvonly`; kept for the session's re-offers.
   * @throws {SdpError} when the offer does not parse or no stream can be received
   */
  answerStreams(
    offer: string,
    locals: ReadonlyMap<number, LocalMedia>,
  ): { sdp: string; streams: OfferedStream[] } {
    const result = answerStreams(offer, this.#codecs, locals, this.#nextIds());
    this.#streams = locals;
    this.#media = locals.get(result.streams[0]?.index ?? -1);
    this.#sdp = result.sdp;
    return result;
  }

  /**
   * Puts our SDP into `ok`, the 200 to a re-INVITE/UPDATE: the answer to its offer `offer` (refused
   * when nothing fits: the caller sends 488), or for a re-INVITE without an offer our current SDP
   * as the offer (its answer comes in the ACK, RFC 3261 §14.2). A recording session's offer is
   * answered stream by stream (a stream added since has no local port and is refused).
   */
  reoffer(req: SipRequest, ok: SipResponse, offer: string | undefined): ReofferResult {
    const media = this.#media;
    if (offer !== undefined && media) {
      try {
        if (this.#streams) {
          const { sdp, streams } = this.answerStreams(offer, this.#streams);
          setBody(ok, sdp, 'application/sdp');
          return { refused: false, remote: undefined, streams };
        }
        const { sdp, remote } = this.answer(offer, media);
        setBody(ok, sdp, 'application/sdp');
        return { refused: false, remote };
      } catch (err) {
        return {
          refused: true,
          error: err instanceof SdpError ? err : new SdpError('SDP_ERR_PARSE', String(err)),
        };
      }
    }
    if (req.method === 'INVITE' && this.#sdp !== undefined) {
      setBody(ok, this.#sdp, 'application/sdp');
    }
    return { refused: false, remote: undefined };
  }

  #nextIds(): { sessionId: string; version: number } {
    return { sessionId: this.#sessionId, version: ++this.#version };
  }
}
