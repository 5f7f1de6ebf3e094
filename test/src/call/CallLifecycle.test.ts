// CallLifecycle against the call states of architecture.md ("Call states"): offered → ringing →
// answered → streaming → ending → ended, rejected and cancelled before the answer, every way out
// of an answered call through `ending`; each way out taken once, whoever asks and how often. The
// registry is the real one; the store records every state a call's row is written with.
import { beforeEach, describe, expect, it } from 'vitest';
import { CallLifecycle, type EndOutcome } from '../../../src/call/CallLifecycle.js';
import { CallRegistry } from '../../../src/call/CallRegistry.js';
import type { SessionCall } from '../../../src/call/CallSession.js';
import type { CallRecord } from '../../../src/call/CallRecord.js';
import { parseConfig } from '../../../src/config.js';
import type { CallEvent } from '../../../src/events.js';
import { createMetrics } from '../../../src/metrics.js';
import type { SttPool } from '../../../src/stt/index.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';
import { FakeCall, META, REMOTE } from './fakes.js';

describe('CallLifecycle', () => {
  let calls: CallRegistry;
  let states: string[];
  let events: CallEvent[];
  let records: Record<string, unknown>[];
  let logger: ReturnType<typeof logSink>['logger'];
  let bus: TranscriptBus;
  let clock: FakeClock;
  /** What the session was asked to do, in order. */
  let asked: string[];
  let outcome: () => Promise<EndOutcome>;

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 11, 7, 9, 0, 0));
    const sink = logSink();
    records = sink.records;
    logger = sink.logger;
    bus = new TranscriptBus({ logger: sink.logger, clock });
    events = [];
    bus.addSink({ name: 'collect', handle: (e) => void events.push(e) });
    states = [];
    calls = new CallRegistry({
      store: { saveCall: (r: CallRecord) => void states.push(r.state) },
      bus,
      clock,
      logger: sink.logger,
    });
    asked = [];
    outcome = () => Promise.resolve({});
  });

  function lifecycle(call: FakeCall | null): { life: CallLifecycle; id: string } {
    const { id } = calls.create(META);
    const deps = {
      config: parseConfig({}),
      calls,
      bus,
      metrics: createMetrics({ processMetrics: false }),
      pool: {} as SttPool,
      clock,
      wallClock: () => clock.now(),
    };
    const life = new CallLifecycle(
      id,
      deps,
      logger.child({ callId: id }),
      call as SessionCall | null,
      'call',
      {
        releaseSetup: () => void asked.push('releaseSetup'),
        ending: (reason) => {
          asked.push(`ending:${reason}`);
          return outcome();
        },
        abort: () => void asked.push('abort'),
        openStt: () => {
          asked.push('openStt');
          return Promise.resolve();
        },
      },
    );
    return { life, id };
  }

  const settled = (p: Promise<void>): Promise<boolean> =>
    Promise.race([p.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);

  it('reads its phase from the registry through every state, and ends once however often asked', async () => {
    const call = new FakeCall(REMOTE);
    const { life, id } = lifecycle(call);
    expect(life.phase).toBe('setup'); // offered
    calls.transition(id, 'ringing');
    expect(life.phase).toBe('setup');
    const remote = await life.answer(() => call.answer({ address: '198.51.100.7', port: 30000 }));
    expect(remote).toBe(REMOTE);
    life.answered({ meta: { codec: 'PCMU' } });
    expect(life.phase).toBe('live');
    expect(life.answeredWallMs).toBe(Date.UTC(2026, 11, 7, 9, 0, 0));
    life.streaming();
    life.streaming(); // a second channel's stream: the call streams once
    expect(life.phase).toBe('live');

    let finish!: (o: EndOutcome) => void;
    outcome = () => new Promise((r) => (finish = r));
    const ends = [life.end('bye-remote'), life.end('error'), life.end('shutdown')];
    expect(life.phase).toBe('ending');
    expect(call.hangups).toBe(1); // our BYE (its own `ended` changes nothing)
    expect(await settled(life.done)).toBe(false); // the flush is running
    finish({});
    await Promise.all(ends);
    await life.done;
    expect(life.phase).toBe('done');
    expect(states).toEqual(['offered', 'ringing', 'answered', 'streaming', 'ending', 'ended']);
    expect(asked).toEqual(['ending:bye-remote']);
    expect(calls.get(id)).toMatchObject({ state: 'ended', endReason: 'bye-remote' });
    expect(events.filter((e) => e.type === 'call.ended')).toHaveLength(1);
    await life.end('error'); // over: nothing
    expect(states).toHaveLength(6);
  });

  it('opens the STT once, at the ACK of a live call (or after the answer when the ACK came first)', async () => {
    const call = new FakeCall(REMOTE, false);
    const { life } = lifecycle(call);
    call.emit('confirmed'); // (an ACK before the answer is recorded: no STT yet)
    expect(asked).toEqual([]);
    await life.answer(() => call.answer({ address: '198.51.100.7', port: 30000 }));
    life.answered({});
    call.ack();
    call.emit('confirmed'); // a retransmitted ACK
    await life.openStt(); // the session's own check after the answer
    await life.sttOpened;
    expect(asked).toEqual(['openStt']);
  });

  it('ends during setup by rejecting (503) once, without an `ending`', async () => {
    const call = new FakeCall(REMOTE);
    const { life, id } = lifecycle(call);
    calls.transition(id, 'ringing');
    call.ring();
    const first = life.end('shutdown');
    const second = life.end('shutdown');
    await Promise.all([first, second, life.done]);
    expect(call.rejected?.status).toBe(503);
    expect(states).toEqual(['offered', 'ringing', 'rejected']);
    expect(calls.get(id)).toMatchObject({ state: 'rejected', rejectStatus: 503 });
    expect(asked).toEqual(['releaseSetup']);
    expect(life.phase).toBe('done');
    expect(events).toEqual([]); // never answered: no event stream
  });

  it('keeps the first rejection when an end races it', async () => {
    const call = new FakeCall(REMOTE);
    const { life, id } = lifecycle(call);
    life.reject(486, { reason: 'Busy Here' });
    await life.end('error');
    expect(call.rejected?.status).toBe(486);
    expect(states).toEqual(['offered', 'rejected']);
    expect(calls.get(id)?.rejectStatus).toBe(486);
    expect(asked).toEqual(['releaseSetup']);
  });

  it('rejects (500) a setup that throws before the answer, and ends (error) one that throws after it', async () => {
    const before = new FakeCall(REMOTE);
    const a = lifecycle(before);
    await a.life.setup(() => Promise.reject(new Error('no route')));
    await a.life.done;
    expect(before.rejected?.status).toBe(500);
    expect(calls.get(a.id)).toMatchObject({ state: 'rejected', rejectStatus: 500 });

    const after = new FakeCall(REMOTE);
    const b = lifecycle(after);
    await b.life.setup(async () => {
      await b.life.answer(() => after.answer({ address: '198.51.100.7', port: 30000 }));
      b.life.answered({});
      throw new Error('media start failed');
    });
    await b.life.done;
    expect(after.rejected).toBeNull();
    expect(calls.get(b.id)).toMatchObject({ state: 'ended', endReason: 'error' });
    expect(asked).toEqual(['releaseSetup', 'ending:error']);
  });

  it('records a CANCEL during setup as cancelled, and setup waiting on it sees the call gone', async () => {
    const call = new FakeCall(REMOTE);
    const { life, id } = lifecycle(call);
    expect(life.abandoned()).toBe(false);
    call.end('cancel');
    await life.sipGone;
    expect(life.abandoned()).toBe(true); // setup, resuming after its await
    await life.done;
    expect(states).toEqual(['offered', 'cancelled']);
    expect(calls.get(id)?.state).toBe('cancelled');
    expect(asked).toEqual(['releaseSetup', 'releaseSetup']); // (the session's release is idempotent)
  });

  it('ends a live call with the SIP end reason when the peer hangs up', async () => {
    const call = new FakeCall(REMOTE);
    const { life, id } = lifecycle(call);
    await life.answer(() => call.answer({ address: '198.51.100.7', port: 30000 }));
    life.answered({});
    call.end('bye-remote');
    await life.done;
    expect(call.hangups).toBe(0); // the peer's BYE: none of ours
    expect(states).toEqual(['offered', 'answered', 'ending', 'ended']);
    expect(calls.get(id)?.endReason).toBe('bye-remote');
  });

  it('parks a call whose pending audio outlives it: the registry keeps `ending`, the session is done', async () => {
    const { life, id } = lifecycle(null); // (a stream from another system: no SIP call)
    life.answered({ deferred: true });
    let after = 0;
    outcome = () => Promise.resolve({ parked: true, durationMs: 5000, after: () => void after++ });
    await life.end('shutdown');
    await life.done;
    expect(life.phase).toBe('done');
    expect(calls.get(id)?.state).toBe('ending');
    expect(calls.active()).toEqual([]);
    expect(states).toEqual(['offered', 'answered', 'ending']);
    expect(events.some((e) => e.type === 'call.ended')).toBe(false); // the next start publishes it
    expect(after).toBe(1);
    await life.end('error');
    expect(asked).toEqual(['ending:shutdown']);
  });

  it('takes an end asked for from within its own first steps as the same end', async () => {
    const { life } = lifecycle(null);
    life.answered({});
    const inner: Promise<void>[] = [];
    outcome = () => {
      inner.push(life.end('error')); // e.g. the last frames flushed spend the pending budget
      return Promise.resolve({});
    };
    await life.end('rtp-timeout');
    await Promise.all(inner);
    expect(states).toEqual(['offered', 'answered', 'ending', 'ended']);
    expect(asked).toEqual(['ending:rtp-timeout']);
    expect(records.some((r) => r['level'] === 50)).toBe(false); // no error logged
  });

  it('closes everything at once when `ending` fails, and is over', async () => {
    const { life, id } = lifecycle(null);
    life.answered({});
    outcome = () => Promise.reject(new Error('flush failed'));
    await life.end('bye-remote');
    await life.done;
    expect(asked).toEqual(['ending:bye-remote', 'abort']);
    expect(life.phase).toBe('done');
    expect(calls.get(id)?.state).toBe('ending'); // (the registry's last resort, endAll, ends it)
  });
});
