/**
 * Typed errors of the STT client. Every error has a stable `code` (listed in README.md); callers
 * match on `code`, never on the message.
 */
import { AppError } from '../errors.js';

/** Stable codes of {@link SttError}. */
export const STT_ERR = {
  /** The server answered the WebSocket handshake with 401: the API key is wrong (configuration). */
  AUTH: 'STT_ERR_AUTH',
  /** The server has no free channel (`Error{message:"no free channels"}`). */
  FULL: 'STT_ERR_FULL',
  /** TCP/WebSocket connection failed or the handshake was refused (not 401). */
  CONNECT: 'STT_ERR_CONNECT',
  /** The `wss://` server's certificate failed verification (private CA not trusted, name, expiry). */
  TLS: 'STT_ERR_TLS',
  /** No `Ready` within the bounded wait after the upgrade. */
  READY_TIMEOUT: 'STT_ERR_READY_TIMEOUT',
  /** The server sent an `Error` message other than "no free channels". */
  SERVER: 'STT_ERR_SERVER',
  /** The WebSocket closed or errored while streaming. */
  CLOSED: 'STT_ERR_CLOSED',
  /** The flush Marker did not come back in time; the transcript may miss the last words. */
  FLUSH_TIMEOUT: 'STT_ERR_FLUSH_TIMEOUT',
  /** No server could take the stream (all full, down or refusing). */
  NO_SERVER: 'STT_ERR_NO_SERVER',
  /** The stream lost its server and no other one took it within the failover bound. */
  FAILOVER: 'STT_ERR_FAILOVER',
  /** The audio frame handed to the stream is not 1920 samples. */
  FRAME_SIZE: 'STT_ERR_FRAME_SIZE',
  /** The stream is not in a state that accepts this call (e.g. pushFrame after flush). */
  STATE: 'STT_ERR_STATE',
  /** A WAV file the transcribe command cannot read. */
  WAV: 'STT_ERR_WAV',
} as const;

export type SttErrorCode = (typeof STT_ERR)[keyof typeof STT_ERR];

/** An error of the STT client; `server` is the WebSocket URL involved, when there is one. */
export class SttError extends AppError {
  declare readonly code: SttErrorCode;
  readonly server: string | undefined;
  constructor(code: SttErrorCode, message: string, options?: ErrorOptions & { server?: string }) {
    super(code, message, options);
    this.server = options?.server;
  }
}
