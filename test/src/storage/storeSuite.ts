/**
 * One suite for every call-store backend (SQLite in the unit tests, PostgreSQL in
 * test/integration/postgres-store.integration.test.ts): what a store must do, through the
 * asynchronous interface, with expectations written by hand.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../helpers/FakeClock.js';
import type { CallRecord } from '../../../src/call/CallRecord.js';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import type { AsyncCallStore } from '../../../src/storage/AsyncCallStore.js';
import { JsonlFiles } from '../../../src/storage/JsonlFiles.js';
import { StorageWriter } from '../../../src/storage/StorageWriter.js';
import { silentLogger } from '../../../lib/logger.js';

export const META: CallMeta = {
  sipCallId: 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6@192.0.2.4',
  from: '"Alice" <sip:alice@example.com>',
  to: 'sip:1001@192.0.2.10',
  account: '1001@pbx.example.com',
  transport: 'tcp',
  codec: 'PCMA',
  source: '192.0.2.4:5070',
};

/** A call answered at `createdAt`, streaming, with `patch` applied. */
export function record(id: string, createdAt: string, patch: Partial<CallRecord> = {}): CallRecord {
  return {
    id,
    meta: META,
    state: 'streaming',
    createdAt,
    answeredAt: createdAt,
    endedAt: null,
    endReason: null,
    rejectStatus: null,
    durationMs: null,
    ...patch,
  };
}

/** A caller's word event of `callId`, `seq` tenths of a second in. */
export function word(callId: string, seq: number, text: string): CallEvent {
  return {
    type: 'transcript.word',
    text,
    startMs: seq * 100,
    channel: 'caller',
    seq,
    callId,
    at: '2026-03-01T10:00:00.000Z',
    offsetMs: seq * 100,
    call: META,
  };
}

const common = (callId: string, seq: number) => ({
  seq,
  callId,
  at: `2026-03-01T10:00:0${seq}.000Z`,
  offsetMs: seq * 1000,
  call: META,
});

function events(callId: string): CallEvent[] {
  return [
    { type: 'call.started', ...common(callId, 1) },
    { type: 'transcript.word', text: 'quick', startMs: 480, channel: 'caller', ...common(callId, 2) },
    {
      type: 'transcript.word',
      text: 'brown',
      startMs: 800,
      endMs: 1120,
      channel: 'callee',
      ...common(callId, 3),
    },
    {
      type: 'transcript.utterance',
      text: 'quick brown',
      startMs: 480,
      endMs: 1120,
      words: [
        { text: 'quick', startMs: 480, endMs: 800 },
        { text: 'brown', startMs: 800, endMs: 1120 },
      ],
      channel: 'caller',
      final: true,
      ...common(callId, 4),
    },
  ];
}

export interface Backend {
  store: AsyncCallStore;
  /** A folder for JSONL files. */
  dir: string;
  close(): Promise<void>;
}

