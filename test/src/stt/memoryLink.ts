// An STT link in memory for stream tests: records what the stream sends, lets the test play the server.
import type { SttConnectionDelegate, SttServerConfig } from '../../../src/stt/SttConnection.js';
import type { ServerMessage } from '../../../src/stt/protocol.js';
import type { SttLink } from '../../../src/stt/streamTypes.js';

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
