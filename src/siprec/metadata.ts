/**
 * SIPREC recording metadata (RFC 7865): the `rs-metadata` XML document a recording client sends
 * with a recording session, read with fast-xml-parser into a typed model, and its updates (a
 * `partial` document, RFC 7865) applied to what was known: which stream label belongs to
 * which participant (address of record, display name), who joined or left, which stream is paused.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AppError } from '../errors.js';

/** Largest metadata document read (bytes); a SIP message is at most 64 KiB anyway. */
const MAX_METADATA_BYTES = 65_536;

/** A metadata document that cannot be used: not XML, not `<recording>`, too large. */
export class SiprecMetadataError extends AppError {
  constructor(code: 'SIPREC_ERR_XML' | 'SIPREC_ERR_NOT_RECORDING' | 'SIPREC_ERR_TOO_LARGE', message: string) {
    super(code, message);
  }
}

/** A participant (RFC 7865): its id and the first `nameID` (aor, name). */
interface Participant {
  readonly id: string;
  /** Its address of record (`nameID aor=`), e.g. `sip:bob@biloxi.com`. */
  readonly aor: string | undefined;
  /** Its display name (`nameID/name`). */
  readonly name: string | undefined;
}

/** A media stream (RFC 7865): its id, the SDP `a=label` it is, and its session. */
interface MetadataStream {
  readonly id: string;
  readonly label: string | undefined;
  readonly sessionId: string | undefined;
}

/** A communication session (RFC 7865) and the SIP Session-IDs of its dialogs (RFC 7989). */
interface MetadataSession {
  readonly id: string;
  readonly sipSessionIds: readonly string[];
}

/** Which streams a participant sends and receives (`participantstreamassoc`, RFC 7865). */
interface StreamAssociation {
  readonly send: readonly string[];
  readonly recv: readonly string[];
}

/** When a participant joined or left a session (`participantsessionassoc`, RFC 7865). */
interface SessionAssociation {
  readonly participantId: string;
  readonly sessionId: string;
  readonly associateTime: string | undefined;
  readonly disassociateTime: string | undefined;
}

/** A metadata document, or the state after applying several (keyed by the documents' ids). */
export interface RecordingMetadata {
  readonly dataMode: 'complete' | 'partial';
  readonly sessions: ReadonlyMap<string, MetadataSession>;
  readonly participants: ReadonlyMap<string, Participant>;
  readonly streams: ReadonlyMap<string, MetadataStream>;
  /** By participant id. */
  readonly participantStreams: ReadonlyMap<string, StreamAssociation>;
  /** By `participantId session_id`. */
  readonly participantSessions: ReadonlyMap<string, SessionAssociation>;
}

/** One labelled stream and who sends it: what a call channel is named after. */
interface LabelledStream {
  readonly label: string;
  readonly streamId: string;
  /** The participant that sends this stream, if the metadata says (else it is paused or unknown). */
  readonly sender: Participant | undefined;
}

const ARRAYS = new Set([
  'group',
  'session',
  'participant',
  'stream',
  'nameID',
  'name',
  'sipSessionID',
  'send',
  'recv',
  'sessionrecordingassoc',
  'participantsessionassoc',
  'participantstreamassoc',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => ARRAYS.has(name),
});

type Node = Record<string, unknown>;

const nodes = (v: unknown): Node[] =>
  Array.isArray(v)
    ? v.map((x) => (typeof x === 'object' && x !== null ? (x as Node) : { '#text': String(x) }))
    : [];

/** The text of a leaf (`<label>96</label>` parses as '96', `<name xml:lang="it">Bob</name>` as a node). */
function text(v: unknown): string | undefined {
  if (typeof v === 'string' || typeof v === 'number') {
    const s = String(v).trim();
    return s === '' ? undefined : s;
  }
  if (typeof v === 'object' && v !== null) {
    return text((v as Node)['#text']);
  }
  return undefined;
}

const attr = (n: Node, name: string): string | undefined => text(n[`@${name}`]);
const texts = (v: unknown): string[] => nodes(v).flatMap((n) => text(n) ?? []);