/** Registers the suite; `open()` gives a fresh, empty store for each test. */
export function describeCallStore(name: string, open: () => Promise<Backend>): void {
  describe(`call store: ${name}`, () => {
    async function withStore(fn: (b: Backend) => Promise<void>): Promise<void> {
      const b = await open();
      try {
        await fn(b);
      } finally {
        await b.close();
      }
    }

    it("finds recording sessions by a participant or the recorded call's Session-ID, case aside", () =>
      withStore(async ({ store }) => {
        const recording = {
          sipSessionId: 'ab30317f1a784dc48ff824d0d3715d86',
          participants: [
            { channel: 'caller', label: '96', aor: 'sip:bob@biloxi.com', name: 'Bob' },
            { channel: 'callee', label: '98', aor: 'sip:paul@biloxi.com', name: 'Paul 50%_off' },
          ],
        };
        await store.saveCall(record('plain', '2026-03-01T10:00:00.000Z'));
        await store.saveCall(record('rec1', '2026-03-01T11:00:00.000Z', { meta: { ...META, recording } }));
        await store.saveCall(record('rec2', '2026-03-01T12:00:00.000Z', { meta: { ...META, recording } }));
        const ids = async (text: string, before?: string): Promise<string[]> =>
          (await store.listCalls({ recording: text, ...(before ? { before } : {}) })).map((c) => c.id);
        expect(await ids('PAUL@biloxi')).toEqual(['rec2', 'rec1']);
        expect(await ids('ab30317f')).toEqual(['rec2', 'rec1']);
        expect(await ids('bob', '2026-03-01T12:00:00.000Z')).toEqual(['rec1']);
        // % and _ are the text itself, not wildcards.
        expect(await ids('50%_off')).toEqual(['rec2', 'rec1']);
        expect(await ids('50%_of_')).toEqual([]);
        expect(await ids('b%b')).toEqual([]);
        expect(await ids('carol')).toEqual([]);
        expect(await store.getCall('rec1')).toMatchObject({ meta: { recording } });
      }));

    it("keeps each call's instance: unfinished calls and retention per instance", () =>
      withStore(async ({ store }) => {
        const ended = { state: 'ended', endedAt: '2026-03-01T10:05:00.000Z', durationMs: 300000 } as const;
        await store.saveCall(record('a-live', '2026-03-01T10:00:00.000Z', { instance: 'host-a' }));
        await store.saveCall(record('b-live', '2026-03-01T10:01:00.000Z', { instance: 'host-b' }));
        await store.saveCall(record('a-old', '2026-03-01T09:00:00.000Z', { ...ended, instance: 'host-a' }));
        await store.saveCall(record('b-old', '2026-03-01T09:01:00.000Z', { ...ended, instance: 'host-b' }));
        await store.saveCall(record('none-live', '2026-03-01T10:02:00.000Z'));
        expect((await store.getCall('a-live'))?.instance).toBe('host-a');
        expect(await store.getCall('none-live')).not.toHaveProperty('instance');
        expect((await store.unfinishedCalls('host-a')).map((c) => c.id)).toEqual(['a-live']);
        expect((await store.unfinishedCalls('host-c')).map((c) => c.id)).toEqual([]);
        expect((await store.unfinishedCalls()).map((c) => c.id)).toEqual(['a-live', 'b-live', 'none-live']);
        expect(await store.deleteCallsOver('2026-03-02T00:00:00.000Z', 'host-b')).toEqual(['b-old']);
        expect(await store.getCall('a-old')).toBeDefined();
      }));

    it('stores calls, updates them, and lists newest first with paging', () =>
      withStore(async ({ store }) => {
        await store.saveCall(record('a', '2026-03-01T10:00:00.000Z'));
        await store.saveCall(record('b', '2026-03-01T11:00:00.000Z'));
        await store.saveCall(
          record('c', '2026-03-01T12:00:00.000Z', { state: 'rejected', rejectStatus: 486 }),
        );
        await store.saveCall(
          record('a', '2026-03-01T10:00:00.000Z', {
            state: 'ended',
            endedAt: '2026-03-01T10:05:00.000Z',
            endReason: 'bye-local',
            durationMs: 300000,
          }),
        );
        expect((await store.listCalls()).map((c) => c.id)).toEqual(['c', 'b', 'a']);
        expect((await store.listCalls({ limit: 1 })).map((c) => c.id)).toEqual(['c']);
        expect((await store.listCalls({ before: '2026-03-01T12:00:00.000Z' })).map((c) => c.id)).toEqual([
          'b',
          'a',
        ]);
        expect(await store.getCall('a')).toEqual(
          record('a', '2026-03-01T10:00:00.000Z', {
            state: 'ended',
            endedAt: '2026-03-01T10:05:00.000Z',
            endReason: 'bye-local',
            durationMs: 300000,
          }),
        );
        expect(await store.getCall('c')).toMatchObject({ state: 'rejected', rejectStatus: 486 });
        expect(await store.getCall('nope')).toBeUndefined();
        expect((await store.unfinishedCalls()).map((c) => c.id)).toEqual(['b']);
      }));

    it('stores a batch of events with its words and utterances; a replayed event is ignored', () =>
      withStore(async ({ store }) => {
        const evs = events('call-1');
        await store.saveEvents(
          evs,
          evs.map((e) => JSON.stringify(e)),
        );
        await store.saveEvents([evs[1]!], [JSON.stringify(evs[1])]);
        expect(await store.events('call-1')).toEqual(evs);
        expect(await store.words('call-1')).toEqual([
          { seq: 2, text: 'quick', startMs: 480, channel: 'caller' },
          { seq: 3, text: 'brown', startMs: 800, endMs: 1120, channel: 'callee' },
        ]);
        expect(await store.utterances('call-1')).toEqual([
          {
            seq: 4,
            text: 'quick brown',
            startMs: 480,
            endMs: 1120,
            channel: 'caller',
            words: [
              { text: 'quick', startMs: 480, endMs: 800 },
              { text: 'brown', startMs: 800, endMs: 1120 },
            ],
          },
        ]);
        expect(await store.lastEvent('call-1')).toEqual({
          seq: 4,
          type: 'transcript.utterance',
          at: '2026-03-01T10:00:04.000Z',
        });
        expect(await store.lastEvent('other')).toBeUndefined();
      }));

    it('the writer batches the events of several calls into it, in order', () =>
      withStore(async ({ store, dir }) => {
        const clock = new FakeClock(0);
        const w = new StorageWriter({
          store,
          files: new JsonlFiles(dir),
          clock,
          logger: silentLogger,
          intervalMs: 50,
          maxRows: 500,
        });
        const a = events('call-a');
        const b = events('call-b');
        for (let i = 0; i < a.length; i++) {
          w.add(a[i]!);
          w.add(b[i]!);
        }
        clock.advance(50);
        await w.close();
        expect(w.stats).toMatchObject({ batches: 1, events: 8, failed: 0 });
        expect(await store.events('call-a')).toEqual(a);
        expect((await store.words('call-b')).map((x) => x.text)).toEqual(['quick', 'brown']);
      }));

    it('deletes a finished call with its events, refuses an active one, and sweeps old calls', () =>
      withStore(async ({ store }) => {
        await store.saveCall(
          record('old', '2026-01-01T10:00:00.000Z', { state: 'ended', endedAt: '2026-01-01T10:01:00.000Z' }),
        );
        await store.saveCall(
          record('new', '2026-03-01T10:00:00.000Z', { state: 'ended', endedAt: '2026-03-01T10:01:00.000Z' }),
        );
        await store.saveCall(record('live', '2026-01-01T09:00:00.000Z'));
        for (const id of ['old', 'new', 'live']) {
          const evs = events(id);
          await store.saveEvents(
            evs,
            evs.map((e) => JSON.stringify(e)),
          );
        }
        expect(await store.deleteCall('live')).toBe(false);
        expect(await store.deleteCall('nope')).toBe(false);
        expect(await store.deleteCallsOver('2026-02-01T00:00:00.000Z')).toEqual(['old']);
        expect(await store.getCall('old')).toBeUndefined();
        expect(await store.events('old')).toEqual([]);
        expect(await store.words('old')).toEqual([]);
        expect(await store.deleteCall('new')).toBe(true);
        expect(await store.utterances('new')).toEqual([]);
        expect((await store.listCalls()).map((c) => c.id)).toEqual(['live']);
        expect((await store.words('live')).length).toBe(2);
      }));
  });
}
