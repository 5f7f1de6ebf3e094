import type { PortLogLine } from '../../lib/threadPort.js';
import type { ClientTlsOptions } from '../tls/credentials.js';
import type { SttErrorCode } from './errors.js';
import type { ServerMessage } from './protocol.js';
import type { SttServerConfig } from './SttConnection.js';

/**
 * What crosses between the main thread (`SttLinkThreads`) and the STT sockets on a media thread
 * (`linkThread.ts`). Connections are numbered by the main thread; a message about one carries its
 * `id`.
 */
export type ToLinkThread =
  | {
      readonly t: 'connect';
      readonly id: number;
      readonly server: SttServerConfig;
      readonly readyTimeoutMs: number;
      readonly tls: ClientTlsOptions | undefined;
    }
  /** One tick's `Audio` frames: frame i (1920 samples) goes on connection `ids[i]`; handed back in `sent`. */
  | { readonly t: 'audio'; readonly ids: readonly number[]; readonly samples: Float32Array }
  /** An `Audio` message of another length. */
  | { readonly t: 'pcm'; readonly id: number; readonly pcm: Float32Array }
  | { readonly t: 'marker'; readonly id: number; readonly marker: number }
  | { readonly t: 'close'; readonly id: number };

export type FromLinkThread =
  | { readonly t: 'ready'; readonly id: number }
  | { readonly t: 'failed'; readonly id: number; readonly code: SttErrorCode; readonly message: string }
  /** Messages from the servers since the last one, in order: `msgs[i]` came on connection `ids[i]`. */
  | { readonly t: 'in'; readonly ids: readonly number[]; readonly msgs: readonly ServerMessage[] }
  /** An `audio` message's buffer handed back; each connection's unsent bytes after its frame. */
  | {
      readonly t: 'sent';
      readonly ids: readonly number[];
      readonly buffered: readonly number[];
      readonly samples: Float32Array;
    }
  /** Once a second: how long each connection has heard nothing from its server (messages, pings), in ms. */
  | { readonly t: 'idle'; readonly ids: readonly number[]; readonly idleMs: readonly number[] }
  /** The socket closed or failed while open (not after the main thread's `close`). */
  | { readonly t: 'lost'; readonly id: number; readonly message: string }
  /** The TCP connection is gone. */
  | { readonly t: 'gone'; readonly id: number }
  | ({ readonly t: 'log' } & PortLogLine);
