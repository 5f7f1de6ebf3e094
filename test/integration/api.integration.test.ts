// The HTTP API, /metrics, /ready, the bearer token and the /api/live feed, against a running
// endpoint on loopback with a real WebSocket client.
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CallEvent } from '../../src/events.js';
import { FakeClock } from '../helpers/FakeClock.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { endCall, META, playCall, startApp, waitFor, type App } from './appHarness.js';

const apps: App[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const a of apps) {
    await a.endpoint.stop();
  }
  for (const s of servers) {
    await new Promise((r) => s.close(r));
  }
  await stopAll();
});

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

/** A live-feed client that records every message. */
async function liveClient(url: string): Promise<{ ws: WebSocket; events: CallEvent[] }> {
  const ws = new WebSocket(url);
  const events: CallEvent[] = [];
  ws.on('message', (data: Buffer) => events.push(JSON.parse(data.toString('utf8')) as CallEvent));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, events };
}

describe('HTTP API', () => {
  it('lists calls, shows one, and serves its transcript as JSON, txt, srt and vtt', async () => {
    const app = await startApp('api');
    apps.push(app);
    const id = playCall(app.endpoint, ['the quick brown fox', 'jumps over the lazy dog']);
    const { calls } = app.endpoint;
    await new Promise((r) => setTimeout(r, 5)); // distinct createdAt, for the paging below
    const rejected = calls.create({ ...META, sipCallId: 'rej@127.0.0.1', from: 'sip:bob@127.0.0.1' });
    calls.transition(rejected.id, 'rejected', { status: 486 });
    await app.endpoint.bus.flush();

    const list = await json(`${app.base}/api/calls`);
    expect(list.status).toBe(200);
    const listed = (list.body as { calls: { id: string; state: string }[] }).calls;
    expect(listed.map((c) => [c.id, c.state])).toEqual([
      [rejected.id, 'rejected'],
      [id, 'ended'],
    ]);

    const one = await json(`${app.base}/api/calls/${id}`);
    expect(one.body).toMatchObject({
      id,
      state: 'ended',
      endReason: 'bye-remote',
      call: { from: '"Alice" <sip:alice@127.0.0.1>', codec: 'PCMU' },
    });
    expect((await json(`${app.base}/api/calls/nope`)).status).toBe(404);
    expect((await json(`${app.base}/api/calls/${encodeURIComponent('a/b')}`)).status).toBe(404);
    expect((await json(`${app.base}/api/nothing`)).status).toBe(404);
    expect((await json(`${app.base}/api/calls`, { method: 'POST' })).status).toBe(405);
    expect((await json(`${app.base}/api/calls?limit=0`)).status).toBe(400);
    expect((await json(`${app.base}/api/calls?before=yesterday`)).status).toBe(400);
    const paged = await json(`${app.base}/api/calls?limit=1`);
    expect(paged.body).toMatchObject({ calls: [{ id: rejected.id }] });
    const next = (paged.body as { next: string }).next;
    expect(
      (await json(`${app.base}/api/calls?limit=1&before=${encodeURIComponent(next)}`)).body,
    ).toMatchObject({
      calls: [{ id }],
    });

    const t = await json(`${app.base}/api/calls/${id}/transcript`);
    expect(t.body).toMatchObject({
      callId: id,
      text: 'the quick brown fox jumps over the lazy dog',
      utterances: [
        { text: 'the quick brown fox', startMs: 200, endMs: 1460 },
        { text: 'jumps over the lazy dog', startMs: 1980, endMs: 3560 },
      ],
    });
    const txt = await fetch(`${app.base}/api/calls/${id}/transcript?format=txt`);
    expect(txt.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await txt.text()).toBe('[00:00:00] the quick brown fox\n[00:00:01] jumps over the lazy dog\n');
    const srt = await fetch(`${app.base}/api/calls/${id}/transcript?format=srt`);
    expect(await srt.text()).toBe(
      '1\n00:00:00,200 --> 00:00:01,460\nthe quick brown fox\n\n' +
        '2\n00:00:01,980 --> 00:00:03,560\njumps over the lazy dog\n\n',
    );
    const vtt = await fetch(`${app.base}/api/calls/${id}/transcript?format=vtt`);
    expect(vtt.headers.get('content-type')).toBe('text/vtt; charset=utf-8');
    expect(await vtt.text()).toBe(
      'WEBVTT\n\n00:00:00.200 --> 00:00:01.460\nthe quick brown fox\n\n' +
        '00:00:01.980 --> 00:00:03.560\njumps over the lazy dog\n\n',
    );
    expect((await fetch(`${app.base}/api/calls/${id}/transcript?format=doc`)).status).toBe(400);

    // The same call is in its JSONL file, one event per line, seq 1..n.
    const lines = readFileSync(join(app.storageDir, 'calls', `${id}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    const seqs = lines.map((l) => (JSON.parse(l) as CallEvent).seq);
    // started, 4 words + utterance, 5 words + utterance, ended
    expect(seqs).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
  });

  it('pages through calls created in the same millisecond without skipping or repeating any', async () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 6, 6, 0, 0));
    const app = await startApp('api-paging', {}, { clock });
    apps.push(app);
    const ids = Array.from({ length: 7 }, () => playCall(app.endpoint, []));
    const seen: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 5; page++) {
      const q: string = before === null ? '' : `&before=${encodeURIComponent(before)}`;
      const res = await json(`${app.base}/api/calls?limit=3${q}`);
      expect(res.status).toBe(200);
      const body = res.body as { calls: { id: string }[]; next: string | null };
      seen.push(...body.calls.map((c) => c.id));
      before = body.next;
      if (before === null) {
        break;
      }
    }
    expect(seen).toHaveLength(7);
    expect([...seen].sort()).toEqual([...ids].sort());
    // Newest first: the last call created comes first.
    expect(seen[0]).toBe(ids[6]);
  });

  it('deletes a finished call with its transcript and files; refuses one in progress', async () => {
    const app = await startApp('api-delete');
    apps.push(app);
    const id = playCall(app.endpoint, ['the quick brown fox']);
    const keep = playCall(app.endpoint, ['jumps over the lazy dog']);
    const active = app.endpoint.calls.create({ ...META, sipCallId: 'ringing@127.0.0.1' });
    await app.endpoint.bus.flush();
    const jsonl = join(app.storageDir, 'calls', `${id}.jsonl`);
    expect(existsSync(jsonl)).toBe(true);

    expect(await json(`${app.base}/api/calls/${id}`, { method: 'DELETE' })).toEqual({
      status: 200,
      body: { deleted: id },
    });
    expect((await json(`${app.base}/api/calls/${id}`)).status).toBe(404);
    expect((await json(`${app.base}/api/calls/${id}/transcript`)).status).toBe(404);
    expect(existsSync(jsonl)).toBe(false);
    expect((await json(`${app.base}/api/calls/${id}`, { method: 'DELETE' })).status).toBe(404);
    const inProgress = await json(`${app.base}/api/calls/${active.id}`, { method: 'DELETE' });
    expect(inProgress.status).toBe(409);
    // The other calls are untouched.
    const listed = (await json(`${app.base}/api/calls`)).body as { calls: { id: string }[] };
    expect(listed.calls.map((c) => c.id).sort()).toEqual([keep, active.id].sort());
    expect((await json(`${app.base}/api/calls/${keep}/transcript`)).body).toMatchObject({
      text: 'jumps over the lazy dog',
    });
  });

  it('serves /health, /ready and Prometheus /metrics', async () => {
    // A stand-in for moshi-server's GET /api/build_info, which the stt readiness check polls.
    const stt = createServer((req, res) => {
      res.writeHead(req.url === '/api/build_info' ? 200 : 404).end('{}');
    });
    const sttPort = await freePort();
    await new Promise<void>((r) => stt.listen(sttPort, '127.0.0.1', r));
    servers.push(stt);
    const app = await startApp('api-metrics', {
      stt: { servers: [{ url: `ws://127.0.0.1:${sttPort}/api/asr-streaming` }] },
    });
    apps.push(app);
    playCall(app.endpoint, ['hello']);
    expect(await json(`${app.base}/health`)).toEqual({ status: 200, body: { status: 'ok' } });
    await waitFor(async () => (await fetch(`${app.base}/ready`)).status === 200, 'ready');
    expect(await json(`${app.base}/ready`)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { storage: true, stt: true } },
    });
    let registered = false;
    app.endpoint.readiness.add({ name: 'registrations', check: () => registered });
    expect(await json(`${app.base}/ready`)).toEqual({
      status: 503,
      body: { status: 'not ready', checks: { storage: true, stt: true, registrations: false } },
    });
    registered = true;
    expect((await fetch(`${app.base}/ready`)).status).toBe(200);
    app.endpoint.metrics.rtpPackets.inc(250);
    app.endpoint.metrics.registrationUp.set({ account: '1001@127.0.0.1' }, 1);
    const res = await fetch(`${app.base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const line of [
      'sipscribe_calls_active 0',
      'sipscribe_calls_total{outcome="bye-remote"} 1',
      'sipscribe_rtp_packets_received_total 250',
      'sipscribe_registration_up{account="1001@127.0.0.1"} 1',
    ]) {
      expect(text).toContain(`${line}\n`);
    }
    expect(text).toContain('# TYPE sipscribe_stt_latency_seconds histogram');
    expect(text).toContain('# TYPE sipscribe_webhook_backlog gauge');
    expect(text).toContain('sipscribe_process_resident_memory_bytes');
  });

  it('requires the bearer token when one is set (header; access_token on the live feed), except for /health and the page', async () => {
    const app = await startApp('api-token', { http: { token: 'let-me-in-let-me-in' } });
    apps.push(app);
    expect((await fetch(`${app.base}/api/calls`)).status).toBe(401);
    expect((await fetch(`${app.base}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${app.base}/api/calls`, { headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401);
    expect(
      (await fetch(`${app.base}/api/calls`, { headers: { authorization: 'Bearer let-me-in-let-me-in' } }))
        .status,
    ).toBe(200);
    expect((await fetch(`${app.base}/health`)).status).toBe(200);
    expect((await fetch(`${app.base}/`)).status).toBe(200);
    const refused = new WebSocket(`${app.base.replace('http', 'ws')}/api/live`);
    const status = await new Promise<number>((resolve) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.once('open', () => resolve(101));
    });
    expect(status).toBe(401);
    const ok = await liveClient(
      `${app.base.replace('http', 'ws')}/api/live?access_token=let-me-in-let-me-in`,
    );
    ok.ws.close();
  });
});

describe('recordings', () => {
  it('serves a finished call recording as WAV, and 404 while it is written or when there is none', async () => {
    const app = await startApp('recording', { storage: { recordAudio: true } });
    apps.push(app);
    const { recorder } = app.endpoint;
    expect(recorder).not.toBeNull();
    const id = playCall(app.endpoint, ['recorded'], { end: false });
    recorder?.writeFloat24k(id, new Float32Array(1920).fill(0.5));
    expect((await fetch(`${app.base}/api/calls/${id}/recording`)).status).toBe(404);
    recorder?.stop(id);
    endCall(app.endpoint, id);
    const res = await fetch(`${app.base}/api/calls/${id}/recording`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    const wav = Buffer.from(await res.arrayBuffer());
    expect(wav.length).toBe(44 + 1920 * 2);
    expect(wav.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(wav.readUInt32LE(24)).toBe(24000);
    expect(wav.readInt16LE(44)).toBe(16384); // round(0.5 * 32767)
    const other = playCall(app.endpoint, ['not recorded']);
    expect((await fetch(`${app.base}/api/calls/${other}/recording`)).status).toBe(404);
  });
});

describe('/api/live', () => {
  it('replays the active calls to a new client, then streams live events without duplicates', async () => {
    const app = await startApp('live');
    apps.push(app);
    const wsUrl = `${app.base.replace('http', 'ws')}/api/live`;
    const early = await liveClient(wsUrl);

    const active = playCall(app.endpoint, ['good morning'], { end: false });
    playCall(app.endpoint, ['already over']); // ended before the late client connects
    await app.endpoint.bus.flush();

    const late = await liveClient(wsUrl);
    const noReplay = await liveClient(`${wsUrl}?replay=0`);
    // The late client got the active call's events so far: call.started and the utterance, which
    // carries the two words it covers (seq 2 and 3 are not sent again).
    await waitFor(() => late.events.length >= 2, 'the replay');
    expect(late.events.map((e) => [e.callId, e.seq, e.type])).toEqual([
      [active, 1, 'call.started'],
      [active, 4, 'transcript.utterance'],
    ]);
    const replayed = late.events[1] as Extract<CallEvent, { type: 'transcript.utterance' }>;
    expect(replayed.words.map((w) => w.text)).toEqual(['good', 'morning']);

    app.endpoint.bus.publish(active, {
      type: 'transcript.word',
      text: 'again',
      startMs: 5000,
      channel: 'caller',
    });
    endCall(app.endpoint, active);
    await waitFor(() => late.events.length >= 4 && noReplay.events.length >= 2, 'live events');
    expect(late.events.slice(2).map((e) => [e.seq, e.type])).toEqual([
      [5, 'transcript.word'],
      [6, 'call.ended'],
    ]);
    expect(noReplay.events.map((e) => e.seq)).toEqual([5, 6]);
    const ended = late.events[3] as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended.transcript.map((u) => u.text)).toEqual(['good morning']);
    // The early client saw everything of both calls, each call in seq order.
    // 6 events of the active call, 5 of the other (started, 2 words, utterance, ended).
    await waitFor(() => early.events.length >= 11, 'all events on the early client');
    expect(early.events).toHaveLength(11);
    const byCall = (c: string): number[] => early.events.filter((e) => e.callId === c).map((e) => e.seq);
    expect(byCall(active)).toEqual([1, 2, 3, 4, 5, 6]);

    const closed = Promise.all(
      [early, late, noReplay].map((c) => new Promise<number>((r) => c.ws.once('close', (code) => r(code)))),
    );
    await app.endpoint.stop();
    apps.splice(apps.indexOf(app), 1);
    expect(await closed).toEqual([1001, 1001, 1001]);
  });
});

describe('start', () => {
  it('explains an HTTP port that is taken', async () => {
    const app = await startApp('busy');
    apps.push(app);
    const port = Number(new URL(app.base).port);
    await expect(startApp('busy-2', {}, {}, { dir: runDir('busy-2'), port })).rejects.toMatchObject({
      code: 'HTTP_ERR_LISTEN',
      message: `cannot listen for HTTP on 127.0.0.1:${port}: the address is already in use (another sipscribe, or another program, on this port?)`,
    });
  });
});

describe('stop', () => {
  it('ends calls still active with reason shutdown, writes their transcript and frees the port', async () => {
    const app = await startApp('stop');
    const id = playCall(app.endpoint, ['last words before shutdown'], { end: false });
    await app.endpoint.stop();
    await app.endpoint.stop(); // idempotent
    const lines = readFileSync(join(app.storageDir, 'calls', `${id}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    const last = JSON.parse(lines[lines.length - 1] ?? '{}') as CallEvent;
    expect(last).toMatchObject({
      type: 'call.ended',
      reason: 'shutdown',
      transcript: [{ text: 'last words before shutdown' }],
    });
    await expect(fetch(`${app.base}/health`)).rejects.toThrow();
    // A new process on the same storage and port finds the call finished.
    const again = await startApp('stop', {}, {}, { dir: app.dir, port: Number(new URL(app.base).port) });
    apps.push(again);
    expect(await json(`${again.base}/api/calls/${id}`)).toMatchObject({
      status: 200,
      body: { state: 'ended', endReason: 'shutdown' },
    });
  });
});

describe('many calls', () => {
  it('300 calls leave no open call, stream or file behind', async () => {
    const app = await startApp('many');
    apps.push(app);
    const fdList = (): string[] =>
      readdirSync('/proc/self/fd').map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '?';
        }
      });
    const fds = (): number => fdList().length;
    const list0 = fdList();
    playCall(app.endpoint, ['warm up']);
    await app.endpoint.bus.flush();
    const before = fds();
    for (let i = 0; i < 300; i++) {
      playCall(app.endpoint, ['one two three', 'four five']);
    }
    await app.endpoint.bus.flush();
    expect(app.endpoint.calls.active()).toEqual([]);
    expect(app.endpoint.bus.openCallIds()).toEqual([]);
    expect(await app.endpoint.metrics.registry.getSingleMetricAsString('sipscribe_calls_active')).toContain(
      'sipscribe_calls_active 0',
    );
    expect(readdirSync(join(app.storageDir, 'calls'))).toHaveLength(301);
    // A leak per call would show as 300 more descriptors; a few may come and go with the runtime.
    expect(fds(), JSON.stringify([list0, fdList()])).toBeLessThan(before + 5);
  });
});
