import type { LogLevel } from '../../lib/threadPort.js';
import type { DtmfEvent } from '../session/DtmfReceiver.js';
import type { RemoteMedia, RtpSessionOptions, RtpSessionStats } from '../session/types.js';

/**
 * What crosses between the main thread and a media thread (`mediaThread.ts`). Sessions are numbered
 * by the main thread; a message about one carries its `id`.
 */

/** The options of a session on a media thread: the serialisable ones (the thread has its own clock, sockets and PLC). */
export type ThreadSessionOptions = Pick<
  RtpSessionOptions,
  | 'host'
  | 'portMin'
  | 'portMax'
  | 'jitter'
  | 'timeoutMs'
  | 'strictSource'
  | 'cname'
  | 'comfortNoisePayloadType'
  | 'sendBack'
  | 'keepaliveMs'
>;

export type ToThread =
  | { readonly t: 'open'; readonly id: number; readonly options: ThreadSessionOptions }
  | { readonly t: 'start' | 'update'; readonly id: number; readonly remote: RemoteMedia }
  | { readonly t: 'close'; readonly id: number }
  /** A frames message's samples, dispatched on the main thread and handed back for reuse. */
  | { readonly t: 'recycle'; readonly samples: Float32Array };

export type FromThread =
  /** The session is bound: its port, and its figures so far (all zero). */
  | { readonly t: 'opened'; readonly id: number; readonly port: number; readonly stats: RtpSessionStats }
  | { readonly t: 'open-failed'; readonly id: number; readonly code: string; readonly message: string }
  /**
   * The frames the sessions of the thread made in one tick of its scheduler: frame i belongs to
   * session `ids[i]`, sits at `offsets[i]` ms of its call time and is `samples[1920·i …]`.
   */
  | {
      readonly t: 'frames';
      readonly ids: readonly number[];
      readonly offsets: readonly number[];
      readonly samples: Float32Array;
    }
  | { readonly t: 'dtmf'; readonly id: number; readonly event: DtmfEvent }
  | { readonly t: 'timeout'; readonly id: number }
  /** A session's log line. */
  | {
      readonly t: 'log';
      readonly id: number;
      readonly level: LogLevel;
      readonly obj: object;
      readonly msg?: string;
    }
  /** Every session's figures, once a second, and the thread's JS heap in use (bytes). */
  | {
      readonly t: 'stats';
      readonly ids: readonly number[];
      readonly stats: readonly RtpSessionStats[];
      readonly heapUsed: number;
    }
  /** The session is closed (its ports released); its last figures. */
  | { readonly t: 'closed'; readonly id: number; readonly stats: RtpSessionStats };

/** Samples per frame (80 ms at 24 kHz). */
export const FRAME_SAMPLES = 1920;
