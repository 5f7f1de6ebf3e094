/**
 * One JSON Lines file per call: `<storage.dir>/calls/<callId>.jsonl`, one event per line. Events
 * come in batches (`StorageWriter`): each call's lines of a batch are one write, done by libuv's
 * thread pool (nothing synchronous on the event loop); `call.ended` closes the file. The caller
 * writes one batch at a time, so lines keep their order.
 */
import { close, mkdirSync, open, write } from 'node:fs';
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

  /**
   * Appends a batch of events to their calls' files (one write per file); a call's `call.ended`
   * closes its file. `json[i]` is `JSON.stringify(events[i])` (serialized once for the database
   * too). Resolves when every line is written; rejects with the first error after every file of the
   * batch was tried.
   */
  async appendBatch(events: readonly CallEvent[], json: readonly string[]): Promise<void> {
    const byCall = new Map<string, { lines: string; ended: boolean }>();
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as CallEvent;
      const entry = byCall.get(e.callId) ?? { lines: '', ended: false };
      entry.lines += `${json[i]}\n`;
      entry.ended ||= e.type === 'call.ended';
      byCall.set(e.callId, entry);
    }
    const results = await Promise.allSettled(
      [...byCall].map(([callId, { lines, ended }]) => this.#write(callId, lines, ended)),
    );
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) {
      throw failure.reason;
    }
  }

  async #write(callId: string, lines: string, ended: boolean): Promise<void> {
    let fd = this.#open.get(callId);
    if (fd === undefined) {
      const path = this.pathOf(callId);
      fd = await new Promise<number>((resolve, reject) =>
        open(path, 'a', (err, opened) => (err ? reject(err) : resolve(opened))),
      );
      this.#open.set(callId, fd);
    }
    try {
      await writeAll(fd, Buffer.from(lines));
    } finally {
      if (ended) {
        this.#open.delete(callId);
        await closeFd(fd);
      }
    }
  }

  /** Number of files open (calls not ended yet). */
  get openFiles(): number {
    return this.#open.size;
  }

  async closeAll(): Promise<void> {
    const fds = [...this.#open.values()];
    this.#open.clear();
    await Promise.allSettled(fds.map(closeFd));
  }
}

/**
 * Writes all of `buf` at the end of the file (callback `fs.write`: the write runs on libuv's
 * thread pool, and costs less than `FileHandle` promises).
 */
async function writeAll(fd: number, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) {
    off += await new Promise<number>((resolve, reject) =>
      write(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}