/**
 * Reads one `rs-metadata` document (RFC 7865): sessions with their
 * `sipSessionID`s, participants with their first `nameID` (aor, name), streams with their label,
 * participant-session and participant-stream associations. Unknown elements (extensions) are
 * ignored. `datamode` defaults to `complete`.
 * Namespaces are not checked (prefixes are dropped): RFC 7865's is
 * `urn:ietf:params:xml:ns:recording:1`, but SBCs built on the drafts send
 * `urn:ietf:params:xml:ns:recording`, and the element names are what identifies the model.
 * @throws {SiprecMetadataError} SIPREC_ERR_TOO_LARGE, SIPREC_ERR_XML (not well-formed, or a DTD),
 *   SIPREC_ERR_NOT_RECORDING (the root element is not `<recording>`)
 */
export function parseMetadata(xml: string): RecordingMetadata {
  if (Buffer.byteLength(xml) > MAX_METADATA_BYTES) {
    throw new SiprecMetadataError('SIPREC_ERR_TOO_LARGE', `metadata over ${MAX_METADATA_BYTES} bytes`);
  }
  if (/<!DOCTYPE/i.test(xml)) {
    // RFC 7865 uses no DTD; refusing one rules out entity expansion.
    throw new SiprecMetadataError('SIPREC_ERR_XML', 'metadata XML with a DOCTYPE is refused');
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new SiprecMetadataError(
      'SIPREC_ERR_XML',
      `metadata is not well-formed XML: ${msg} (line ${line}, column ${col})`,
    );
  }
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (err) {
    // The validator lets some malformed input through (an unclosed CDATA section, `<!'-`); the
    // parser then throws plain Errors (fuzzing found three).
    throw new SiprecMetadataError(
      'SIPREC_ERR_XML',
      `metadata is not well-formed XML: ${(err as Error).message.slice(0, 120)}`,
    );
  }
  const root = Object.keys(doc).filter((k) => !k.startsWith('?') && !k.startsWith('#'));
  // An empty `<recording/>` parses as ''.
  const recording = doc['recording'] === '' ? {} : doc['recording'];
  if (root.length !== 1 || root[0] !== 'recording' || typeof recording !== 'object' || recording === null) {
    throw new SiprecMetadataError(
      'SIPREC_ERR_NOT_RECORDING',
      `the root element is ${root.join(', ') || 'missing'}, not <recording>`,
    );
  }
  const r = recording as Node;
  return readRecording(r);
}

function readRecording(r: Node): RecordingMetadata {
  const sessions = new Map<string, MetadataSession>();
  for (const s of nodes(r['session'])) {
    const id = attr(s, 'session_id');
    if (id !== undefined) {
      sessions.set(id, { id, sipSessionIds: texts(s['sipSessionID']).map((v) => v.replace(/\s+/g, '')) });
    }
  }
  const participants = new Map<string, Participant>();
  for (const p of nodes(r['participant'])) {
    const id = attr(p, 'participant_id');
    const nameId = nodes(p['nameID'])[0];
    if (id !== undefined) {
      participants.set(id, {
        id,
        aor: nameId && attr(nameId, 'aor'),
        name: nameId && text(nodes(nameId['name'])[0]),
      });
    }
  }
  const streams = new Map<string, MetadataStream>();
  for (const s of nodes(r['stream'])) {
    const id = attr(s, 'stream_id');
    if (id !== undefined) {
      streams.set(id, { id, label: text(s['label']), sessionId: attr(s, 'session_id') });
    }
  }
  const participantStreams = new Map<string, StreamAssociation>();
  for (const a of nodes(r['participantstreamassoc'])) {
    const id = attr(a, 'participant_id');
    if (id !== undefined) {
      participantStreams.set(id, { send: texts(a['send']), recv: texts(a['recv']) });
    }
  }
  const participantSessions = new Map<string, SessionAssociation>();
  for (const a of nodes(r['participantsessionassoc'])) {
    const participantId = attr(a, 'participant_id');
    const sessionId = attr(a, 'session_id');
    if (participantId !== undefined && sessionId !== undefined) {
      participantSessions.set(`${participantId} ${sessionId}`, {
        participantId,
        sessionId,
        associateTime: text(a['associate-time']),
        disassociateTime: text(a['disassociate-time']),
      });
    }
  }
  const dataMode = text(r['datamode']) === 'partial' ? 'partial' : 'complete';
  return { dataMode, sessions, participants, streams, participantStreams, participantSessions };
}

