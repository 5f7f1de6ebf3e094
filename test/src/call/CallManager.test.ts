// CallManager in memory: admission outcomes for new INVITEs (the statuses of architecture.md and
// calls/Admission.ts's order of checks) and the shutdown that ends every call, with a deadline.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IncomingCall } from '../../../sip/index.js';
import { Admission } from '../../../src/calls/Admission.js';
import { CallRegistry } from '../../../src/calls/CallRegistry.js';
import { CallManager } from '../../../src/call/CallManager.js';
import { parseConfig } from '../../../src/config.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import type { SttPool } from '../../../src/stt/index.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { MemoryNetwork } from '../../rtp/session/memoryNetwork.js';
import { logSink } from '../logSink.js';
import { FakeCall, FakePool, REMOTE } from './fakes.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CallManager', () => {
  let dir = '';
  let db: Db;
  let appClock: FakeClock;
  let clock: FakeClock;
  let metrics: Metrics;
  let calls: CallRegistry;
  let admission: Admission;
  let pool: FakePool;
  let manager: CallManager;
  let net: MemoryNetwork;

  function build(inbound: Record<string, unknown> = {}): void {
    const config = parseConfig({
      sip: { inbound },
      rtp: { host: '198.51.100.7', portMin: 30000, portMax: 30019 },
    });
    admission = new Admission({
      allowFrom: config.sip.inbound.allowFrom,
      maxCalls: config.sip.inbound.maxCalls,
      rateLimit: config.sip.inbound.rateLimit,
      whenFull: config.stt.whenFull,
      clock: appClock,
      metrics,
    });
    const bus = new TranscriptBus({ logger: logSink().logger, clock: appClock });
    calls = new CallRegistry({
      store: new CallStore(db),
      bus,
      clock: appClock,
      logger: logSink().logger,
      metrics,
    });
    manager = new CallManager({
      config,
      calls,
      bus,
      metrics,
      recorder: null,
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

  it('a source outside allowFrom gets 403; the record says rejected', () => {
    build({ allowFrom: ['203.0.113.0/24'] });
    const call = invite('192.0.2.4');
    expect(call.rejected?.status).toBe(403);
    expect(calls.list()[0]).toMatchObject({ state: 'rejected', rejectStatus: 403 });
    expect(manager.size).toBe(0);
  });

  it('maxCalls active: the next INVITE gets 486', async () => {
    build({ maxCalls: 1 });
    invite();
    await tick();
    const second = invite('192.0.2.5');
    expect(second.rejected?.status).toBe(486);
  });

  it('over the per-source rate limit: 503 without a call record', () => {
    build({ rateLimit: { burst: 1, perSecond: 0.1 } });
    invite();
    const second = invite();
    expect(second.rejected?.status).toBe(503);
    expect(calls.list()).toHaveLength(1);
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
});
