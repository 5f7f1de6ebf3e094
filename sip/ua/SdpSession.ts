/**
 * Our side of a call's SDP session (RFC 3264 §5, §8): the o= session id and its version (one more
 * for every SDP we create), our media, the SDP last sent, and how an offer inside the dialog is
 * answered (re-INVITE/UPDATE, RFC 3261 §14.2, RFC 3311 §5.2).
 */
import { randomInt } from 'node:crypto';
import { SdpError } from '../errors.js';
import { setBody, type SipRequest, type SipResponse } from '../message/SipMessage.js';
import type { Codec, MediaDescription } from '../sdp/media.js';
import { answerOffer, createOffer, type LocalMedia } from '../sdp/offerAnswer.js';

/** What {@link SdpSession.reoffer} did with a re-INVITE/UPDATE. */
type ReofferResult =
  | { readonly refused: true; readonly error: SdpError }
  | { readonly refused: false; readonly remote: MediaDescription | undefined };

/** The answer to an offer we cannot take, with the Warning (RFC 3261 §20.43) that says why. */
interface SdpRefusal {
  status: 400 | 488;
  reason?: string;
  warning: string;
}

/**
 * How to refuse an offer: 400 Bad SDP when it is not SDP (RFC 3261 §21.4.1) and 488 when a value
 * is wrong (§21.4.26), both with Warning 399 naming the problem; 488 with Warning 305 when it has
 * none of our codecs. `host` is our host as the Warning's warn-agent.
 */
export function sdpRefusal(err: SdpError, host: string): SdpRefusal {
  const what = `399 ${host} "${err.message.replace(/["\\]/g, "'").slice(0, 200)}"`;
  switch (err.code) {
    case 'SDP_ERR_PARSE':
    case 'SDP_ERR_NO_AUDIO':
      return { status: 400, reason: 'Bad SDP', warning: what };
    case 'SDP_ERR_BAD_VALUE':
      return { status: 488, warning: what };
    default:
      return { status: 488, warning: `305 ${host} "Incompatible media format"` };
  }
}

export class SdpSession {
  readonly #codecs: readonly Codec[];
  readonly #sessionId = String(randomInt(1, 2 ** 31));
  #version = 0;
  #media: LocalMedia | undefined;
  #sdp: string | undefined;

  constructor(codecs: readonly Codec[]) {
    this.#codecs = codecs;
  }

  /** Where we receive RTP, once an offer or answer was created. */
  get media(): LocalMedia | undefined {
    return this.#media;
  }

  /** The SDP we sent last. */
  get sdp(): string | undefined {
    return this.#sdp;
  }

  /** Our offer for `local` (a new version). */
  offer(local: LocalMedia): string {
    const sdp = createOffer(this.#codecs, local, this.#nextIds());
    this.#media = local;
    this.#sdp = sdp;
    return sdp;
  }

  /**
   * Our answer to `offer` for `local` (a new version) and the remote media it describes.
   * @throws {SdpError} when the offer does not parse or has none of our codecs
   */
  answer(offer: string, local: LocalMedia): { sdp: string; remote: MediaDescription } {
    const result = answerOffer(offer, this.#codecs, local, this.#nextIds());
    this.#media = local;
    this.#sdp = result.sdp;
    return result;
  }

  /**
   * Puts our SDP into `ok`, the 200 to a re-INVITE/UPDATE: the answer to its offer (refused when
   * nothing fits: the caller sends 488), or for a re-INVITE without an offer our current SDP as
   * the offer (its answer comes in the ACK, RFC 3261 §14.2).
   */
  reoffer(req: SipRequest, ok: SipResponse): ReofferResult {
    const media = this.#media;
    if (req.body.length > 0 && media) {
      try {
        const { sdp, remote } = this.answer(req.bodyText, media);
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
