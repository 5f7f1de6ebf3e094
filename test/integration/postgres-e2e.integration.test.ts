/**
 * The whole product on PostgreSQL (`storage.url`): Debian's server as a throwaway cluster
 * (test/helpers/postgres.ts), instances started by the e2e harness on one database. A SIP call's
 * words are stored in PostgreSQL, served by every instance's API and shown by every instance's live
 * feed (LISTEN/NOTIFY); the webhook events of the
 * shared outbox arrive once each; a restart of one instance closes only the calls it left
 * unfinished, not another instance's live call; the refused log is shared and retention runs per
 * instance.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/events.js';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { getJson, startAgain, startE2e, until, WEBHOOK_SECRET, wordsSentBy, type E2e } from './e2eHarness.js';

interface CallJson {
  id: string;
  state: string;
  endReason: string | null;
}

let cluster: PostgresCluster;
const envs: E2e[] = [];
const clients: pg.Client[] = [];

beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);

afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await Promise.all(clients.map((c) => c.end()));
  await cluster?.stop();
  await stopAll();
});

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  clients.push(c);
  return c;
}

/** An instance of the product on database `url` named `instanceId`. */
async function instance(
  name: string,
  url: string,
  instanceId: string,
  overrides: Record<string, unknown> = {},
  opts: Parameters<typeof startE2e>[2] = {},
): Promise<E2e> {
  const { storage, ...rest } = overrides;
  const e2e = await startE2e(name, { ...rest, storage: { url, instanceId, ...(storage as object) } }, opts);
  envs.push(e2e);
  return e2e;
}

const calls = async (e2e: Pick<E2e, 'base'>): Promise<CallJson[]> =>
  (await getJson<{ calls: CallJson[] }>(`${e2e.base}/api/calls`)).calls;

