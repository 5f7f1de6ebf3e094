/**
 * The call store as every backend offers it: reads answer with promises (PostgreSQL answers over
 * the network), writes go in batches through `saveEvents` (StorageWriter). `sqliteAsync` gives the
 * embedded SQLite store (synchronous) this shape; `PgCallStore` is the PostgreSQL one.
 */
import type { CallRecord } from '../call/CallRecord.js';
import type { CallEvent } from '../events.js';
import type { CallStore, ListCallsOptions, StoredUtterance, StoredWord } from './CallStore.js';
import type { EventStore } from './StorageWriter.js';

export interface AsyncCallStore extends EventStore {
  saveCall(record: CallRecord): Promise<void>;
  getCall(id: string): Promise<CallRecord | undefined>;
  /** Calls, newest first. */
  listCalls(opts?: ListCallsOptions): Promise<CallRecord[]>;
  utterances(callId: string): Promise<StoredUtterance[]>;
  words(callId: string): Promise<StoredWord[]>;
  events(callId: string): Promise<CallEvent[]>;
  /** Calls not over, oldest first (only `instance`'s when given). */
  unfinishedCalls(instance?: string): Promise<CallRecord[]>;
  lastEvent(callId: string): Promise<{ seq: number; type: string; at: string } | undefined>;
  /** See `CallStore.deleteCallsOver`. */
  deleteCallsOver(beforeIso: string, instance?: string): Promise<string[]>;
  /** See `CallStore.deleteCall`. */
  deleteCall(id: string): Promise<boolean>;
}

/** `fn()` as a promise: what it throws becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

/** The SQLite store behind the asynchronous interface (every call answers at once). */
export function sqliteAsync(store: CallStore): AsyncCallStore {
  return {
    saveEvents: (events, json) => settle(() => store.saveEvents(events, json)),
    saveCall: (r) => settle(() => store.saveCall(r)),
    getCall: (id) => settle(() => store.getCall(id)),
    listCalls: (opts) => settle(() => store.listCalls(opts)),
    utterances: (id) => settle(() => store.utterances(id)),
    words: (id) => settle(() => store.words(id)),
    events: (id) => settle(() => store.events(id)),
    unfinishedCalls: (instance) => settle(() => store.unfinishedCalls(instance)),
    lastEvent: (id) => settle(() => store.lastEvent(id)),
    deleteCallsOver: (before, instance) => settle(() => store.deleteCallsOver(before, instance)),
    deleteCall: (id) => settle(() => store.deleteCall(id)),
  };
}

/**
 * `store` for a reader that must see every event published before it asks (the HTTP API: a page
 * opening a call that just ended): each read first waits for `settled()` (the storage sink's
 * events written so far). Writes pass through.
 */
export function readAfterWrites(store: AsyncCallStore, settled: () => Promise<void>): AsyncCallStore {
  const after =
    <A extends unknown[], T>(read: (...args: A) => Promise<T>) =>
    async (...args: A): Promise<T> => {
      await settled();
      return read(...args);
    };
  return {
    saveEvents: (events, json, webhooks) => store.saveEvents(events, json, webhooks),
    saveCall: (r) => store.saveCall(r),
    getCall: after((id: string) => store.getCall(id)),
    listCalls: after((opts?: ListCallsOptions) => store.listCalls(opts)),
    utterances: after((id: string) => store.utterances(id)),
    words: after((id: string) => store.words(id)),
    events: after((id: string) => store.events(id)),
    unfinishedCalls: after((instance?: string) => store.unfinishedCalls(instance)),
    lastEvent: after((id: string) => store.lastEvent(id)),
    deleteCallsOver: (before, instance) => store.deleteCallsOver(before, instance),
    deleteCall: (id) => store.deleteCall(id),
  };
}
