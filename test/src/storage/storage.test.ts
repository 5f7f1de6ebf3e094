import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../../src/call/CallRecord.js';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { JsonlFiles } from '../../../src/storage/JsonlFiles.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { StorageSink } from '../../../src/transcripts/StorageSink.js';
import { FIXTURES } from '../../helpers/paths.js';

const META: CallMeta = {
  sipCallId: 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6@192.0.2.4',
  from: '"Alice" <sip:alice@example.com>',
  to: 'sip:1001@192.0.2.10',
  account: '1001@pbx.example.com',
  transport: 'tcp',
  codec: 'PCMA',
  source: '192.0.2.4:5070',
};

function record(id: string, createdAt: string, patch: Partial<CallRecord> = {}): CallRecord {
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

const common = (callId: string, seq: number) => ({
  seq,
  callId,
  at: `2026-03-01T10:00:0${seq}.000Z`,
  offsetMs: seq * 1000,
  call: META,
});

const EVENTS: CallEvent[] = [
  { type: 'call.started', ...common('call-1', 1) },
  { type: 'transcript.word', text: 'quick', startMs: 480, channel: 'caller', ...common('call-1', 2) },
  {
    type: 'transcript.word',
    text: 'brown',
    startMs: 800,
    endMs: 1120,
    channel: 'caller',
    ...common('call-1', 3),
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
    ...common('call-1', 4),
  },
  { type: 'dtmf', digit: '#', durationMs: 200, ...common('call-1', 5) },
  {
    type: 'call.ended',
    reason: 'bye-remote',
    durationMs: 6000,
    transcript: [
      {
        text: 'quick brown',
        startMs: 480,
        endMs: 1120,
        words: [
          { text: 'quick', startMs: 480, endMs: 800 },
          { text: 'brown', startMs: 800, endMs: 1120 },
        ],
        channel: 'caller',
      },
    ],
    ...common('call-1', 6),
  },
];

/** The user tables (SQLite's own sqlite_sequence aside), sorted. */
function tableNames(db: Db): string[] {
  return db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .all()
    .map((r) => r.name);
}

describe('storage', () => {
  let dir = '';
  let db: Db | undefined;
  afterEach(() => {
    db?.close();
    db = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the schema with WAL and keeps data across reopen', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-store-'));
    db = openDatabase(dir);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    // Six schema versions so far: 1 (calls, events, words, utterances, outbox), 2 (refused),
    // 3 (outbox claims), 4 (calls.ingress), 5 (calls.recording), 6 (calls.instance).
    expect(db.pragma('user_version', { simple: true })).toBe(6);
    expect(tableNames(db)).toEqual(['calls', 'events', 'outbox', 'refused', 'utterances', 'words']);
    new CallStore(db).saveCall(record('call-1', '2026-03-01T10:00:00.000Z'));
    db.close();
    db = openDatabase(dir);
    expect(new CallStore(db).getCall('call-1')?.meta).toEqual(META);
    // A call from another system keeps its ingress; a SIP call's meta has none (sip).
    const twilio = record('call-2', '2026-03-01T10:01:00.000Z');
    new CallStore(db).saveCall({ ...twilio, meta: { ...twilio.meta, ingress: 'twilio' } });
    expect(new CallStore(db).getCall('call-2')?.meta.ingress).toBe('twilio');
    // A SIPREC session keeps its participants.
    const recording = {
      sipSessionId: 'ab30317f1a784dc48ff824d0d3715d86',
      participants: [{ channel: 'caller', label: '96', aor: 'sip:alice@example.com', name: 'Alice' }],
    };
    const rec = record('call-3', '2026-03-01T10:02:00.000Z');
    new CallStore(db).saveCall({ ...rec, meta: { ...rec.meta, recording } });
    expect(new CallStore(db).getCall('call-3')?.meta.recording).toEqual(recording);
  });

  it('upgrades a database left by schema version 1, keeping its calls', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-store-'));
    const old = new Database(join(dir, 'sipscribe.db'));
    old.exec(readFileSync(join(FIXTURES, 'storage', 'schema_v1.sql'), 'utf8'));
    expect(old.pragma('user_version', { simple: true })).toBe(1);
    old.close();
    db = openDatabase(dir);
    expect(db.pragma('user_version', { simple: true })).toBe(6);
    expect(tableNames(db)).toEqual(['calls', 'events', 'outbox', 'refused', 'utterances', 'words']);
    const call = new CallStore(db).getCall('call-v1');
    expect(call?.meta.sipCallId).toBe('a84b4c76e66710@pc33.example.com');
    expect([call?.state, call?.endReason, call?.durationMs]).toEqual(['ended', 'bye-remote', 59000]);
  });

  it('stores calls, updates them, and lists newest first with paging', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-store-'));
    db = openDatabase(dir);
    const store = new CallStore(db);
    store.saveCall(record('a', '2026-03-01T10:00:00.000Z'));
    store.saveCall(record('b', '2026-03-01T11:00:00.000Z'));
    store.saveCall(record('c', '2026-03-01T12:00:00.000Z', { state: 'rejected', rejectStatus: 486 }));
    store.saveCall(
      record('a', '2026-03-01T10:00:00.000Z', {
        state: 'ended',
        endedAt: '2026-03-01T10:05:00.000Z',
        endReason: 'bye-local',
        durationMs: 300000,
      }),
    );
    expect(store.listCalls().map((c) => c.id)).toEqual(['c', 'b', 'a']);
    expect(store.listCalls({ limit: 1 }).map((c) => c.id)).toEqual(['c']);
    expect(store.listCalls({ before: '2026-03-01T12:00:00.000Z' }).map((c) => c.id)).toEqual(['b', 'a']);
    expect(store.getCall('a')).toMatchObject({
      state: 'ended',
      endReason: 'bye-local',
      durationMs: 300000,
      endedAt: '2026-03-01T10:05:00.000Z',
    });
    expect(store.getCall('c')).toMatchObject({ state: 'rejected', rejectStatus: 486 });
    expect(store.getCall('nope')).toBeUndefined();
    // b was still active when the process died.
    expect(store.unfinishedCalls().map((c) => c.id)).toEqual(['b']);
    expect(store.lastEvent('b')).toBeUndefined();
  });

  it('the storage sink writes events, words, utterances and one JSONL file per call', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-store-'));
    db = openDatabase(dir);
    const store = new CallStore(db);
    const files = new JsonlFiles(dir);
    const sink = new StorageSink(store, files);
    for (const e of EVENTS) {
      sink.handle(e);
    }
    await sink.flush();
    expect(files.openFiles).toBe(0); // call.ended closed the file
    // Replaying an event (e.g. after a crash) does not duplicate it.
    sink.handle(EVENTS[1]!);
    await sink.flush();
    expect(store.words('call-1')).toEqual([
      { seq: 2, text: 'quick', startMs: 480, channel: 'caller' },
      { seq: 3, text: 'brown', startMs: 800, endMs: 1120, channel: 'caller' },
    ]);
    expect(store.utterances('call-1')).toEqual([
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
    expect(store.events('call-1')).toEqual(EVENTS);
    expect(files.openFiles).toBe(1); // the replayed event reopened the file
    await sink.close();
    const lines = readFileSync(join(dir, 'calls', 'call-1.jsonl'), 'utf8').split('\n');
    expect(lines).toHaveLength(8); // 7 lines + the empty string after the last newline
    expect(lines[7]).toBe('');
    expect(JSON.parse(lines[0]!)).toEqual(EVENTS[0]);
    expect(lines[1]).toBe(
      '{"type":"transcript.word","text":"quick","startMs":480,"channel":"caller","seq":2,' +
        '"callId":"call-1","at":"2026-03-01T10:00:02.000Z","offsetMs":2000,"call":{"sipCallId":' +
        '"f81d4fae-7dec-11d0-a765-00a0c91e6bf6@192.0.2.4","from":"\\"Alice\\" <sip:alice@example.com>",' +
        '"to":"sip:1001@192.0.2.10","account":"1001@pbx.example.com","transport":"tcp","codec":"PCMA",' +
        '"source":"192.0.2.4:5070"}}',
    );
  });

  it('names the folder when the database cannot be opened', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-store-'));
    const notADir = join(dir, 'file');
    writeFileSync(notADir, 'x');
    expect(() => openDatabase(notADir)).toThrow(
      expect.objectContaining({
        code: 'STORAGE_ERR_OPEN',
        message: expect.stringContaining(notADir) as string,
      }),
    );
  });

  it('refuses call ids that are not safe file names', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-store-'));
    const files = new JsonlFiles(dir);
    expect(() => files.pathOf('../etc/passwd')).toThrow(RangeError);
    expect(() => files.pathOf('..')).toThrow(RangeError);
  });
});
