import type { CallEvent } from '../events.js';
import type { CallStore } from '../storage/CallStore.js';
import type { JsonlFiles } from '../storage/JsonlFiles.js';
import type { TranscriptSink } from './TranscriptBus.js';

/**
 * Stores every event: a row in `events` (plus `words`/`utterances`) and a line in the call's JSONL
 * file. Writes are synchronous and local.
 */
export class StorageSink implements TranscriptSink {
  readonly name = 'storage';
  readonly #store: CallStore;
  readonly #files: JsonlFiles;

  constructor(store: CallStore, files: JsonlFiles) {
    this.#store = store;
    this.#files = files;
  }

  handle(event: CallEvent): void {
    this.#store.saveEvent(event);
    this.#files.append(event);
  }

  close(): void {
    this.#files.closeAll();
  }
}
