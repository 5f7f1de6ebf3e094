// A second SIP implementation calls sipscribe in-process: SIP.js's UserAgent and Inviter over UDP
// (test/helpers/sipjsCaller.ts) offer G.711, get 200, ACK, stream the fake STT's tone "speech"
// (encoded to G.711 by sox), hang up with BYE; the words come out as the transcript. What a stack
// tested against itself cannot show: another implementation's idea of the same RFC 3261 exchange.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDir } from '../helpers/paths.js';
import { run, stopAll } from '../helpers/processes.js';
import { sipjsCall } from '../helpers/sipjsCaller.js';
import {
  dbRows,
  getJson,
  isSubsequence,
  scriptWav8k,
  startE2e,
  until,
  wordsSentBy,
  type E2e,
} from './e2eHarness.js';

const SCRIPT = ['hello', 'my', 'name', 'is', 'alice'];

let e2e: E2e | undefined;
const audio = { pcmu: '', pcma: '' };
beforeAll(async () => {
  const dir = runDir('e2e-sipjs-audio');
  const wav = await scriptWav8k(dir, SCRIPT);
  audio.pcmu = join(dir, 'script.ul');
  audio.pcma = join(dir, 'script.al');
  for (const out of [audio.pcmu, audio.pcma]) {
    const sox = await run('sox', 'sox', [wav, out], { timeoutMs: 20_000 });
    expect(sox.code, sox.output).toBe(0);
  }
});

afterAll(async () => {
  await e2e?.close();
  await stopAll();
});

describe('SIP.js calls sipscribe over UDP', () => {
  it('INVITE with a G.711 offer, 200, ACK, RTP, BYE: the call is transcribed', async () => {
    e2e = await startE2e('e2e-sipjs', {}, { webhook: false });
    const call = await sipjsCall(`sip:transcribe@127.0.0.1:${e2e.sipPort}`, e2e.sipPort, audio);
    const exchange = call.trace.map((t) => `${t.dir === 'sent' ? '→' : '←'} ${t.text.split('\r\n')[0]}`);
    console.log(`SIP.js ⇄ sipscribe: ${exchange.join(' | ')}; ${call.packetsSent} RTP packets`);
    expect(call.inviteResponses.at(-1), exchange.join('\n')).toBe(200);
    expect(call.rtp.address).toBe('127.0.0.1');
    expect(call.rtp.port).toBeGreaterThanOrEqual(e2e.rtpMin);
    expect(call.rtp.port).toBeLessThanOrEqual(e2e.rtpMax);
    expect([0, 8]).toContain(call.rtp.payloadType);
    // SIP.js acknowledged the 2xx and its BYE was answered.
    const sent = call.trace.filter((t) => t.dir === 'sent').map((t) => t.text.split(' ')[0]);
    expect(sent).toEqual(expect.arrayContaining(['INVITE', 'ACK', 'BYE']));
    expect(call.byeStatus).toBe(200);
    expect(call.packetsSent).toBeGreaterThan(100);

    const ended = await until(() => e2e!.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
    expect(ended.call.transport).toBe('udp');
    expect(ended.call.codec).toBe(call.rtp.payloadType === 8 ? 'PCMA' : 'PCMU');
    expect((ended as { reason?: string }).reason).toBe('bye-remote');
    const expected = wordsSentBy(e2e.fake.admitted[0]!);
    expect(isSubsequence(SCRIPT, expected), expected.join(' ')).toBe(true);
    const t = await getJson<{ text: string }>(`${e2e.base}/api/calls/${ended.callId}/transcript`);
    expect(t.text).toBe(expected.join(' '));
    const rows = dbRows<{ sip_call_id: string }>(e2e.storageDir, 'SELECT sip_call_id FROM calls');
    const inviteCallId = /^Call-ID: *(.+)$/im.exec(
      call.trace.find((m) => m.text.startsWith('INVITE'))!.text,
    )?.[1];
    expect(rows.map((r) => r.sip_call_id)).toEqual([inviteCallId?.trim()]);
  });
});
