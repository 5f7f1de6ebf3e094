/**
 * The one event schema every transcript sink shares (console, storage, webhooks, live feed, page).
 *
 * Every event carries the common fields (`type`, `seq`, `callId`, `at`, `offsetMs`, `call`) and then
 * its own. `seq` increases by one per event within a call, starting at 1, so a receiver can detect
 * gaps and reorder. See docs in README.md ("Events") and architecture.md.
 */

/** Metadata of the call an event belongs to; the same object on every event of a call. */
export interface CallMeta {
  /** The SIP `Call-ID` header of the dialog. */
  readonly sipCallId: string;
  /** The caller: the From URI (with display name when one was sent). */
  readonly from: string;
  /** The callee: the To URI. */
  readonly to: string;
  /** The configured account (username@registrar host) the call came in on, or null for direct calls. */
  readonly account: string | null;
  /** The SIP transport the INVITE arrived on. */
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** The negotiated audio codec (`PCMU`, `PCMA`), or null before the offer/answer is done. */
  readonly codec: string | null;
  /**
   * The negotiated SRTP suite (`AEAD_AES_128_GCM`, `AES_CM_128_HMAC_SHA1_80`, …), null for plain
   * RTP; absent before the call is answered.
   */
  readonly srtp?: string | null;
  /** The remote signalling address, `host:port`. */
  readonly source: string;
  /**
   * The system the audio came from when not sipscribe's own SIP endpoint (`sip` when absent):
   * Twilio Media Streams, a FreeSWITCH audio stream, an Asterisk AudioSocket, plain RTP (ARI
   * `externalMedia`).
   */
  readonly ingress?: IngressKind;
  /** A SIPREC recording session (RFC 7866): who each channel is, from its metadata (RFC 7865). */
  readonly recording?: RecordingMeta;
}

/** `CallMeta.recording`: the recorded call and its participants, one per channel. */
export interface RecordingMeta {
  /** The recorded call's SIP Session-ID (the metadata's first `sipSessionID`, RFC 7989), or null. */
  readonly sipSessionId: string | null;
  /** One per recorded stream, in m-line order: the first is `caller`, the second `callee`. */
  readonly participants: readonly RecordingParticipant[];
}

/** A participant of a recording session as the metadata names it. */
export interface RecordingParty {
  readonly aor: string | null;
  readonly name: string | null;
}

/** The participant that sends one channel's stream (none known: aor and name null). */
interface RecordingParticipant {
  readonly channel: string;
  /** The stream's SDP `a=label`. */
  readonly label: string | null;
  /** Its address of record (`nameID aor=`). */
  readonly aor: string | null;
  /** Its display name (`nameID/name`). */
  readonly name: string | null;
}

/** The systems a call's audio can come from (`CallMeta.ingress`). */
export type IngressKind = 'sip' | 'twilio' | 'freeswitch' | 'audiosocket' | 'rtp';

/** Why a call ended (`call.ended.reason`). */
export type EndReason =
  'bye-remote' | 'bye-local' | 'cancel' | 'rtp-timeout' | 'session-expired' | 'shutdown' | 'error';

/** One word of a transcript as stored inside an utterance. */
export interface TranscriptWord {
  readonly text: string;
  readonly startMs: number;
  readonly endMs?: number;
}

/** A finished utterance as carried by `call.ended.transcript`. */
export interface TranscriptUtterance {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words: readonly TranscriptWord[];
  readonly channel: string;
}

/** The fields of an event that its publisher supplies (the bus adds the common ones). */
export type EventBody =
  | {
      readonly type: 'call.started';
      /**
       * Set when no speech server had a free slot (full or down, `stt.whenFull: "defer"`): the
       * audio is recorded and transcribed later; the words and `call.ended` come after the hangup.
       */
      readonly deferred?: true;
    }
  | {
      readonly type: 'transcript.word';
      readonly text: string;
      /** Milliseconds since answer at which the word starts (STT `start_time`). */
      readonly startMs: number;
      /** Set when the STT reports the word's end (`EndWord.stop_time`). */
      readonly endMs?: number;
      /** Which side spoke: `caller` for the one inbound stream transcribed today. */
      readonly channel: string;
    }
  | {
      readonly type: 'transcript.utterance';
      readonly text: string;
      readonly startMs: number;
      readonly endMs: number;
      readonly words: readonly TranscriptWord[];
      readonly channel: string;
      readonly final: true;
    }
  | { readonly type: 'dtmf'; readonly digit: string; readonly durationMs: number }
  | {
      /** A SIPREC recording session changed (re-INVITE/UPDATE): `call.recording` is the new state. */
      readonly type: 'recording.updated';
      /** Participants that appeared in the metadata. */
      readonly joined: readonly RecordingParty[];
      /** Participants whose every session the metadata says they left. */
      readonly left: readonly RecordingParty[];
      /** Channels whose stream became `a=inactive` (no audio until resumed). */
      readonly paused: readonly string[];
      /** Channels whose stream is sent again. */
      readonly resumed: readonly string[];
    }
  | {
      readonly type: 'call.ended';
      readonly reason: EndReason;
      /** Milliseconds from answer to end (0 when never answered). */
      readonly durationMs: number;
      /** Every utterance of the call, in order. */
      readonly transcript: readonly TranscriptUtterance[];
    };

/** The common fields of every event. */
interface EventCommon {
  readonly seq: number;
  readonly callId: string;
  /** Wall-clock time of the event, ISO 8601 UTC. */
  readonly at: string;
  /** Milliseconds since the call was answered (0 before). */
  readonly offsetMs: number;
  readonly call: CallMeta;
}

/** An event as every sink receives it. */
export type CallEvent = EventCommon & EventBody;

export type EventType = EventBody['type'];

export const EVENT_TYPES: readonly EventType[] = [
  'call.started',
  'transcript.word',
  'transcript.utterance',
  'dtmf',
  'recording.updated',
  'call.ended',
];
