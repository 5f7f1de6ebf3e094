// CallManager in memory: admission outcomes for new INVITEs (the statuses of architecture.md and
// call/Admission.ts's order of checks), the screen and onRefused through the real SIP stack over
// an in-memory socket, and the shutdown that ends every call, with a deadline.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { IncomingCall } from '../../../sip/index.js';
import { Admission } from '../../../src/call/Admission.js';
import { CallRegistry } from '../../../src/call/CallRegistry.js';
import { CallManager } from '../../../src/call/CallManager.js';
import { parseConfig } from '../../../src/config.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { JsonlFiles } from '../../../src/storage/JsonlFiles.js';
import { CallRecorder, recordingPath } from '../../../src/recording/CallRecorder.js';
import { RefusedStore } from '../../../src/storage/RefusedStore.js';
import { StorageSink } from '../../../src/transcripts/StorageSink.js';
import {
  listPendingRecordings,
  PendingBudget,
  pendingPath,
} from '../../../src/recording/PendingRecording.js';
import { PendingTranscriptions } from '../../../src/call/PendingTranscriptions.js';
import type { CallEvent } from '../../../src/events.js';
import type { SttPool } from '../../../src/stt/index.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { callerRequest, memoryStack, SIPP_OFFER, type MemoryStack } from '../../sip/support/memoryStack.js';
import { MemoryNetwork } from '../../rtp/session/memoryNetwork.js';
import { logSink } from '../logSink.js';
import { readFileSync } from 'node:fs';
import { FIXTURES } from '../../helpers/paths.js';
import { FakeCall, FakePool, REMOTE } from './fakes.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Turns of the event loop until `cond` holds (at most 1000). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) {
    await tick();
  }
  expect(cond()).toBe(true);
}

