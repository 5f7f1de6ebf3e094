/**
 * SIPREC recording sessions seen from the recorder, the Session Recording Server (RFC 7866): how a
 * request says it is one (`Require: siprec`, `+sip.src` in its Contact, §6.1.1), and its body:
 * the SDP offer and the recording metadata (`application/rs-metadata+xml`, RFC 7865; RFC 7866
 * wrote `application/rs-metadata`, corrected by RFC 9806), alone or in a `multipart/mixed` body
 * (§8). The metadata is handed up as text: sip/ does not read XML.
 */
import { SipBodyError } from '../errors.js';
import { mediaType, parseMultipart } from '../message/multipart.js';
import { parseNameAddr } from '../message/nameAddr.js';
import type { SipRequest } from '../message/SipMessage.js';
import type { OfferedStream } from '../sdp/offerAnswer.js';

/** The option tag of recording sessions (RFC 7866). */
export const SIPREC_OPTION = 'siprec';

/** A recording session as the application sees it: the streams offered and the metadata. */
export interface RecordingSession {
  /** The audio streams we can receive (label, port, codec, direction), in m-line order. */
  readonly streams: readonly OfferedStream[];
  /** The last `rs-metadata` XML document received (RFC 7865), if any. */
  readonly metadataXml: string | undefined;
}

/** What a re-INVITE or UPDATE of a recording session changed (the `recordingUpdated` event). */
export interface RecordingUpdate extends RecordingSession {
  /** A stream was added, refused, paused (`a=inactive`), resumed, or moved. */
  readonly streamsChanged: boolean;
  /** A new metadata document arrived (a participant joined or left, a stream was paused...). */
  readonly metadataChanged: boolean;
}

/** The parts of a request body the user agent reads. */
export interface SessionBody {
  /** The SDP (offer or answer), if the body has one. */
  readonly sdp: string | undefined;
  /** The recording metadata, if the body has it. */
  readonly metadataXml: string | undefined;
}

const METADATA_TYPES: ReadonlySet<string> = new Set([
  'application/rs-metadata+xml',
  'application/rs-metadata',
]);

/** Whether a request asks for a recording session: `Require: siprec` or a `+sip.src` Contact. */
export function isRecordingRequest(req: SipRequest): boolean {
  if (req.getAll('require').some((t) => t.toLowerCase() === SIPREC_OPTION)) {
    return true;
  }
  const contact = req.getAll('contact')[0];
  return contact !== undefined && (parseNameAddr(contact)?.params.has('+sip.src') ?? false);
}

/**
 * The SDP and metadata of a request. With `siprec` off every body is taken as SDP (the stack
 * refused other types before). With it on: a `multipart/*` body is split (exactly one SDP part at
 * most, one metadata part at most; other parts ignored), a metadata body alone is metadata.
 * @throws {SipBodyError} SIP_ERR_MULTIPART for a malformed multipart body or repeated parts
 */
export function readSessionBody(req: SipRequest, siprec: boolean): SessionBody {
  if (req.body.length === 0) {
    return { sdp: undefined, metadataXml: undefined };
  }
  const contentType = req.get('content-type');
  const type = mediaType(contentType);
  if (!siprec || contentType === undefined || type === undefined) {
    return { sdp: req.bodyText, metadataXml: undefined };
  }
  if (METADATA_TYPES.has(type)) {
    return { sdp: undefined, metadataXml: req.bodyText };
  }
  if (!type.startsWith('multipart/')) {
    return { sdp: req.bodyText, metadataXml: undefined };
  }
  const parts = parseMultipart(req.body, contentType);
  const sdps = parts.filter((p) => p.type === 'application/sdp');
  const metas = parts.filter((p) => METADATA_TYPES.has(p.type));
  if (sdps.length > 1 || metas.length > 1) {
    const what = sdps.length > 1 ? 'SDP' : 'recording metadata';
    throw new SipBodyError('SIP_ERR_MULTIPART', `multipart body: more than one ${what} part`);
  }
  return { sdp: sdps[0]?.body.toString('utf8'), metadataXml: metas[0]?.body.toString('utf8') };
}
