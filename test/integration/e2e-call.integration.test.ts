// End to end: a SIPp caller streams the spoken G.711 fixture (audio/fox_pcmu_8k.ul, 3.44 s) to the
// whole product; the fake moshi-server "recognises" what reaches it (each 80 ms frame classified
// by its zero-crossing rate, see test/helpers/fakeMoshiServer.ts). The expected words are the
// Word messages the fake actually sent for that audio (its log), not anything the product
// computed; they must arrive, in order, in the database, the JSONL file, the webhook receiver,
// the live feed and the API. The audio the fake received must hold the clip's speech.
import { createSocket } from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/events.js';
import { sippCall, type SipTransport } from '../helpers/sipp.js';
import { stopAll } from '../helpers/processes.js';
import { waitFor } from './appHarness.js';
import {
  audibleFrames,
  dbRows,
  getJson,
  jsonlEvents,
  startE2e,
  until,
  wordsSentBy,
  type E2e,
} from './e2eHarness.js';
import { FakeMoshiServer } from '../helpers/fakeMoshiServer.js';

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

interface ApiCall {
  id: string;
  state: string;
  endReason: string | null;
  meta?: Record<string, unknown>;
  [k: string]: unknown;
}

function textsOf(events: readonly CallEvent[], callId: string, type: CallEvent['type']): string[] {
  return events
    .filter((e) => e.callId === callId && e.type === type)
    .map((e) => (e as { text?: string }).text ?? '');
}

/** Per media thread, its STT connections (`sipscribe_media_thread_stt_connections`). */
function sttOnThreads(metrics: string): number[] {
  return [...metrics.matchAll(/^sipscribe_media_thread_stt_connections\{thread="\d+"\} (\d+)$/gm)].map((m) =>
    Number(m[1]),
  );
}

// Media on two media threads over UDP, on the main thread over TCP: both paths whatever the cores.
describe.each<[SipTransport, number]>([
  ['udp', 2],
  ['tcp', 0],
])('a SIPp call over %s (rtp.threads %i) becomes a transcript', (transport, threads) => {
  it('delivers the words the STT produced to every sink', async () => {
    const e2e = await startE2e(`e2e-call-${transport}`, { rtp: { threads } });
    envs.push(e2e);
    // While the call runs, its STT connection's socket is on a media thread when there are any.
    const sttSeenOnThread =
      threads > 0
        ? until(async () => {
            const m = await (await fetch(`${e2e.base}/metrics`)).text();
            return sttOnThreads(m).reduce((n, v) => n + v, 0) > 0;
          }, 'an STT connection on a media thread')
        : Promise.resolve(true);
    const sipp = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_call_pcmu.xml', {
      transport,
      durationMs: 4500,
    });
    expect(sipp.code, sipp.output).toBe(0);
    expect(sipp.responses).toContain(200);

    // The call is over once the API says so (the flush finished, call.ended published).
    const call = await until(async () => {
      const { calls } = await getJson<{ calls: ApiCall[] }>(`${e2e.base}/api/calls`);
      return calls.length === 1 && calls[0]?.state === 'ended' ? calls[0] : undefined;
    }, 'the call to end');
    await e2e.app.endpoint.bus.flush();

    // What the fake heard and said.
    const streams = e2e.fake.admitted;
    expect(streams).toHaveLength(1);
    const stream = streams[0]!;
    const speech = audibleFrames(FakeMoshiServer.audioOf(stream));
    // 3.44 s of speech = 43 frames; allow the pauses between words and the frame alignment.
    expect(speech).toBeGreaterThanOrEqual(25);
    expect(speech).toBeLessThanOrEqual(50);
    const expected = wordsSentBy(stream);
    expect(expected.length).toBeGreaterThan(0);

    // Database.
    const words = dbRows<{ text: string }>(
      e2e.storageDir,
      'SELECT text FROM words WHERE call_id = ? ORDER BY seq',
      call.id,
    ).map((w) => w.text);
    expect(words).toEqual(expected);
    const utterText = dbRows<{ text: string }>(
      e2e.storageDir,
      'SELECT text FROM utterances WHERE call_id = ? ORDER BY seq',
      call.id,
    )
      .map((u) => u.text)
      .join(' ');
    expect(utterText).toBe(expected.join(' '));
    const [row] = dbRows<{ transport: string; codec: string; end_reason: string }>(
      e2e.storageDir,
      'SELECT transport, codec, end_reason FROM calls WHERE id = ?',
      call.id,
    );
    expect(row).toMatchObject({ transport, codec: 'PCMU', end_reason: 'bye-remote' });

    // JSONL file: the whole ordered stream.
    const lines = jsonlEvents(e2e.storageDir, call.id);
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines[0]?.type).toBe('call.started');
    expect(lines.at(-1)?.type).toBe('call.ended');
    expect(textsOf(lines, call.id, 'transcript.word')).toEqual(expected);
    const ended = lines.at(-1) as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended.reason).toBe('bye-remote');
    expect(ended.transcript.map((u) => u.text).join(' ')).toBe(expected.join(' '));
    expect(ended.call).toMatchObject({ transport, codec: 'PCMU' });
    expect(ended.call.sipCallId).not.toBe('');

    // API.
    const t = await getJson<{ text: string; state: string }>(`${e2e.base}/api/calls/${call.id}/transcript`);
    expect(t.state).toBe('ended');
    expect(t.text).toBe(expected.join(' '));

    // Live feed (connected before the call).
    await waitFor(
      () => e2e.live.some((ev) => ev.callId === call.id && ev.type === 'call.ended'),
      'live call.ended',
    );
    expect(textsOf(e2e.live, call.id, 'transcript.word')).toEqual(expected);

    // Webhook receiver: call.started, utterances, call.ended, signed.
    await waitFor(() => e2e.hooks.some((h) => h.event.type === 'call.ended'), 'webhook call.ended');
    const hooks = e2e.hooks.filter((h) => h.event.callId === call.id);
    expect(hooks.every((h) => h.signatureOk)).toBe(true);
    expect(hooks[0]?.event.type).toBe('call.started');
    expect(hooks.at(-1)?.event.type).toBe('call.ended');
    expect(
      textsOf(
        hooks.map((h) => h.event),
        call.id,
        'transcript.utterance',
      ).join(' '),
    ).toBe(expected.join(' '));

    // Metrics.
    const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
    expect(metrics).toMatch(/sipscribe_calls_total\{outcome="bye-remote"\} 1/);
    expect(metrics).toMatch(/sipscribe_rtp_packets_received_total [1-9]\d*/);
    // The call's media ran where rtp.threads put it.
    const threadLines = metrics.match(/^sipscribe_media_thread_sessions\{thread="\d+"\} \d+$/gm) ?? [];
    expect(threadLines).toHaveLength(threads);
    expect(sttOnThreads(metrics)).toHaveLength(threads);
    expect(await sttSeenOnThread).toBe(true);
  });
});

