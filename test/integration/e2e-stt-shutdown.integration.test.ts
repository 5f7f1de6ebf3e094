// End to end, what a stop leaves behind on the STT side, and deferred transcription across a
// restart:
// - after `Appliance.stop()` no connection to the moshi-server is left (client sockets, and what
//   the fake server sees), and none is opened afterwards (a deferred transcription polling for a
//   slot used to open one after the stop and stream the whole recording, ~30 s for a minute-long
//   call, which the CLI hid by exiting after 2 s);
// - a deferred call (STT at capacity, `stt.whenFull: "defer"`) records its audio to
//   `storage.dir/pending/<callId>.wav`, not to memory; a stop before a slot freed up leaves the file
//   and the call in `ending` (no `call.ended`); the next start transcribes the file and completes
//   the call (utterances, `call.ended` with the transcript, file deleted).
import { existsSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Appliance } from '../../src/appliance.js';
import type { CallEvent } from '../../src/events.js';
import { pendingPath } from '../../src/recording/PendingRecording.js';
import { socketsTo } from '../helpers/handles.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { dbRows, jsonlEvents, startAgain, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';

const envs: E2e[] = [];
const apps: Appliance[] = [];
afterAll(async () => {
  for (const a of apps) {
    await a.stop(1000);
  }
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

describe('STT connections at shutdown', () => {
  it('after stop() no connection to the STT server remains, from either side', async () => {
    const e2e = await startE2e('e2e-stt-stop', {}, { webhook: false });
    envs.push(e2e);
    const sipp = sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_call_pcmu.xml', {
      durationMs: 20_000,
      timeoutS: 25,
    });
    await until(() => e2e.live.some((ev) => ev.type === 'transcript.word'), 'the first words');
    expect(e2e.fake.openConnections()).toContain('WebSocket');
    await e2e.app.stop(10_000);
    // stop() resolves once every WebSocket is closed; the probes keep no idle keep-alive socket.
    expect(socketsTo(e2e.fake.port)).toEqual([]);
    await e2e.fake.settled();
    await sipp;
  });
});

describe('deferred transcription spilled to disk, across a restart', () => {
  it('a stop leaves the deferred audio pending; the next start transcribes it and ends the call', async () => {
    // One STT slot: the first call takes it, the second is deferred.
    const e2e = await startE2e(
      'e2e-deferred-restart',
      { stt: { whenFull: 'defer' } },
      { fake: { slots: 1 }, webhook: false },
    );
    envs.push(e2e);
    const target = `127.0.0.1:${e2e.sipPort}`;
    const first = sippCall(target, 'uac_call_pcmu.xml', { durationMs: 30_000, timeoutS: 40 });
    await until(() => e2e.live.some((ev) => ev.type === 'transcript.word'), 'the first call to stream');
    const second = await sippCall(target, 'uac_call_pcmu.xml', { durationMs: 4000 });
    expect(second.code, second.output).toBe(0); // answered, not refused
    const started = e2e.live.filter((ev) => ev.type === 'call.started').map((ev) => ev.callId);
    expect(started).toHaveLength(2);
    const deferredId = started[1]!;
    const file = pendingPath(e2e.storageDir, deferredId);
    // The deferred call hung up and waits for the slot: its audio is on disk, 24 kHz PCM16
    // (48 000 bytes per second of call; the clip is 4 s plus the setup).
    expect(existsSync(file)).toBe(true);
    const bytes = statSync(file).size;
    expect(bytes).toBeGreaterThan(44 + 3.5 * 48_000);
    expect((bytes - 44) % 3840).toBe(0); // whole 80 ms frames
    expect(
      dbRows<{ state: string }>(e2e.storageDir, 'SELECT state FROM calls WHERE id = ?', deferredId),
    ).toEqual([{ state: 'ending' }]);

    // Stop with a short deadline: the first call's flush frees the slot, but the deferred
    // transcription is cancelled before it could finish (or start).
    const streamsAtStop = e2e.fake.streams.length;
    await e2e.app.stop(300);
    expect(socketsTo(e2e.fake.port)).toEqual([]);
    // Nothing connects after the stop (a deferred transcription polls every 2 s for a slot): once
    // every call session is over, nothing is left that could.
    await until(() => e2e.app.manager.size === 0, 'every call session to end');
    expect(e2e.fake.streams.length).toBe(streamsAtStop);
    expect(e2e.fake.openConnections()).toEqual([]);
    await first;

    expect(existsSync(file)).toBe(true);
    expect(
      dbRows<{ state: string }>(e2e.storageDir, 'SELECT state FROM calls WHERE id = ?', deferredId),
    ).toEqual([{ state: 'ending' }]);
    const before = jsonlEvents(e2e.storageDir, deferredId);
    expect(before.map((e) => e.type)).not.toContain('call.ended');

    // The next start, on the same storage: the pending call is transcribed when a slot is free.
    const { app } = await startAgain(e2e, 'restart', {
      stt: { servers: [{ url: e2e.fake.url }], whenFull: 'defer' },
    });
    apps.push(app);
    await app.pending.settled();
    expect(app.pending.completed).toEqual([deferredId]);
    await app.endpoint.bus.flush();

    const stream = e2e.fake.admitted.at(-1)!;
    const expected = wordsSentBy(stream);
    expect(expected.length).toBeGreaterThan(0);
    const events = jsonlEvents(e2e.storageDir, deferredId);
    const ended = events.filter(
      (e): e is Extract<CallEvent, { type: 'call.ended' }> => e.type === 'call.ended',
    );
    expect(ended).toHaveLength(1);
    expect(ended[0]!.transcript.map((u) => u.text).join(' ')).toBe(expected.join(' '));
    expect(ended[0]!.reason).toBe('bye-remote');
    // The audio the fake got is the call's (about 4 s), so the call lasted that long.
    expect(ended[0]!.durationMs).toBeGreaterThanOrEqual(3500);
    expect(ended[0]!.durationMs).toBeLessThan(10_000);
    // One sequence for the whole call across both runs: 1, 2, 3, … without gaps or repeats.
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.type === 'transcript.utterance').length).toBeGreaterThan(0);
    expect(
      dbRows<{ state: string }>(e2e.storageDir, 'SELECT state FROM calls WHERE id = ?', deferredId),
    ).toEqual([{ state: 'ended' }]);
    await until(() => !existsSync(file), 'the pending file to be deleted');
  });
});
