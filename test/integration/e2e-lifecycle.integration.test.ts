// End to end, the ways a call ends besides a plain BYE: shutdown in the middle of speech (the
// transcript is still complete: every word the STT produced for the audio it got is stored and
// published with call.ended), CANCEL while ringing and 488 (a rejected record; no resources left
// behind: no RTP port bound, no STT slot held, no session).
import { afterAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/events.js';
import { listPendingRecordings } from '../../src/recording/PendingRecording.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { boundUdpPorts, dbRows, jsonlEvents, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

describe('call lifecycle end to end', () => {
  it('shutdown during a call ends it through the STT flush and keeps the whole transcript', async () => {
    const e2e = await startE2e('e2e-shutdown');
    envs.push(e2e);
    // A long call: SIPp would hang up after 20 s; we shut down long before.
    const sipp = sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_call_pcmu.xml', {
      durationMs: 20_000,
      timeoutS: 25,
    });
    // Mid-speech: once a few words were published.
    const before = await until(() => {
      const n = e2e.live.filter((ev) => ev.type === 'transcript.word').length;
      return n >= 3 ? n : undefined;
    }, 'the first words');
    const callId = e2e.live.find((ev) => ev.type === 'call.started')?.callId ?? '';
    await e2e.app.stop(10_000);

    const stream = e2e.fake.admitted[0]!;
    const expected = wordsSentBy(stream);
    expect(expected.length).toBeGreaterThanOrEqual(before);
    // The flush Marker went out and came back before the stream closed.
    expect(stream.frames.some((f) => (f.message as { type?: string } | undefined)?.type === 'Marker')).toBe(
      true,
    );
    expect(stream.sent.some((m) => m['type'] === 'Marker')).toBe(true);

    const words = dbRows<{ text: string }>(
      e2e.storageDir,
      'SELECT text FROM words WHERE call_id = ? ORDER BY seq',
      callId,
    ).map((w) => w.text);
    expect(words).toEqual(expected);
    const lines = jsonlEvents(e2e.storageDir, callId);
    const ended = lines.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended.type).toBe('call.ended');
    expect(ended.reason).toBe('shutdown');
    expect(ended.transcript.map((u) => u.text).join(' ')).toBe(expected.join(' '));
    // call.ended reached the webhook receiver before the stop ended, or waits in the outbox on disk
    // (a delivered row is deleted from the outbox).
    const outbox = dbRows<{ type: string }>(
      e2e.storageDir,
      'SELECT type FROM outbox WHERE call_id = ? ORDER BY seq',
      callId,
    );
    const delivered = e2e.hooks.some((h) => h.event.type === 'call.ended' && h.event.callId === callId);
    expect(delivered || outbox.at(-1)?.type === 'call.ended').toBe(true);
    // SIPp got our BYE (it answers it 200 through its default behaviour).
    const result = await sipp;
    expect(result.messages).toMatch(/^BYE sip:/m);
    // Nothing left bound.
    expect(await boundUdpPorts(e2e.rtpMin, e2e.rtpMax)).toEqual([]);
  });

  it('a call arriving while shutdown flushes the active ones gets 503', async () => {
    // A slow model (25 steps of delay at real-time pace) keeps the first call's flush busy for
    // seconds, so the second INVITE surely arrives during the shutdown.
    const e2e = await startE2e(
      'e2e-shutdown-503',
      { stt: { modelDelayMs: 2000 } },
      { fake: { delaySteps: 25, stepIntervalMs: 80 }, webhook: false },
    );
    envs.push(e2e);
    const target = `127.0.0.1:${e2e.sipPort}`;
    const first = sippCall(target, 'uac_call_pcmu.xml', { durationMs: 20_000, timeoutS: 25 });
    await until(() => e2e.fake.admitted.some((st) => st.frames.length > 0), 'the first call to stream');
    const stopping = e2e.app.stop(15_000);
    const late = await sippCall(target, 'uac_call_pcmu.xml', { durationMs: 500, timeoutS: 10 });
    expect(late.responses).toContain(503);
    expect(late.messages).toMatch(/^Retry-After: \d+/m);
    await stopping;
    await first;
    // Refused before it became a call: no call record, one row in the refused log.
    expect(dbRows(e2e.storageDir, "SELECT state FROM calls WHERE state = 'rejected'")).toEqual([]);
    expect(dbRows(e2e.storageDir, 'SELECT reason, status, count FROM refused')).toEqual([
      { reason: 'shutting-down', status: 503, count: 1 },
    ]);
    const ended = dbRows<{ end_reason: string }>(
      e2e.storageDir,
      "SELECT end_reason FROM calls WHERE state = 'ended'",
    );
    expect(ended).toEqual([{ end_reason: 'shutdown' }]);
  });

  it('CANCEL while ringing: 487, the call is cancelled and nothing stays held', async () => {
    const e2e = await startE2e('e2e-cancel', { sip: { inbound: { ringMs: 3000 } } });
    envs.push(e2e);
    const sipp = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_cancel.xml');
    expect(sipp.code, sipp.output).toBe(0);
    expect(sipp.responses).toEqual(expect.arrayContaining([180, 200, 487]));
    await until(() => e2e.app.manager.size === 0, 'the session to be released');
    const calls = dbRows<{ state: string }>(e2e.storageDir, 'SELECT state FROM calls');
    expect(calls).toEqual([{ state: 'cancelled' }]);
    // The STT slot reserved for the call was given back; no RTP port stayed bound.
    await until(() => e2e.fake.usedSlots === 0, 'the STT slot to be released');
    expect(await boundUdpPorts(e2e.rtpMin, e2e.rtpMax)).toEqual([]);
    expect(e2e.app.endpoint.calls.active()).toEqual([]);
    // No call.started: the call never got answered.
    expect(e2e.hooks).toEqual([]);
  });

  it('re-INVITE hold, INFO DTMF, UPDATE unhold mid-call: the call goes on, the digit is an event', async () => {
    // RTP bound to the wildcard: the SDP must still carry a reachable address (never 0.0.0.0).
    const e2e = await startE2e('e2e-midcall', { rtp: { host: '0.0.0.0' } }, { webhook: false });
    envs.push(e2e);
    const sipp = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_midcall.xml');
    expect(sipp.code, sipp.output).toBe(0);
    const ok = sipp.messages
      .split(/-{10,}/)
      .find((m) => /^SIP\/2\.0 200 OK/m.test(m) && /CSeq: 1 INVITE/.test(m));
    expect(ok).toMatch(/^c=IN IP4 127\.0\.0\.1\s*$/m);
    expect(sipp.messages).not.toMatch(/^c=IN IP4 0\.0\.0\.0/m);
    const callId = await until(
      () => e2e.live.find((ev) => ev.type === 'call.ended')?.callId,
      'the call to end',
    );
    // Storage writes in batches off the event path: what the live feed showed is on disk after a flush.
    await e2e.app.endpoint.bus.flush();
    const lines = jsonlEvents(e2e.storageDir, callId);
    const dtmf = lines.filter((l) => l.type === 'dtmf');
    // SIPp's INFO carries Signal=5, Duration=160 (test/fixtures/sipp/uac_midcall.xml).
    expect(dtmf).toMatchObject([{ digit: '5', durationMs: 160 }]);
    expect(lines.at(-1)).toMatchObject({ type: 'call.ended', reason: 'bye-remote' });
    expect(await boundUdpPorts(e2e.rtpMin, e2e.rtpMax)).toEqual([]);
  });

  it('STT full with whenFull "defer": the call is answered, recorded and transcribed after the hangup', async () => {
    // One STT slot: the first call takes it; the second is deferred until the first one is over.
    const e2e = await startE2e(
      'e2e-deferred',
      { stt: { whenFull: 'defer' } },
      { fake: { slots: 1 }, webhook: false },
    );
    envs.push(e2e);
    const target = `127.0.0.1:${e2e.sipPort}`;
    const first = sippCall(target, 'uac_call_pcmu.xml', { durationMs: 6000 });
    await until(() => e2e.live.some((ev) => ev.type === 'transcript.word'), 'the first call to stream');
    const second = await sippCall(target, 'uac_call_pcmu.xml', { durationMs: 4000 });
    expect(second.code, second.output).toBe(0); // answered, not refused
    expect((await first).code).toBe(0);
    const ended = await until(
      () => {
        const e = e2e.live.filter((ev) => ev.type === 'call.ended');
        return e.length === 2 ? e : undefined;
      },
      'both calls to end',
      60_000,
    );
    expect(e2e.fake.admitted).toHaveLength(2);
    // The deferred call ended last; its transcript is what the fake heard in the second stream.
    const deferred = ended[1]!;
    const expected = wordsSentBy(e2e.fake.admitted[1]!);
    expect(expected.length).toBeGreaterThan(0);
    expect(deferred.transcript.map((u) => u.text).join(' ')).toBe(expected.join(' '));
    expect(deferred.reason).toBe('bye-remote');
    // Its audio waited on disk (storage.dir/pending/), deleted once the transcript was stored.
    await until(() => listPendingRecordings(e2e.storageDir).length === 0, 'the pending file to go');
  });

  it('session timer not refreshed by the caller: BYE at expiry, ended with session-expired', async () => {
    // uac_session_expire.xml asks Session-Expires: 3;refresher=uac and never refreshes.
    const e2e = await startE2e(
      'e2e-session-expiry',
      { sip: { sessionTimer: { minSE: 2 } } },
      { webhook: false },
    );
    envs.push(e2e);
    const sipp = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_session_expire.xml', { timeoutS: 20 });
    expect(sipp.code, sipp.output).toBe(0);
    const ended = await until(
      () => e2e.live.find((ev): ev is Extract<CallEvent, { type: 'call.ended' }> => ev.type === 'call.ended'),
      'call.ended',
    );
    expect(ended.reason).toBe('session-expired');
    expect(await boundUdpPorts(e2e.rtpMin, e2e.rtpMax)).toEqual([]);
  });

  it('maxCalls reached: the next caller gets 486 Busy Here', async () => {
    const e2e = await startE2e('e2e-maxcalls', { sip: { inbound: { maxCalls: 1 } } }, { webhook: false });
    envs.push(e2e);
    const target = `127.0.0.1:${e2e.sipPort}`;
    const first = sippCall(target, 'uac_call_pcmu.xml', { durationMs: 4000 });
    await until(() => e2e.live.some((ev) => ev.type === 'call.started'), 'the first call to be answered');
    const second = await sippCall(target, 'uac_call_pcmu.xml', { durationMs: 500 });
    expect(second.responses).toContain(486);
    expect((await first).code).toBe(0);
    expect(dbRows(e2e.storageDir, 'SELECT reason, status, count FROM refused')).toEqual([
      { reason: 'max-calls', status: 486, count: 1 },
    ]);
  });

  it('488 for an offer without PCMU/PCMA: counted in the refused log, nothing else left behind', async () => {
    const e2e = await startE2e('e2e-488');
    envs.push(e2e);
    const sipp = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_nocodec.xml');
    expect(sipp.code, sipp.output).toBe(0);
    expect(sipp.responses).toContain(488);
    // The SIP stack answered the 488 itself; CallManager.onRefused counts it in the refused log.
    expect(dbRows(e2e.storageDir, 'SELECT * FROM calls')).toEqual([]);
    expect(dbRows(e2e.storageDir, 'SELECT source, reason, status, count FROM refused')).toEqual([
      { source: '127.0.0.1', reason: 'no-codec', status: 488, count: 1 },
    ]);
    expect(e2e.app.manager.size).toBe(0);
    expect(e2e.fake.usedSlots).toBe(0);
    expect(await boundUdpPorts(e2e.rtpMin, e2e.rtpMax)).toEqual([]);
    expect(e2e.app.endpoint.calls.active()).toEqual([]);
  });
});