const merged = <K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>): Map<K, V> => new Map([...a, ...b]);

/**
 * The state after an update (RFC 7865): a `complete` document replaces everything; a
 * `partial` one replaces, element by element (by id), what it carries and keeps the rest — a
 * participant's stream association as a whole (the hold example sends only `recv`: it sends no
 * stream any more), a participant-session association with its new times.
 */
export function applyMetadata(
  state: RecordingMetadata | undefined,
  update: RecordingMetadata,
): RecordingMetadata {
  if (!state || update.dataMode === 'complete') {
    return { ...update, dataMode: 'complete' };
  }
  return {
    dataMode: 'complete',
    sessions: merged(state.sessions, update.sessions),
    participants: merged(state.participants, update.participants),
    streams: merged(state.streams, update.streams),
    participantStreams: merged(state.participantStreams, update.participantStreams),
    participantSessions: merged(state.participantSessions, update.participantSessions),
  };
}

/** Every stream with a label and the participant that sends it now (none: paused or unknown). */
export function labelledStreams(m: RecordingMetadata): LabelledStream[] {
  const out: LabelledStream[] = [];
  for (const s of m.streams.values()) {
    if (s.label === undefined) {
      continue;
    }
    const senderId = [...m.participantStreams].find(([, a]) => a.send.includes(s.id))?.[0];
    out.push({
      label: s.label,
      streamId: s.id,
      sender: senderId === undefined ? undefined : m.participants.get(senderId),
    });
  }
  return out;
}

/** The participant that sends the stream labelled `label` (an SDP `a=label`), if known. */
export function senderOf(m: RecordingMetadata, label: string): Participant | undefined {
  return labelledStreams(m).find((s) => s.label === label)?.sender;
}

/**
 * The SIP Session-ID of the recorded call (RFC 7989; `sipSessionID` of its first session, white
 * space removed): how the recording is tied to the original call.
 */
export function sipSessionId(m: RecordingMetadata): string | undefined {
  return [...m.sessions.values()][0]?.sipSessionIds[0];
}

/** Participants whose every session association has a disassociate time: they left. */
function departed(m: RecordingMetadata): Participant[] {
  const assocs = [...m.participantSessions.values()];
  return [...m.participants.values()].filter((p) => {
    const mine = assocs.filter((a) => a.participantId === p.id);
    return mine.length > 0 && mine.every((a) => a.disassociateTime !== undefined);
  });
}

/** What an update changed, for the call's events. */
interface MetadataChange {
  /** Participants that appeared. */
  readonly joined: readonly Participant[];
  /** Participants that left (their sessions were all disassociated). */
  readonly left: readonly Participant[];
  /** Labels whose stream is no longer sent by anyone (hold, RFC 7865 partial update). */
  readonly paused: readonly string[];
  /** Labels whose stream is sent again. */
  readonly resumed: readonly string[];
}

/** The difference between two states (before undefined: everything joined). */
export function diffMetadata(
  before: RecordingMetadata | undefined,
  after: RecordingMetadata,
): MetadataChange {
  const sending = (m: RecordingMetadata | undefined): Set<string> =>
    new Set(m ? labelledStreams(m).flatMap((s) => (s.sender ? [s.label] : [])) : []);
  const was = sending(before);
  const now = sending(after);
  const gone = new Set(before ? departed(before).map((p) => p.id) : []);
  return {
    joined: [...after.participants.values()].filter((p) => !before?.participants.has(p.id)),
    left: departed(after).filter((p) => !gone.has(p.id)),
    paused: [...was].filter((l) => !now.has(l)),
    resumed: before ? [...now].filter((l) => !was.has(l)) : [],
  };
}
