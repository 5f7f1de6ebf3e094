/**
 * The moshi-server `/api/asr-streaming` wire format (Kyutai `moshi-server` 0.6.4, `asr.rs`
 * `InMsg`/`OutMsg`): every message is one binary WebSocket frame holding one MessagePack map with
 * a `type` string. Audio is `{type:"Audio", pcm:[f32 × 1920]}` at 24 kHz mono.
 *
 * The audio encoder writes the bytes itself: `@msgpack/msgpack` would encode a Float32Array as
 * `bin` (which the server's `Vec<f32>` rejects) and integral samples (every 0 of silence) as ints.
 * Here every sample is a MessagePack float32 (`0xca` + 4 bytes big-endian), as Kyutai's own
 * clients send (`use_single_float=True`).
 */
import { decode, encode } from '@msgpack/msgpack';

/** Samples per model step: 80 ms at 24 kHz (`FRAME_SIZE` in moshi-server `batched_asr.rs`). */
export const FRAME_SAMPLES = 1920;
/** Sample rate the server expects; it does no resampling on the WebSocket path. */
export const SAMPLE_RATE = 24_000;
/** Duration of one frame in ms. */
export const FRAME_MS = 80;
/** The only `Error` message moshi-server sends on the streaming route: all slots are taken. */
export const NO_FREE_CHANNELS = 'no free channels';
/** Header carrying the API key (`ID_HEADER` in moshi-server `main.rs`). */
export const API_KEY_HEADER = 'kyutai-api-key';
/** Query parameter consulted only when the header is absent. */
export const API_KEY_QUERY = 'auth_id';

/** `fixmap(2) "type" "Audio" "pcm" array16(1920)`: the fixed head of every audio message. */
const AUDIO_HEAD = Uint8Array.from([
  0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa5, 0x41, 0x75, 0x64, 0x69, 0x6f, 0xa3, 0x70, 0x63, 0x6d, 0xdc,
]);

/** Size in bytes of one encoded audio message of `samples` samples. */
export function audioMessageSize(samples: number): number {
  return AUDIO_HEAD.length + 2 + samples * 5;
}

/**
 * Encodes `{type:"Audio", pcm:[…]}` with every sample as a MessagePack float32.
 * @param pcm - 24 kHz mono samples in [-1, 1]; at most 65535 (array16).
 * @param out - optional destination; a new Buffer is allocated when absent.
 * @returns the encoded bytes (a view of `out` when given).
 * @throws RangeError when `pcm` is too long for array16 or `out` is too short.
 */
export function encodeAudio(pcm: Float32Array, out?: Uint8Array): Uint8Array {
  if (pcm.length > 0xffff) {
    throw new RangeError(`audio message of ${pcm.length} samples exceeds array16 (65535)`);
  }
  const size = audioMessageSize(pcm.length);
  const buf = out ?? Buffer.allocUnsafe(size);
  if (buf.length < size) {
    throw new RangeError(`output buffer of ${buf.length} bytes is shorter than ${size} bytes`);
  }
  buf.set(AUDIO_HEAD, 0);
  const view = new DataView(buf.buffer, buf.byteOffset, size);
  let pos = AUDIO_HEAD.length;
  view.setUint16(pos, pcm.length);
  pos += 2;
  for (let i = 0; i < pcm.length; i++) {
    view.setUint8(pos, 0xca);
    view.setFloat32(pos + 1, pcm[i] ?? 0);
    pos += 5;
  }
  return buf.subarray(0, size);
}

/** Encodes `{type:"Marker", id}` (id is an i64 on the server; we use safe integers). */
export function encodeMarker(id: number): Uint8Array {
  return encode({ type: 'Marker', id });
}

/** `Ready`: a slot was assigned; audio may flow. */
interface ReadyMessage {
  readonly type: 'Ready';
}
/** A complete word; `start_time` is seconds of this stream's audio, already delay-corrected. */
interface WordMessage {
  readonly type: 'Word';
  readonly text: string;
  readonly start_time: number;
}
/** End time of the most recent word; optional, may never come for the last word. */
interface EndWordMessage {
  readonly type: 'EndWord';
  readonly stop_time: number;
}
/** One per model step (1B model only): VAD pause probabilities and the server-side backlog. */
interface StepMessage {
  readonly type: 'Step';
  readonly step_idx: number;
  readonly prs: readonly number[];
  readonly buffered_pcm: number;
}
/** Echo of a client Marker: all audio sent before it has passed the model delay. */
interface MarkerMessage {
  readonly type: 'Marker';
  readonly id: number;
}
/** A server error; the only value seen is "no free channels". */
interface ErrorMessage {
  readonly type: 'Error';
  readonly message: string;
}

/** Every message moshi-server sends on `/api/asr-streaming`. */
export type ServerMessage =
  ReadyMessage | WordMessage | EndWordMessage | StepMessage | MarkerMessage | ErrorMessage;

/** Why a server frame was not understood. */
export class ProtocolDecodeError extends Error {
  readonly code = 'STT_ERR_PROTOCOL';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProtocolDecodeError';
  }
}

function num(m: Record<string, unknown>, key: string, type: string): number {
  const v = m[key];
  if (typeof v === 'number' && Number.isFinite(v)) {
    return v;
  }
  if (typeof v === 'bigint') {
    return Number(v);
  }
  throw new ProtocolDecodeError(`${type}.${key} is not a number`);
}

/**
 * Decodes one binary frame from the server.
 * @returns the message, or `null` for a well-formed map with an unknown `type` (ignored, as serde
 *   would ignore extra keys; counted by the caller).
 * @throws ProtocolDecodeError when the frame is not a MessagePack map with the expected fields.
 */
export function decodeServerMessage(data: Uint8Array): ServerMessage | null {
  let value: unknown;
  try {
    value = decode(data, { useBigInt64: false });
  } catch (err) {
    throw new ProtocolDecodeError(`frame of ${data.length} bytes is not MessagePack`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolDecodeError('frame is not a MessagePack map');
  }
  const m = value as Record<string, unknown>;
  switch (m['type']) {
    case 'Ready':
      return { type: 'Ready' };
    case 'Word': {
      const text = m['text'];
      if (typeof text !== 'string') {
        throw new ProtocolDecodeError('Word.text is not a string');
      }
      return { type: 'Word', text, start_time: num(m, 'start_time', 'Word') };
    }
    case 'EndWord':
      return { type: 'EndWord', stop_time: num(m, 'stop_time', 'EndWord') };
    case 'Step': {
      const prs = m['prs'];
      if (!Array.isArray(prs) || !prs.every((p) => typeof p === 'number')) {
        throw new ProtocolDecodeError('Step.prs is not an array of numbers');
      }
      return {
        type: 'Step',
        step_idx: num(m, 'step_idx', 'Step'),
        prs: prs,
        buffered_pcm: num(m, 'buffered_pcm', 'Step'),
      };
    }
    case 'Marker':
      return { type: 'Marker', id: num(m, 'id', 'Marker') };
    case 'Error': {
      const message = m['message'];
      if (typeof message !== 'string') {
        throw new ProtocolDecodeError('Error.message is not a string');
      }
      return { type: 'Error', message };
    }
    default:
      if (typeof m['type'] !== 'string') {
        throw new ProtocolDecodeError('map has no string "type"');
      }
      return null;
  }
}
