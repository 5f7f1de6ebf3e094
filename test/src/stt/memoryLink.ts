// An STT link in memory for stream tests: records what the stream sends, lets the test play the server.
import type { Clock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/logger.js';
import type { SttAdmission, SttPool } from '../../../src/stt/index.js';
import type { SttConnectionDelegate, SttServerConfig } from '../../../src/stt/SttConnection.js';
import type { ServerMessage } from '../../../src/stt/protocol.js';
import type { SttLink } from '../../../src/stt/streamTypes.js';
import { SttStream } from '../../../src/stt/SttStream.js';

export type Sent = { kind: 'audio'; zero: boolean; v: number } | { kind: 'marker'; id: number };

export class MemoryLink implements SttLink {
  readonly sent: Sent[] = [];
  delegate: SttConnectionDelegate | undefined;
  isOpen = true;
  closed = false;
  bufferedAmount = 0;
  lastActivityAt = Number.POSITIVE_INFINITY;
  /** Sees each audio frame as it is sent (the very buffer the stream hands to the socket). */
  onAudio: ((pcm: Float32Array) => void) | undefined;
  constructor(readonly server: SttServerConfig) {}
  attach(d: SttConnectionDelegate): void {
    this.delegate = d;
  }
  sendAudio(pcm: Float32Array): void {
    this.sent.push({ kind: 'audio', zero: pcm.every((v) => v === 0), v: pcm[0] ?? 0 });
    this.onAudio?.(pcm);
  }
  sendMarker(id: number): void {
    this.sent.push({ kind: 'marker', id });
  }
  close(): void {
    this.isOpen = false;
    this.closed = true;
  }
  recv(msg: ServerMessage): void {
    this.lastActivityAt = Number.POSITIVE_INFINITY;
    this.delegate?.onMessage(msg);
  }
}

/**
 * A pool of one stream on `link`: `admit()` waits until the test calls `grant()`, then `open`
 * makes a real `SttStream` on the link (model delay 480 ms, no reconnection).
 */
export function memoryLinkPool(
  link: MemoryLink,
  clock: Clock,
  wallClock: () => number,
): { pool: SttPool; grant: () => void } {
  let admitted!: (a: SttAdmission) => void;
  const admission = new Promise<SttAdmission>((r) => (admitted = r));
  const pool = {
    admit: () => admission,
    open: (
      _r: unknown,
      opts: ConstructorParameters<typeof SttStream>[1],
      delegate: ConstructorParameters<typeof SttStream>[4],
    ) =>
      new SttStream(
        link,
        opts,
        { modelDelayMs: 480 },
        {
          clock,
          logger: silentLogger,
          wallClock,
          host: {
            reconnect: () => Promise.reject(new Error('no')),
            released: () => undefined,
            reportLag: () => undefined,
          },
        },
        delegate,
      ),
  } as unknown as SttPool;
  const grant = (): void =>
    admitted({ decision: 'stream', reservation: { server: link.server.url } } as unknown as SttAdmission);
  return { pool, grant };
}
