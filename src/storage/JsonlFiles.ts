/**
 * One JSON Lines file per call: `<storage.dir>/calls/<callId>.jsonl`, one event per line, appended
 * as events arrive (synchronous writes, so a line is on disk when `append` returns).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { CallEvent } from '../events.js';

/** Call ids become file names: keep them to a safe alphabet. */
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;

export class JsonlFiles {
  readonly dir: string;
  readonly #open = new Map<string, number>();

  constructor(storageDir: string) {
    this.dir = join(storageDir, 'calls');
    mkdirSync(this.dir, { recursive: true });
  }

  /** The file of a call. */
  pathOf(callId: string): string {
    if (!SAFE_ID.test(callId) || callId.startsWith('.')) {
      throw new RangeError(`call id ${JSON.stringify(callId)} is not usable as a file name`);
    }
    return join(this.dir, `${callId}.jsonl`);
  }

  /** Appends an event to its call's file; `call.ended` closes the file. */
  append(event: CallEvent): void {
    let fd = this.#open.get(event.callId);
    if (fd === undefined) {
      fd = openSync(this.pathOf(event.callId), 'a');
      this.#open.set(event.callId, fd);
    }
    writeSync(fd, `${JSON.stringify(event)}\n`);
    if (event.type === 'call.ended') {
      this.#open.delete(event.callId);
      closeSync(fd);
    }
  }

  /** Number of files open (calls not ended yet). */
  get openFiles(): number {
    return this.#open.size;
  }

  closeAll(): void {
    for (const fd of this.#open.values()) {
      closeSync(fd);
    }
    this.#open.clear();
  }
}