describe('CallManager', () => {
  let dir = '';
  let db: Db;
  let appClock: FakeClock;
  let clock: FakeClock;
  let metrics: Metrics;
  let calls: CallRegistry;
  let refused: RefusedStore;
  let admission: Admission;
  let pool: FakePool;
  let manager: CallManager;
  let net: MemoryNetwork;
  let bus: TranscriptBus;
  /** Every event published, in order. */
  let events: CallEvent[];

  // `whenFull: reject` unless a test says otherwise (the defer path has its own tests below).
  function build(
    inbound: Record<string, unknown> = {},
    stt: Record<string, unknown> = { whenFull: 'reject' },
    storage: Record<string, unknown> = {},
  ): void {
    const config = parseConfig({
      sip: { inbound },
      stt,
      rtp: { host: '198.51.100.7', portMin: 30000, portMax: 30019 },
      storage: { dir, ...storage }, // (a deferred call records into storage.dir/pending/)
    });
    const pendingBudget = new PendingBudget(dir, config.storage.pendingMaxBytes);
    admission = new Admission({
      allowFrom: config.sip.inbound.allowFrom,
      maxCalls: config.sip.inbound.maxCalls,
      maxCallsPerSource: config.sip.inbound.maxCallsPerSource,
      rateLimit: config.sip.inbound.rateLimit,
      whenFull: config.stt.whenFull,
      pendingRoom: () => pendingBudget.hasRoom(),
      clock: appClock,
      metrics,
    });
    bus = new TranscriptBus({ logger: logSink().logger, clock: appClock });
    events = [];
    bus.addSink({ name: 'collect', handle: (e) => void events.push(e) });
    refused = new RefusedStore(db, { maxEntries: 50 });
    const store = new CallStore(db);
    bus.addSink(new StorageSink(store, new JsonlFiles(dir)));
    calls = new CallRegistry({
      store,
      bus,
      clock: appClock,
      logger: logSink().logger,
      metrics,
      refused,
    });
    manager = new CallManager({
      config,
      calls,
      bus,
      metrics,
      recorder: config.storage.recordAudio ? new CallRecorder(dir, logSink().logger) : null,
      pendingBudget,
      pool: pool as unknown as SttPool,
      clock,
      wallClock: () => appClock.now(),
      socketFactory: net,
      admission,
      logger: logSink().logger,
      accountFor: () => 'alice@pbx.example.com',
    });
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-manager-'));
    db = openDatabase(dir);
    appClock = new FakeClock(Date.UTC(2026, 10, 26, 9, 0, 0));
    clock = new FakeClock(1000);
    metrics = createMetrics({ processMetrics: false });
    pool = new FakePool('stream', ['hello']);
    net = new MemoryNetwork();
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function invite(source = '192.0.2.4'): FakeCall {
    const call = new FakeCall(REMOTE);
    (call as { source: { address: string; port: number } }).source = { address: source, port: 5060 };
    manager.onInvite(call as unknown as IncomingCall);
    return call;
  }

  it('accepts a call: record with the call metadata, answered, one session', async () => {
    build();
    const call = invite();
    await tick();
    expect(call.answeredWith).not.toBeNull();
    expect(manager.size).toBe(1);
    const [record] = calls.active();
    expect(record?.meta).toMatchObject({
      sipCallId: call.callId,
      from: '"Bob" <sip:bob@192.0.2.4>',
      to: call.to,
      account: 'alice@pbx.example.com',
      transport: 'udp',
      codec: 'PCMU',
      source: '192.0.2.4:5060',
    });
    call.end('bye-remote');
    await tick();
    expect(manager.size).toBe(0);
  });

  it('a source outside allowFrom gets 403, counted in the refused log, without a call record', () => {
    build({ allowFrom: ['203.0.113.0/24'] });
    const call = invite('192.0.2.4');
    expect(call.rejected?.status).toBe(403);
    expect(calls.list()).toEqual([]);
    expect(refused.list()).toEqual([
      {
        source: '192.0.2.4',
        reason: 'not-allowed',
        status: 403,
        count: 1,
        firstSeen: '2026-11-26T09:00:00.000Z',
        lastSeen: '2026-11-26T09:00:00.000Z',
        lastTo: call.to,
      },
    ]);
    expect(manager.size).toBe(0);
  });

  it('2,000 scanner INVITEs are one aggregated row and a count, not 2,000 call records', async () => {
    build({ allowFrom: ['203.0.113.0/24'] });
    const real = new FakeCall(REMOTE);
    (real as { source: { address: string; port: number } }).source = { address: '203.0.113.9', port: 5060 };
    manager.onInvite(real as unknown as IncomingCall);
    await tick();
    for (let i = 0; i < 2000; i++) {
      appClock.advance(100);
      expect(invite('192.0.2.66').rejected?.status).toBe(403);
    }
    // The real call is the only call record.
    expect(calls.list().map((r) => r.meta.source)).toEqual(['203.0.113.9:5060']);
    expect(refused.list()).toMatchObject([
      {
        source: '192.0.2.66',
        reason: 'not-allowed',
        count: 2000,
        firstSeen: '2026-11-26T09:00:00.100Z',
        lastSeen: '2026-11-26T09:03:20.000Z',
      },
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('sipscribe_calls_total{outcome="rejected"} 2000\n');
    expect(text).toContain('sipscribe_admission_refused_total{reason="not-allowed"} 2000\n');
    real.end('bye-remote');
    await tick();
  });

  it('the refused log is bounded: past maxEntries the least recently seen sources go', () => {
    build({ allowFrom: ['203.0.113.0/24'] });
    for (let i = 1; i <= 120; i++) {
      appClock.advance(1000);
      invite(`198.51.100.${i}`);
    }
    const rows = refused.list();
    expect(rows).toHaveLength(50);
    expect(rows[0]?.source).toBe('198.51.100.120');
    expect(rows.at(-1)?.source).toBe('198.51.100.71');
  });

  it('no STT capacity at the INVITE (whenFull reject): 503 with Retry-After, counted, no session', () => {
    build();
    pool.capacity = false;
    const call = invite();
    expect(call.rejected).toMatchObject({ status: 503, opts: { retryAfter: 30 } });
    expect(manager.size).toBe(0);
    expect(pool.admits).toBe(0);
    expect(refused.list()).toMatchObject([{ source: '192.0.2.4', reason: 'stt-full', status: 503 }]);
  });

  it('no STT capacity on the defaults (defer): answered and recorded; with the pending budget spent, 503 pending-full', async () => {
    build({}, {});
    pool.capacity = false;
    const call = invite();
    await tick();
    expect(call.answeredWith).not.toBeNull();
    expect(existsSync(join(dir, 'pending'))).toBe(true);
    build({}, {}, { pendingMaxBytes: 0 });
    const refusedCall = invite('192.0.2.9');
    expect(refusedCall.rejected).toMatchObject({ status: 503, opts: { retryAfter: 30 } });
    expect(refused.list()).toMatchObject([{ source: '192.0.2.9', reason: 'pending-full', status: 503 }]);
    call.end('bye-remote');
    await tick();
  });

  it('per-source limit: the 11th call in progress from one address gets 486; others still get in', async () => {
    build();
    const first: FakeCall[] = [];
    for (let i = 0; i < 10; i++) {
      first.push(invite('192.0.2.66'));
    }
    await tick();
    expect(first.every((c) => c.rejected === null)).toBe(true);
    expect(invite('192.0.2.66').rejected?.status).toBe(486);
    expect(invite('192.0.2.67').rejected).toBeNull();
    expect(refused.list()).toMatchObject([
      { source: '192.0.2.66', reason: 'per-source-limit', status: 486, count: 1 },
    ]);
    expect(await metrics.registry.metrics()).toContain(
      'sipscribe_admission_refused_total{reason="per-source-limit"} 1\n',
    );
    // One of them hangs up: that source may call again.
    first[0]?.end('bye-remote');
    await tick();
    expect(invite('192.0.2.66').rejected).toBeNull();
    for (const c of first) {
      c.end('bye-remote');
    }
    await tick();
  });

  it('maxCalls active: the next INVITE gets 486', async () => {
    build({ maxCalls: 1 });
    invite();
    await tick();
    const second = invite('192.0.2.5');
    expect(second.rejected?.status).toBe(486);
  });

  it('maxCalls counts calls on the phone: one hung up and waiting for its transcript does not', async () => {
    pool = new FakePool('defer'); // no STT slot: the call is recorded, transcribed after the hangup
    build({ maxCalls: 1 });
    const first = invite();
    await tick();
    expect(first.answeredWith).not.toBeNull();
    first.end('bye-remote');
    await tick();
    // Still no slot: the first call waits in `ending` for its deferred transcription.
    expect(calls.active().map((r) => r.state)).toEqual(['ending']);
    const second = invite('192.0.2.5');
    await tick();
    expect(second.rejected).toBeNull();
    expect(second.answeredWith).not.toBeNull();
    const third = invite('192.0.2.6');
    expect(third.rejected?.status).toBe(486);
  });

  /** The real SIP stack in memory, wired to the manager as src/appliance.ts does. */
  function stack(): MemoryStack {
    return memoryStack(
      (call) => manager.onInvite(call),
      {},
      {
        screen: (req, source) => manager.screen(req, source),
        onRefused: (call, status, reason) => manager.onRefused(call, status, reason),
      },
    );
  }

  describe('sip.inbound.auth (digest)', () => {
    const md5 = (t: string): string => createHash('md5').update(t).digest('hex');
    /** An Authorization value computed by hand from RFC 2617 §3.2.2.1 (qop=auth, MD5). */
    function authorization(o: {
      user: string;
      password: string;
      realm: string;
      nonce: string;
      method: string;
      uri: string;
    }): string {
      const nc = '00000001';
      const cnonce = '0a4f113b';
      const ha1 = md5(`${o.user}:${o.realm}:${o.password}`);
      const ha2 = md5(`${o.method}:${o.uri}`);
      const response = md5(`${ha1}:${o.nonce}:${nc}:${cnonce}:auth:${ha2}`);
      return `Digest username="${o.user}", realm="${o.realm}", nonce="${o.nonce}", uri="${o.uri}", response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
    }
    const AUTH = {
      realm: 'sipscribe',
      users: [{ username: 'carol', password: 'carol-secret' }],
      algorithms: ['MD5'],
    };
    const URI = 'sip:alice@127.0.0.1:5062';

    it('the hand-made digest matches RFC 2617 §3.5 (Mufasa)', () => {
      expect(
        authorization({
          user: 'Mufasa',
          password: 'Circle Of Life',
          realm: 'testrealm@host.com',
          nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
          method: 'GET',
          uri: '/dir/index.html',
        }),
      ).toContain('response="6629fae49393a05397450978507c4ef1"');
    });

    /** INVITE without credentials → 401; returns the challenge's nonce. */
    async function challenged(ms: MemoryStack): Promise<string> {
      ms.send(callerRequest({ body: SIPP_OFFER, cseq: 1 }));
      await tick();
      const r = ms.responses();
      expect(r.map((x) => x.status)).toEqual([100, 401]);
      const www = r[1]?.get('www-authenticate') ?? '';
      expect(www).toMatch(
        /^Digest realm="sipscribe", nonce="[^"]+", opaque="[^"]+", algorithm=MD5, qop="auth"$/,
      );
      return /nonce="([^"]+)"/.exec(www)?.[1] ?? '';
    }

    it('challenges an INVITE without credentials (401, no record) and answers the right ones', async () => {
      build({ auth: AUTH });
      const ms = stack();
      const nonce = await challenged(ms);
      expect(calls.list()).toEqual([]);
      expect(refused.list()).toEqual([]);
      const value = authorization({
        user: 'carol',
        password: 'carol-secret',
        realm: 'sipscribe',
        nonce,
        method: 'INVITE',
        uri: URI,
      });
      ms.send(
        callerRequest({
          body: SIPP_OFFER,
          cseq: 2,
          branch: 'z9hG4bK-auth-2',
          headers: [`Authorization: ${value}`],
        }),
      );
      await tick();
      await tick();
      expect(ms.responses().map((x) => x.status)).toContain(200);
      expect(manager.size).toBe(1);
      await manager.shutdown(1000);
    });

    it('wrong credentials get 403, counted as auth-failed, without a call record', async () => {
      build({ auth: AUTH });
      const ms = stack();
      const nonce = await challenged(ms);
      const value = authorization({
        user: 'carol',
        password: 'guess',
        realm: 'sipscribe',
        nonce,
        method: 'INVITE',
        uri: URI,
      });
      ms.send(
        callerRequest({
          body: SIPP_OFFER,
          cseq: 2,
          branch: 'z9hG4bK-auth-2',
          headers: [`Authorization: ${value}`],
        }),
      );
      await tick();
      expect(ms.responses().map((x) => x.status)).toEqual([100, 403]);
      expect(manager.size).toBe(0);
      expect(calls.list()).toEqual([]);
      expect(refused.list()).toMatchObject([
        { source: '127.0.0.1', reason: 'auth-failed', status: 403, count: 1 },
      ]);
      const text = await metrics.registry.metrics();
      expect(text).toContain('sipscribe_admission_refused_total{reason="auth-failed"} 1\n');
      expect(text).toContain('sipscribe_admission_refused_total{reason="auth-required"} 1\n');
      expect(text).toContain('sipscribe_calls_total{outcome="rejected"} 1\n');
    });

    it('an unknown user gets 403 too; a source outside allowFrom gets 403 without a challenge', async () => {
      build({ auth: AUTH, allowFrom: ['127.0.0.1/32'] });
      const ms = stack();
      const nonce = await challenged(ms);
      const value = authorization({
        user: 'mallory',
        password: 'x',
        realm: 'sipscribe',
        nonce,
        method: 'INVITE',
        uri: URI,
      });
      ms.send(
        callerRequest({
          body: SIPP_OFFER,
          cseq: 2,
          branch: 'z9hG4bK-auth-2',
          headers: [`Authorization: ${value}`],
        }),
      );
      await tick();
      expect(ms.responses().map((x) => x.status)).toEqual([100, 403]);
      ms.udp.deliver(callerRequest({ body: SIPP_OFFER, callId: 'outsider', branch: 'z9hG4bK-out' }), {
        address: '192.0.2.99',
        port: 5070,
      });
      await tick();
      expect(ms.responses().map((x) => [x.status, x.get('www-authenticate')])).toEqual([
        [100, undefined],
        [403, undefined],
      ]);
    });
  });

  it('over the per-source rate limit: no answer at all, not counted as refused; one token per INVITE', async () => {
    // Outside allowFrom, so each admitted INVITE ends at once with 403 (counted, no call record).
    build({ allowFrom: ['203.0.113.0/24'], rateLimit: { burst: 2, perSecond: 0.1 } });
    const ms = stack();
    for (const n of [1, 2, 3]) {
      ms.send(
        callerRequest({ body: SIPP_OFFER, branch: `z9hG4bK-flood-${n}`, callId: `flood-${n}@127.0.0.1` }),
      );
    }
    // Two tokens, two INVITEs through (the screen's token is the only one an INVITE takes).
    expect(ms.responses().map((r) => [r.callId, r.status])).toEqual([
      ['flood-1@127.0.0.1', 100],
      ['flood-1@127.0.0.1', 403],
      ['flood-2@127.0.0.1', 100],
      ['flood-2@127.0.0.1', 403],
    ]);
    expect(ms.stack.counters.screenedOut).toBe(1);
    expect(calls.list()).toEqual([]);
    expect(refused.list().map((r) => [r.source, r.reason, r.status, r.count])).toEqual([
      ['127.0.0.1', 'not-allowed', 403, 2],
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('sipscribe_admission_refused_total{reason="rate-limited"} 1\n');
    expect(text).toContain('sipscribe_admission_refused_total{reason="not-allowed"} 2\n');
  });

  it('out-of-dialog OPTIONS goes through admission: 403 outside allowFrom, no record', () => {
    build({ allowFrom: ['203.0.113.0/24', '127.0.0.2'] });
    const ms = stack();
    ms.send(callerRequest({ method: 'OPTIONS' }));
    expect(ms.responses().map((r) => r.status)).toEqual([403]);
    ms.udp.deliver(callerRequest({ method: 'OPTIONS', branch: 'z9hG4bK-o2' }), {
      address: '127.0.0.2',
      port: 5070,
    });
    expect(ms.responses().map((r) => r.status)).toEqual([200]);
    expect(calls.list()).toEqual([]);
  });

  it('OPTIONS tells the truth: 200 while a call would be taken, 503 + Retry-After at maxCalls, STT full, draining', async () => {
    build({ maxCalls: 1 });
    const ms = stack();
    let n = 0;
    const probe = (): [number, string | undefined] => {
      ms.send(callerRequest({ method: 'OPTIONS', branch: `z9hG4bK-probe${++n}` }));
      const [res] = ms.responses();
      return [res?.status ?? 0, res?.get('retry-after')];
    };
    expect(probe()).toEqual([200, undefined]);
    pool.capacity = false;
    expect(probe()).toEqual([503, '30']);
    pool.capacity = true;
    expect(probe()).toEqual([200, undefined]);
    const call = invite();
    await tick();
    expect(probe()).toEqual([503, '30']); // maxCalls on the phone
    call.end('bye-remote');
    await tick();
    expect(probe()).toEqual([200, undefined]);
    admission.stopAccepting();
    expect(probe()).toEqual([503, '30']);
    // Probes are not calls: no record, nothing in the refused log or the refusal counter.
    expect(calls.list()).toHaveLength(1);
    expect(refused.list()).toEqual([]);
    expect(await metrics.registry.metrics()).not.toMatch(/sipscribe_admission_refused_total\{/);
  });

  it("the SIP stack's own 488 (G.729 only) is counted as rejected and in the refused log", async () => {
    build();
    const ms = stack();
    const g729 = SIPP_OFFER.replace('RTP/AVP 0 8 101', 'RTP/AVP 18').replace(/a=rtpmap:[^\r]*\r\n/g, '');
    ms.send(callerRequest({ body: g729 }));
    expect(ms.responses().map((r) => r.status)).toEqual([100, 488]);
    expect(manager.size).toBe(0);
    expect(calls.active()).toEqual([]);
    expect(calls.list()).toEqual([]);
    expect(refused.list()).toMatchObject([
      { source: '127.0.0.1', reason: 'no-codec', status: 488, count: 1, lastTo: 'sip:alice@127.0.0.1:5062' },
    ]);
    expect(await metrics.registry.metrics()).toContain('sipscribe_calls_total{outcome="rejected"} 1\n');
  });

  it('an INVITE refused by the request checks of the SIP stack (420) lands in the refused log too', () => {
    build();
    const ms = stack();
    ms.send(callerRequest({ body: SIPP_OFFER, headers: ['Require: no-such-extension'] }));
    expect(ms.responses().map((r) => r.status)).toEqual([420]);
    expect(calls.list()).toEqual([]);
    expect(refused.list()).toMatchObject([{ source: '127.0.0.1', reason: 'request-check', status: 420 }]);
  });

  it('shutdown: new calls get 503, active ones end through the flush with reason shutdown', async () => {
    build();
    invite();
    await tick();
    admission.stopAccepting();
    const late = invite('192.0.2.5');
    expect(late.rejected?.status).toBe(503);
    await manager.shutdown(5000);
    expect(manager.size).toBe(0);
    const ended = calls.list().find((r) => r.state === 'ended');
    expect(ended?.endReason).toBe('shutdown');
    expect(pool.stream?.flushed).toBe(true);
    expect(net.bound.size).toBe(0);
  });

  it('drained: waits for the calls in progress to end by themselves, transcripts flushed', async () => {
    build();
    const call = invite();
    await tick();
    admission.stopAccepting();
    expect(invite('192.0.2.5').rejected).toMatchObject({ status: 503, opts: { retryAfter: 30 } });
    let result: boolean | undefined;
    void manager.drained(60_000).then((r) => (result = r));
    await tick();
    clock.advance(10_000); // (below rtp.timeoutMs: no RTP in this test)
    await tick();
    expect(result).toBeUndefined(); // the call goes on
    call.end('bye-remote');
    await tick();
    await tick();
    expect(result).toBe(true);
    expect(calls.list().find((r) => r.state === 'ended')?.endReason).toBe('bye-remote');
    expect(pool.stream?.flushed).toBe(true);
    expect(await manager.drained(0)).toBe(true); // nothing left
  });

  it('drained: false at the timeout or when cut short, the call still up (shutdown ends it next)', async () => {
    build();
    invite();
    await tick();
    admission.stopAccepting();
    expect(await manager.drained(0)).toBe(false);
    const timed = manager.drained(5000);
    await tick();
    clock.advance(5000);
    expect(await timed).toBe(false);
    let cut!: () => void;
    const cutShort = manager.drained(60_000, new Promise<void>((r) => (cut = r)));
    cut();
    expect(await cutShort).toBe(false);
    expect(manager.size).toBe(1);
    await manager.shutdown(5000);
    expect(calls.list()[0]).toMatchObject({ state: 'ended', endReason: 'shutdown' });
  });

  it('shutdown deadline: a flush that does not finish is cut, the call still ends', async () => {
    build();
    invite();
    await tick();
    const stream = pool.stream!;
    // A flush that never completes by itself; close() makes it resolve, as SttStream does.
    let finish!: () => void;
    stream.flush = () =>
      new Promise((r) => {
        finish = () => r({ utterances: [], words: [], text: '', complete: false, audioMs: 0, reconnects: 0 });
      });
    stream.close = () => finish();
    const done = manager.shutdown(3000);
    await tick();
    expect(manager.size).toBe(1);
    clock.advance(3000);
    await done;
    expect(manager.size).toBe(0);
    expect(calls.list()[0]).toMatchObject({ state: 'ended', endReason: 'shutdown' });
  });

  describe('SIPREC recording sessions', () => {
    const metadata = (name: string): string => readFileSync(join(FIXTURES, 'siprec', name), 'utf8');
    const stream = (index: number, label: string, port: number, direction = 'sendonly' as const) => ({
      index,
      label,
      media: { ...REMOTE, port, rtcpPort: port + 1, direction },
    });

    /** A recording session's INVITE: label 96 (Bob, RFC 7865's example) then 98 (Paul). */
    class FakeRecordingCall extends FakeCall {
      recording: { streams: ReturnType<typeof stream>[]; metadataXml: string | undefined };
      answeredStreams: { address: string; port: number; direction?: string }[] | null = null;
      constructor(
        metadataXml: string | undefined,
        streams = [stream(0, '96', 40000), stream(2, '98', 40002)],
      ) {
        super(REMOTE);
        this.recording = { streams, metadataXml };
      }
      answerRecording(locals: { address: string; port: number; direction?: string }[]): Promise<unknown[]> {
        this.answeredStreams = locals;
        this.state = 'answered';
        this.ack();
        return Promise.resolve(this.recording.streams.slice(0, locals.length));
      }
    }

    function record(xml: string | undefined, streams?: ReturnType<typeof stream>[]): FakeRecordingCall {
      const call = new FakeRecordingCall(xml, streams);
      manager.onInvite(call as unknown as IncomingCall);
      return call;
    }

    it('two streams: answered recvonly on two ports, two STT streams, Bob on caller and Paul on callee', async () => {
      build();
      const call = record(metadata('rfc7865-complete.xml'));
      await until(() => pool.streams.length === 2);
      expect(call.answeredStreams?.map((l) => l.direction)).toEqual(['recvonly', 'recvonly']);
      expect(new Set(call.answeredStreams?.map((l) => l.port)).size).toBe(2);
      const [rec] = calls.active();
      expect(rec?.state).toBe('streaming');
      expect(rec?.meta.recording).toEqual({
        sipSessionId: 'ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2',
        participants: [
          { channel: 'caller', label: '96', aor: 'sip:bob@biloxi.com', name: 'Bob' },
          { channel: 'callee', label: '98', aor: 'sip:Paul@biloxi.com', name: 'Paul' },
        ],
      });
      // Hold: Bob's stream inactive, the partial metadata says he sends nothing; he keeps his channel.
      call.emit('recordingUpdated', {
        streams: [stream(0, '96', 40000, 'inactive' as 'sendonly'), stream(2, '98', 40002)],
        metadataXml: metadata('hold-partial.xml'),
        streamsChanged: true,
        metadataChanged: true,
      });
      expect(calls.active()[0]?.meta.recording?.participants.map((p) => p.name)).toEqual(['Bob', 'Paul']);
      // A complete document that names the callee differently replaces what was known.
      call.emit('recordingUpdated', {
        streams: call.recording.streams,
        metadataXml: metadata('rfc7865-complete.xml').replace('>Paul<', '>Paul Smith<'),
        streamsChanged: false,
        metadataChanged: true,
      });
      expect(calls.active()[0]?.meta.recording?.participants[1]?.name).toBe('Paul Smith');
      call.end('bye-remote');
      await until(() => manager.size === 0);
      expect(pool.streams.every((s) => s.flushed)).toBe(true);
      expect(calls.list()[0]?.state).toBe('ended');
    });

    it('three streams: the first two are recorded, the third answered with port 0 (no local)', async () => {
      build();
      const call = record(metadata('rfc7865-complete.xml'), [
        stream(0, '96', 40000),
        stream(2, '98', 40002),
        stream(3, '100', 40004),
      ]);
      await until(() => pool.streams.length === 2);
      expect(call.answeredStreams).toHaveLength(2);
      call.end('bye-remote');
      await until(() => manager.size === 0);
    });

    it.each([
      ['not XML', '<recording><participant></recording>', /not well-formed XML/],
      ['a DOCTYPE', '<!DOCTYPE x [<!ENTITY a "b">]><recording/>', /DOCTYPE/],
      ['another root', '<session/>', /not <recording>/],
      ['no metadata', undefined, /without metadata/],
    ])('metadata %s: 400 with the reason in a Warning, refused as bad-metadata, no record', (_, xml, why) => {
      build();
      const call = record(xml);
      expect(call.rejected?.status).toBe(400);
      const opts = call.rejected?.opts as { reason: string; warning: string };
      expect(opts.reason).toBe('Bad Recording Metadata');
      expect(opts.warning).toMatch(/^399 sipscribe "/);
      expect(opts.warning).toMatch(why);
      expect(calls.list()).toEqual([]);
      expect(refused.list().map((r) => [r.reason, r.status])).toEqual([['bad-metadata', 400]]);
      expect(manager.size).toBe(0);
    });

    it('no stream we can receive: 488, refused as no-stream', () => {
      build();
      const call = record(metadata('rfc7865-complete.xml'), []);
      expect(call.rejected?.status).toBe(488);
      expect(refused.list().map((r) => r.reason)).toEqual(['no-stream']);
    });

    it('one STT slot per stream: one free slot for two streams is 503 + Retry-After with whenFull reject', () => {
      build({}, { whenFull: 'reject' });
      pool.slots = 1;
      const call = record(metadata('rfc7865-complete.xml'));
      expect(call.rejected).toMatchObject({ status: 503, opts: { retryAfter: 30 } });
      expect(calls.list()).toEqual([]);
      expect(refused.list().map((r) => [r.reason, r.count])).toEqual([['stt-full', 1]]);
      // Two free slots are enough.
      pool.slots = 2;
      const ok = record(metadata('rfc7865-complete.xml'));
      expect(ok.rejected).toBeNull();
      ok.end('cancel');
    });

    /**
     * Waits until `cond` holds (the deferred path reads its files back from disk: more turns of
     * the loop than `until` gives).
     */
    const settled = (cond: () => boolean): Promise<void> =>
      vi.waitFor(() => expect(cond()).toBe(true), { timeout: 20_000, interval: 5 });
    /** The words published on `channel`, in order. */
    const wordsOn = (channel: string): string[] =>
      events.flatMap((e) => (e.type === 'transcript.word' && e.channel === channel ? [e.text] : []));
    /** 24 kHz PCM16 WAV of `frames` 80 ms frames: 44 header bytes, 3840 per frame. */
    const wavBytes = (frames: number): number => 44 + frames * 3840;

    it('one free slot for two streams with whenFull defer (the default): answered, both channels recorded, each transcribed under its label after the hangup', async () => {
      build({}, {});
      pool.slots = 1;
      pool.wordQueue.push(['bob', 'speaks'], ['paul', 'answers']);
      const call = record(metadata('rfc7865-complete.xml'));
      await until(() => calls.active()[0]?.state === 'answered');
      expect(call.rejected).toBeNull();
      expect(call.answeredStreams?.map((l) => l.direction)).toEqual(['recvonly', 'recvonly']);
      const id = calls.active()[0]!.id;
      expect(events[0]).toMatchObject({ type: 'call.started', deferred: true });
      clock.advance(800); // 10 frames of 80 ms on each stream
      // No slot taken, not even at the ACK: every channel is recorded, each to its own file.
      expect(pool.admits).toBe(0);
      expect(statSync(pendingPath(dir, id)).size).toBe(wavBytes(10));
      expect(statSync(pendingPath(dir, `${id}.callee`)).size).toBe(wavBytes(10));
      call.end('bye-remote');
      await until(() => calls.get(id)?.state === 'ending');
      clock.advance(4000); // no slot yet: both wait
      await tick();
      expect(pool.streams).toEqual([]);
      expect(calls.get(id)?.state).toBe('ending');
      pool.slotFree = true;
      clock.advance(2000);
      await settled(() => manager.size === 0);
      await bus.flush();
      // Each channel's recording went to its own stream, the words came back under its label.
      expect(pool.streams.map((st) => st.frames)).toEqual([10, 10]);
      expect(pool.streams.every((st) => st.flushed)).toBe(true);
      expect(wordsOn('caller')).toEqual(['bob', 'speaks']);
      expect(wordsOn('callee')).toEqual(['paul', 'answers']);
      const ended = events.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
      expect(ended).toMatchObject({ type: 'call.ended', reason: 'bye-remote', durationMs: 800 });
      expect(ended.transcript.map((u) => [u.channel, u.text]).sort()).toEqual([
        ['callee', 'paul answers'],
        ['caller', 'bob speaks'],
      ]);
      // The recording metadata as for a live session.
      expect(ended.call.recording?.participants).toEqual([
        { channel: 'caller', label: '96', aor: 'sip:bob@biloxi.com', name: 'Bob' },
        { channel: 'callee', label: '98', aor: 'sip:Paul@biloxi.com', name: 'Paul' },
      ]);
      expect(calls.get(id)?.state).toBe('ended');
      await settled(() => !existsSync(pendingPath(dir, id)) && !existsSync(pendingPath(dir, `${id}.callee`)));
    });

    it('defer with the pending budget spent: 503 + Retry-After, refused as pending-full', () => {
      build({}, {}, { pendingMaxBytes: 0 });
      pool.slots = 1;
      const call = record(metadata('rfc7865-complete.xml'));
      expect(call.rejected).toMatchObject({ status: 503, opts: { retryAfter: 30 } });
      expect(calls.list()).toEqual([]);
      expect(refused.list().map((r) => [r.reason, r.status])).toEqual([['pending-full', 503]]);
    });

    it('the slot of one stream gone at the ACK (defer): that channel is recorded and transcribed later, the other streams live', async () => {
      build({}, {});
      pool.slots = 2;
      let admits = 0;
      pool.next = () => Promise.resolve(pool.decision(admits++ === 0 ? 'stream' : 'defer'));
      pool.wordQueue.push(['bob', 'live'], ['paul', 'later']);
      const call = record(metadata('rfc7865-complete.xml'));
      await until(() => calls.active()[0]?.state === 'streaming');
      const id = calls.active()[0]!.id;
      expect(events[0]).toMatchObject({ type: 'call.started' });
      expect(events[0]).not.toHaveProperty('deferred');
      clock.advance(800);
      expect(pool.streams).toHaveLength(1);
      expect(existsSync(pendingPath(dir, id))).toBe(false);
      const calleeFile = pendingPath(dir, `${id}.callee`);
      expect(statSync(calleeFile).size).toBeGreaterThanOrEqual(wavBytes(10));
      call.end('bye-remote');
      pool.slotFree = true;
      clock.advance(2000);
      await settled(() => manager.size === 0);
      await bus.flush();
      expect(wordsOn('caller')).toEqual(['bob', 'live']);
      expect(wordsOn('callee')).toEqual(['paul', 'later']);
      expect(calls.get(id)?.state).toBe('ended');
      await settled(() => !existsSync(calleeFile));
    });

    it('a deferred session ends (pending-full) when storage.pendingMaxBytes is spent while it records', async () => {
      // Room for a minute of audio at the INVITE (what a new deferred call needs), no more.
      build({}, {}, { pendingMaxBytes: 2 * 44 + 60 * 48_000 });
      pool.slots = 0;
      const call = record(metadata('rfc7865-complete.xml'));
      await until(() => calls.active()[0]?.state === 'answered');
      const id = calls.active()[0]!.id;
      for (let s = 0; s < 29 && call.hangups === 0; s++) {
        clock.advance(1000);
      }
      expect(call.hangups).toBe(0); // 29 s on two channels: 58 s of audio
      for (let s = 0; s < 5 && call.hangups === 0; s++) {
        clock.advance(1000);
      }
      expect(call.hangups).toBe(1);
      expect(calls.get(id)).toMatchObject({ state: 'ending', endReason: 'error' });
      // 750 frames fit in all, split between the channels.
      const frames = (f: string): number => (statSync(f).size - 44) / 3840;
      const recorded = [frames(pendingPath(dir, id)), frames(pendingPath(dir, `${id}.callee`))];
      expect(recorded[0]! + recorded[1]!).toBe(750);
      expect(await metrics.registry.getSingleMetricAsString('sipscribe_admission_refused_total')).toContain(
        'reason="pending-full"} 1',
      );
      pool.slotFree = true;
      clock.advance(2000);
      await settled(() => manager.size === 0);
      // Each channel's audio so far is transcribed.
      expect(pool.streams.map((st) => st.frames)).toEqual(recorded);
      expect(calls.get(id)?.state).toBe('ended');
    });

    it('shutdown while one channel waits for a slot: both files stay, parked; the next start transcribes the rest under its label', async () => {
      build({}, {});
      pool.slots = 1;
      pool.wordQueue.push(['bob', 'speaks'], ['paul', 'answers']);
      const call = record(metadata('rfc7865-complete.xml'));
      await until(() => calls.active()[0]?.state === 'answered');
      const id = calls.active()[0]!.id;
      clock.advance(800);
      call.end('bye-remote');
      await until(() => calls.get(id)?.state === 'ending');
      await until(() => pool.reserves === 2); // each channel asked once and waits
      // One slot frees up: the caller's channel is transcribed, the callee's still waits.
      pool.slotFree = true;
      pool.reservable = 1;
      clock.advance(2000);
      await settled(() => wordsOn('caller').length === 2);
      const done = manager.shutdown(1000);
      clock.advance(1000); // the deadline: the callee's wait is cancelled
      await done;
      await bus.flush();
      expect(manager.size).toBe(0);
      expect(calls.active()).toEqual([]);
      expect(calls.get(id)?.state).toBe('ending');
      expect(statSync(pendingPath(dir, id)).size).toBe(wavBytes(10));
      expect(statSync(pendingPath(dir, `${id}.callee`)).size).toBe(wavBytes(10));
      expect(events.map((e) => e.type)).not.toContain('call.ended');
      expect(wordsOn('callee')).toEqual([]);

      // The next start (a new registry and bus on the same storage): both files read back; what
      // the caller's channel published is not published again, the callee's words are.
      pool.reservable = Number.POSITIVE_INFINITY;
      pool.wordQueue.splice(0, pool.wordQueue.length, ['bob', 'speaks'], ['paul', 'answers']);
      const store = new CallStore(db);
      const bus2 = new TranscriptBus({ logger: logSink().logger, clock: appClock });
      const after: CallEvent[] = [];
      bus2.addSink(new StorageSink(store, new JsonlFiles(dir)));
      bus2.addSink({ name: 'collect', handle: (e) => void after.push(e) });
      const calls2 = new CallRegistry({
        store,
        bus: bus2,
        clock: appClock,
        logger: logSink().logger,
        metrics,
      });
      const pending = new PendingTranscriptions({
        storageDir: dir,
        calls: calls2,
        bus: bus2,
        pool: pool as unknown as SttPool,
        metrics,
        clock,
        logger: logSink().logger,
      });
      await calls2.prepareResume([id]);
      expect(pending.start()).toEqual([id]);
      await pending.settled();
      await bus2.flush();
      expect(pending.completed).toEqual([id]);
      expect(pool.streams.slice(-2).map((st) => st.frames)).toEqual([10, 10]);
      expect(
        after
          .filter((e) => e.type === 'transcript.word')
          .map((e) => e.type === 'transcript.word' && [e.channel, e.text]),
      ).toEqual([
        ['callee', 'paul'],
        ['callee', 'answers'],
      ]);
      const ended = after.filter((e) => e.type === 'call.ended');
      expect(ended).toHaveLength(1);
      expect(ended[0]).toMatchObject({ durationMs: 800, reason: 'bye-remote' });
      expect(ended[0]?.type === 'call.ended' && ended[0].transcript.map((u) => [u.channel, u.text])).toEqual([
        ['caller', 'bob speaks'],
        ['callee', 'paul answers'],
      ]);
      expect(ended[0]?.call.recording?.participants.map((p) => p.name)).toEqual(['Bob', 'Paul']);
      expect(store.words(id).map((w) => [w.channel, w.text])).toEqual([
        ['caller', 'bob'],
        ['caller', 'speaks'],
        ['callee', 'paul'],
        ['callee', 'answers'],
      ]);
      expect(calls2.get(id)?.state).toBe('ended');
      expect(listPendingRecordings(dir)).toEqual([]);
    });

    it('storage.recordAudio: one WAV per channel, recordings/<id>.wav (caller) and <id>.callee.wav', async () => {
      build({}, { whenFull: 'reject' }, { recordAudio: true });
      const call = record(metadata('rfc7865-complete.xml'));
      await until(() => pool.streams.length === 2);
      const id = calls.active()[0]!.id;
      clock.advance(800); // 10 frames of 80 ms on each stream
      call.end('bye-remote');
      await settled(() => manager.size === 0);
      // 24 kHz PCM16 mono: the 44-byte header, 3840 bytes per frame, finished at the end.
      for (const file of [recordingPath(dir, id), recordingPath(dir, `${id}.callee`)]) {
        const wav = readFileSync(file);
        expect(wav.length).toBe(wavBytes(10));
        expect(wav.readUInt32LE(24)).toBe(24_000);
        expect(wav.readUInt16LE(22)).toBe(1);
        expect(wav.readUInt32LE(40)).toBe(10 * 3840);
      }
    });
  });
});
