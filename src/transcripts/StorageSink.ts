import { wallClock, type Clock } from '../../lib/clock.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import type { CallEvent } from '../events.js';
import type { JsonlFiles } from '../storage/JsonlFiles.js';
import { StorageWriter, type EventStore, type WebhookRouting } from '../storage/StorageWriter.js';
import type { TranscriptSink } from './TranscriptBus.js';

interface StorageSinkOptions {
  clock?: Clock;
  logger?: Logger;
  /** `storage.writeBatchMs` (default 50). */
  intervalMs?: number;
  /** `storage.writeBatchRows` (default 500). */
  maxRows?: number;
  /** Called once per event that could not be stored. */
  onFailure?: (events: number) => void;
  /** Webhooks: each stored event's outbox rows, in the same transaction (see StorageWriter). */
  webhooks?: WebhookRouting;
}

/**
 * Stores every event: a row in `events` (plus `words`/`utterances`), its webhook outbox rows, and a
 * line in the call's JSONL file, in batches across calls (`StorageWriter`): `handle` only queues. `flush()` (the bus's
 * flush) and `close()` write what is queued.
 */
export class StorageSink implements TranscriptSink {
  readonly name = 'storage';
  readonly writer: StorageWriter;

  constructor(store: EventStore, files: JsonlFiles, opts: StorageSinkOptions = {}) {
    this.writer = new StorageWriter({
      store,
      files,
      clock: opts.clock ?? wallClock,
      logger: opts.logger ?? silentLogger,
      intervalMs: opts.intervalMs ?? 50,
      maxRows: opts.maxRows ?? 500,
      ...(opts.onFailure ? { onFailure: opts.onFailure } : {}),
      ...(opts.webhooks ? { webhooks: opts.webhooks } : {}),
    });
  }

  handle(event: CallEvent): void {
    this.writer.add(event);
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Resolves once every event handled so far is stored (`StorageWriter.settled`). */
  settled(): Promise<void> {
    return this.writer.settled();
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}