describe('sipscribe on PostgreSQL (storage.url)', () => {
  it("two instances share one database: each lists and serves the other's call, its webhook events arrive once", async () => {
    const url = await cluster.createDatabase('e2e_shared');
    const a = await instance('pg-e2e-a', url, 'host-a');
    // Every instance on one database has the same webhooks (the receiver of a).
    const b = await instance(
      'pg-e2e-b',
      url,
      'host-b',
      { webhooks: [{ url: a.hookUrl, secret: WEBHOOK_SECRET, retry: { minDelayMs: 50, maxDelayMs: 200 } }] },
      { webhook: false },
    );
    const result = await sippCall(`127.0.0.1:${a.sipPort}`, 'uac_call_pcmu.xml', { durationMs: 3000 });
    expect(result.code).toBe(0);
    const callId = a.live.find((e) => e.type === 'call.started')?.callId ?? '';

    // b (which never saw the call) lists it and serves its transcript from PostgreSQL.
    const listed = await until(
      async () => (await calls(b)).find((c) => c.id === callId && c.state === 'ended'),
      "the call ended in b's list",
    );
    expect(listed.endReason).toBe('bye-remote');
    // Every word the STT sent, the ones of the end-of-call flush included.
    const expected = wordsSentBy(a.fake.admitted[0]!);
    expect(expected.length).toBeGreaterThan(3);
    // Its row says ended as soon as the last batch of its events is on the way: wait for the words.
    let text = '';
    await until(async () => {
      text = (await getJson<{ text: string }>(`${b.base}/api/calls/${callId}/transcript`)).text;
      return text === expected.join(' ');
    }, "the whole transcript from b's API").catch(() => undefined);
    expect(text).toBe(expected.join(' '));
    expect(await getJson<CallJson>(`${b.base}/api/calls/${callId}`)).toMatchObject({ state: 'ended' });

    // b's live feed showed a's call as it went (LISTEN/NOTIFY): the same events as a's feed, in
    // order, each once; a's feed has each of them once too (its own notifications are skipped).
    await until(
      () => b.live.some((e) => e.callId === callId && e.type === 'call.ended'),
      "a's call.ended on b's live feed",
    );
    const onB = b.live.filter((e) => e.callId === callId);
    const onA = a.live.filter((e) => e.callId === callId);
    expect(onA.map((e) => e.seq)).toEqual(onA.map((_, i) => i + 1));
    expect(onB).toEqual(onA);
    expect(onB.flatMap((e) => (e.type === 'transcript.word' ? [e.text] : []))).toEqual(expected);

    // The rows themselves: every word as it arrived, the call owned by a.
    const db = await connect(url);
    const words = await db.query<{ text: string }>('SELECT text FROM words WHERE call_id = $1 ORDER BY seq', [
      callId,
    ]);
    expect(words.rows.map((w) => w.text)).toEqual(expected);
    const row = await db.query('SELECT instance, state FROM calls WHERE id = $1', [callId]);
    expect(row.rows).toEqual([{ instance: 'host-a', state: 'ended' }]);

    // Webhook events: delivered by whichever dispatcher claimed them, each once, in order.
    await until(
      () => a.hooks.some((h) => h.event.callId === callId && h.event.type === 'call.ended'),
      'call.ended at the webhook receiver',
    );
    await until(
      async () => (await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM outbox')).rows[0]?.n === 0,
      'the outbox emptied',
    );
    const seqs = a.hooks.filter((h) => h.event.callId === callId).map((h) => h.event.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    const stored = await db.query<{ seq: string }>(
      "SELECT seq FROM events WHERE call_id = $1 AND type IN ('call.started', 'transcript.utterance', 'call.ended') ORDER BY seq",
      [callId],
    );
    expect(seqs).toEqual(stored.rows.map((r) => Number(r.seq))); // int8 comes as text
    expect(a.hooks.every((h) => h.signatureOk)).toBe(true);
  });

  it("a restart of one instance closes the calls it left, not another instance's live call", async () => {
    const url = await cluster.createDatabase('e2e_restart');
    const a = await instance('pg-e2e-restart-a', url, 'host-a', {}, { webhook: false });
    const b = await instance('pg-e2e-restart-b', url, 'host-b', {}, { webhook: false });
    // A live call on b.
    const sipp = sippCall(`127.0.0.1:${b.sipPort}`, 'uac_call_pcmu.xml', {
      durationMs: 12_000,
      timeoutS: 30,
    });
    await until(
      () => b.live.filter((e) => e.type === 'transcript.word').length >= 2,
      'words of the call on b',
    );
    const live = b.live.find((e) => e.type === 'call.started')?.callId ?? '';
    // What a run of a killed with a call in progress leaves: its row streaming, two words stored.
    const db = await connect(url);
    const at = new Date(Date.now() - 60_000).toISOString();
    await db.query(
      `INSERT INTO calls (id, sip_call_id, from_uri, to_uri, transport, source, state, created_at, answered_at, instance)
       VALUES ('left-by-a', 'x@192.0.2.4', 'sip:alice@example.com', 'sip:1001@192.0.2.10', 'udp', '192.0.2.4:5060',
               'streaming', $1, $1, 'host-a')`,
      [at],
    );
    for (const [seq, text] of [
      [1, 'hello'],
      [2, 'there'],
    ] as const) {
      const e = {
        type: 'transcript.word',
        text,
        startMs: seq * 500,
        channel: 'caller',
        seq,
        callId: 'left-by-a',
        at,
      };
      await db.query(
        "INSERT INTO events (call_id, seq, type, at, body) VALUES ('left-by-a', $1, $2, $3, $4)",
        [seq, e.type, at, JSON.stringify(e)],
      );
      await db.query(
        "INSERT INTO words (call_id, seq, text, start_ms, channel) VALUES ('left-by-a', $1, $2, $3, 'caller')",
        [seq, text, seq * 500],
      );
    }

    // a restarts (same instanceId) while b's call goes on.
    await a.app.stop(5000);
    const again = await startAgain(a, 'pg-e2e-restart-a2', {
      stt: { servers: [{ url: a.fake.url, apiKey: 'public_token' }] },
      storage: { url, instanceId: 'host-a' },
    });
    try {
      const state = async (id: string): Promise<string> =>
        (await db.query<{ state: string }>('SELECT state FROM calls WHERE id = $1', [id])).rows[0]?.state ??
        '';
      // a's own call is closed by the restart, with its words...
      const body = await until(
        async () =>
          (
            await db.query<{ body: string }>(
              "SELECT body FROM events WHERE call_id = 'left-by-a' AND type = 'call.ended'",
            )
          ).rows[0]?.body,
        'call.ended of the call a left',
      );
      expect(await state('left-by-a')).toBe('ended');
      const end = JSON.parse(body) as Extract<CallEvent, { type: 'call.ended' }>;
      expect(end.transcript.map((u) => u.text)).toEqual(['hello there']);
      // ...and b's call is still live, still taking words.
      expect(await state(live)).toBe('streaming');
      const words = b.live.filter((e) => e.type === 'transcript.word').length;
      await until(
        () => b.live.filter((e) => e.type === 'transcript.word').length > words,
        'more words on b after the restart of a',
      );
      const result = await sipp;
      expect(result.code).toBe(0);
      await until(async () => (await state(live)) === 'ended', "b's call ended by its caller");
      const row = await db.query('SELECT end_reason, instance FROM calls WHERE id = $1', [live]);
      expect(row.rows).toEqual([{ end_reason: 'bye-remote', instance: 'host-b' }]);
      const stored = await db.query<{ text: string }>(
        'SELECT text FROM words WHERE call_id = $1 ORDER BY seq',
        [live],
      );
      expect(stored.rows.map((w) => w.text)).toEqual(wordsSentBy(b.fake.admitted[0]!));
    } finally {
      await again.app.stop(5000);
    }
  });

  it("the refused log is shared by the instances; retention deletes only its own instance's old calls", async () => {
    const url = await cluster.createDatabase('e2e_refused');
    const db = await connect(url);
    const a = await instance('pg-e2e-refused-a', url, 'host-a', {}, { webhook: false });
    const old = new Date(Date.now() - 10 * 86_400_000).toISOString();
    for (const [id, owner] of [
      ['old-of-a', 'host-a'],
      ['old-of-c', 'host-c'],
    ]) {
      await db.query(
        `INSERT INTO calls (id, sip_call_id, from_uri, to_uri, transport, source, state, created_at, ended_at, instance)
         VALUES ($1, 'x@192.0.2.4', 'sip:alice@example.com', 'sip:1001@192.0.2.10', 'udp', '192.0.2.4:5060',
                 'ended', $2, $2, $3)`,
        [id, old, owner],
      );
    }
    await db.query(
      `INSERT INTO refused (source, reason, status, count, first_seen, last_seen, last_to)
       VALUES ('198.51.100.7', 'not-allowed', 403, 3, $1, $1, 'sip:1001@192.0.2.10')`,
      [old],
    );
    // c takes calls from 192.0.2.0/24 only and keeps 7 days: its start sweeps.
    const c = await instance(
      'pg-e2e-refused-c',
      url,
      'host-c',
      { sip: { inbound: { allowFrom: ['192.0.2.0/24'] } }, storage: { retentionDays: 7 } },
      { webhook: false },
    );
    const ids = async (): Promise<string[]> =>
      (await db.query<{ id: string }>('SELECT id FROM calls ORDER BY id')).rows.map((r) => r.id);
    await until(async () => !(await ids()).includes('old-of-c'), "c's retention sweep");
    expect(await ids()).toEqual(['old-of-a']);

    const result = await sippCall(`127.0.0.1:${c.sipPort}`, 'uac_call_pcmu.xml', { timeoutS: 10 });
    expect(result.responses).toContain(403);
    // a, which refused nothing, shows c's refusal; the old row went with c's retention.
    const refused = await until(async () => {
      const r = await getJson<{ refused: { source: string; reason: string; count: number }[] }>(
        `${a.base}/api/refused`,
      );
      return r.refused.length > 0 ? r.refused : undefined;
    }, "the refusal in a's /api/refused");
    expect(refused).toEqual([
      expect.objectContaining({ source: '127.0.0.1', reason: 'not-allowed', count: 1 }),
    ]);
    expect(await calls(a)).toEqual([expect.objectContaining({ id: 'old-of-a' })]);
  });
});