describe('bad input on a running appliance', () => {
  it('is counted in /metrics: a garbage SIP datagram, RTP from a stranger during a call', async () => {
    const e2e = await startE2e('e2e-call-bad-input', {}, { webhook: false, live: false });
    envs.push(e2e);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const send = (buf: Buffer, port: number): Promise<void> =>
      new Promise((resolve) => sock.send(buf, port, '127.0.0.1', () => resolve()));
    await send(Buffer.from('\x00\x01 not SIP at all\r\n\r\n'), e2e.sipPort);

    const sipp = sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_call_pcmu.xml', { durationMs: 3000 });
    await until(
      () => (e2e.app.endpoint.calls.active()[0]?.state === 'streaming' ? true : undefined),
      'streaming',
    );
    // Three bytes, to every port of the range (the call's among them). Once the session has
    // latched the caller's media address it drops a stranger's datagram unparsed; before that
    // (SIPp's audio not yet arrived) it parses it and finds it truncated. Either is one drop.
    for (let port = e2e.rtpMin; port <= e2e.rtpMax; port++) {
      await send(Buffer.from([0x80, 0x00, 0x01]), port);
    }
    expect((await sipp).code).toBe(0);
    await until(() => (e2e.app.endpoint.calls.active().length === 0 ? true : undefined), 'the call to end');
    sock.close();

    const metrics = await (await fetch(`${e2e.base}/metrics`)).text();
    expect(metrics).toMatch(/^sipscribe_sip_events_total\{event="malformed_dropped"\} 1$/m);
    expect(metrics).toMatch(/^sipscribe_sip_events_total\{event="messages_received"\} [1-9]\d*$/m);
    expect(metrics).toMatch(
      /^sipscribe_rtp_dropped_total\{reason="(rejected-source|malformed:RTP_ERR_TRUNCATED)"\} 1$/m,
    );
  });
});
