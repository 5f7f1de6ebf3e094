// SRTP with SDES keys (issue 13) against a real peer: baresip's srtp module (`mediaenc=srtp-mand`:
// RTP/SAVP with a=crypto, plain RTP refused) calls sipscribe over TLS, directly and through the
// Kamailio TLS registrar, and its audio reaches the fake STT intact (the words the fake recognised
// from the tone script are the transcript); the SRTP policy refuses what it must with 488 and a
// Warning 303 saying why; forged and replayed packets of a raw caller are dropped and counted.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeUlaw, readWavAtRate } from '../../rtp/index.js';
import { serializeRtp } from '../../rtp/packet/RtpPacket.js';
import { SrtpContext } from '../../rtp/srtp/SrtpContext.js';
import { srtpSuite } from '../../rtp/srtp/suites.js';
import { main } from '../../src/cli.js';
import { baresipCall } from '../helpers/baresip.js';
import { testCerts } from '../helpers/certs.js';
import { startKamailio } from '../helpers/kamailio.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { getJson, isSubsequence, scriptWav8k, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';
import { peer, request } from './sipPeer.js';

const SCRIPT = ['my', 'name', 'is', 'alice'];

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

let wav = '';
beforeAll(async () => {
  wav = await scriptWav8k(runDir('e2e-srtp-audio'), SCRIPT);
});

async function tlsE2e(
  name: string,
  srtp?: 'off' | 'optional' | 'required',
): Promise<{ e2e: E2e; port: number }> {
  const certs = await testCerts();
  const port = await freePort();
  const e2e = await startE2e(
    name,
    {
      sip: {
        listen: [
          {
            transport: 'tls',
            host: '127.0.0.1',
            port,
            certFile: certs.serverCert,
            keyFile: certs.serverKey,
            ...(srtp ? { srtp } : {}),
          },
        ],
      },
      // Silence at ptime (not the default keep-alive): what baresip records of our SRTP is checked.
      rtp: { sendBack: 'silence' },
    },
    { webhook: false },
  );
  envs.push(e2e);
  return { e2e, port };
}

describe('baresip with mediaenc=srtp-mand', () => {
  it('over TLS (default policy optional): answered with SRTP, the audio transcribed intact', async () => {
    const { e2e, port } = await tlsE2e('e2e-srtp-tls');
    const call = await baresipCall(`sip:transcribe@127.0.0.1:${port}`, {
      transport: 'tls',
      mediaenc: 'srtp-mand',
      wav,
      maxSeconds: 8,
    });
    expect(call.established, call.log.slice(-3000)).toBe(true);
    // Its offer was RTP/SAVP with SDES keys; our answer too.
    expect(call.log).toMatch(/m=audio \d+ RTP\/SAVP/);
    expect(call.log).toMatch(/a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}/);
    const ended = await until(() => e2e.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
    expect(ended.call).toMatchObject({ codec: 'PCMU', srtp: 'AES_CM_128_HMAC_SHA1_80' }); // baresip's only suite
    const transcript = await getJson<{ text: string }>(`${e2e.base}/api/calls/${ended.callId}/transcript`);
    const expected = wordsSentBy(e2e.fake.admitted[0]!);
    expect(transcript.text).toBe(expected.join(' '));
    expect(isSubsequence(SCRIPT, expected), expected.join(' ')).toBe(true);
    // Its audio packets authenticated (the script is 176 packets; baresip sends some RTCP in clear,
    // dropped: see e2e-srtp-peer), and what baresip received from us decrypted (it records it).
    const metrics = await fetch(`${e2e.base}/metrics`).then((r) => r.text());
    const received = Number(/^sipscribe_rtp_packets_received_total (\d+)$/m.exec(metrics)?.[1]);
    expect(received, metrics).toBeGreaterThanOrEqual(170);
    expect(call.receivedSeconds).toBeGreaterThan(1);
  });

  it('over UDP (default policy off) → 488 with a Warning 303', async () => {
    const e2e = await startE2e('e2e-srtp-udp-off', {}, { webhook: false });
    envs.push(e2e);
    const call = await baresipCall(`sip:transcribe@127.0.0.1:${e2e.sipPort}`, {
      transport: 'udp',
      mediaenc: 'srtp-mand',
      wav,
      maxSeconds: 5,
    });
    expect(call.established).toBe(false);
    expect(call.log).toMatch(/SIP\/2\.0 488/);
    expect(call.log).toMatch(/Warning: 303 127\.0\.0\.1 "SRTP is off for this call: RTP\/SAVP refused"/);
    const refused = await getJson<{ refused: { reason: string; status: number }[] }>(
      `${e2e.base}/api/refused`,
    );
    expect(refused.refused).toEqual([expect.objectContaining({ reason: 'srtp', status: 488 })]);
  });
});

describe('through the Kamailio TLS registrar', () => {
  it('baresip (registered as bob over TLS, srtp-mand) calls alice, registered by sipscribe over TLS', async () => {
    const k = await startKamailio();
    const e2e = await startE2e(
      'e2e-srtp-kamailio',
      {
        sip: {
          accounts: [{ registrar: k.uri('tls'), username: 'alice', password: 'alice-secret', expires: 300 }],
          tls: { caFile: k.certs.caCert, verify: true },
        },
      },
      { webhook: false },
    );
    envs.push(e2e);
    await until(async () => ((await fetch(`${e2e.base}/ready`)).status === 200 ? true : undefined), '/ready');
    const call = await baresipCall(`sip:alice@127.0.0.1:${k.tlsPort}`, {
      transport: 'tls',
      mediaenc: 'srtp-mand',
      register: { user: 'bob', password: 'bob-secret', registrar: `127.0.0.1:${k.tlsPort}` },
      wav,
      maxSeconds: 10,
    });
    expect(call.established, call.log.slice(-3000)).toBe(true);
    expect(call.log).toMatch(/m=audio \d+ RTP\/SAVP/);
    const ended = await until(() => e2e.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
    expect(ended.call.transport).toBe('tls');
    const transcript = await getJson<{ text: string }>(`${e2e.base}/api/calls/${ended.callId}/transcript`);
    const expected = wordsSentBy(e2e.fake.admitted[0]!);
    expect(transcript.text).toBe(expected.join(' '));
    expect(isSubsequence(SCRIPT, expected), expected.join(' ')).toBe(true);
    await e2e.close();
    await k.stop();
  });
});

describe('sipscribe dial --srtp required (our own RTP/SAVP offer)', () => {
  it('calls sipscribe over TLS with SRTP both ways; the audio is transcribed intact', async () => {
    const { e2e, port } = await tlsE2e('e2e-srtp-dial');
    const certs = await testCerts();
    const rtpMin = await freePort('127.0.0.1', 16);
    const cfg = join(e2e.dir, 'dial.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        rtp: { host: '127.0.0.1', portMin: rtpMin, portMax: rtpMin + 15 },
        sip: { tls: { caFile: certs.caCert, verify: true } },
      }),
    );
    const code = await main([
      '--config',
      cfg,
      'dial',
      `sip:transcribe@127.0.0.1:${port}`,
      '--transport',
      'tls',
      '--srtp',
      'required',
      '--wav',
      wav,
    ]);
    expect(code).toBe(0);
    const ended = await until(() => e2e.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
    expect(ended.call.srtp).toBe('AEAD_AES_256_GCM');
    await expectIntactTranscript(e2e);
    const log = readFileSync(join(e2e.dir, 'sipscribe.log'), 'utf8');
    // Our offer lists AEAD_AES_256_GCM first, and our answer takes it.
    expect(log).toMatch(/"srtp":"AEAD_AES_256_GCM"[^\n]*"msg":"call answered"/);
    expect(log).toMatch(/"srtp":"AEAD_AES_256_GCM","srtpAuthFailed":0,"srtpReplayed":0,"msg":"rtp stats"/);
  });
});

describe('a listener with srtp: "required"', () => {
  it('refuses a plain RTP/AVP offer (baresip without mediaenc) with 488 and a Warning 303', async () => {
    const { e2e, port } = await tlsE2e('e2e-srtp-required', 'required');
    const call = await baresipCall(`sip:transcribe@127.0.0.1:${port}`, {
      transport: 'tls',
      wav,
      maxSeconds: 5,
    });
    expect(call.established).toBe(false);
    expect(call.log).toMatch(/SIP\/2\.0 488/);
    expect(call.log).toMatch(/Warning: 303 127\.0\.0\.1 "SRTP required: RTP\/AVP offer refused"/);
    expect(e2e.live.filter((ev) => ev.type === 'call.started')).toEqual([]);
  });
});

interface RawCallResult {
  e2e: E2e;
  /** Packets forged and replayed by the caller. */
  forged: number;
  replayed: number;
  /** SRTP packets from sipscribe that decrypted under the key of its latest answer, or not. */
  decrypted: number;
  undecryptable: number;
  packets: number;
}

/**
 * A raw SIP caller (hand-built requests over UDP, listener `srtp: "optional"`) offering RTP/SAVP
 * with SDES keys, then sending the script as SRTP μ-law in real time from the SDP address. Options:
 * a forged copy before every 10th packet and a replay of every 25th; a re-INVITE with a new key
 * at packet `rekeyAt` (the old key kept for 3 more packets, as a sender whose switch lags).
 */
async function rawSrtpCall(
  name: string,
  opts: { tamper: boolean; rekeyAt?: number },
): Promise<RawCallResult> {
  const sipPort = await freePort();
  const e2e = await startE2e(
    name,
    {
      sip: { listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort, srtp: 'optional' }] },
      // Silence at ptime (not the default keep-alive): what we send is decrypted and counted.
      rtp: { sendBack: 'silence' },
    },
    { webhook: false },
  );
  envs.push(e2e);
  const media = createSocket('udp4');
  await new Promise<void>((r) => media.bind(0, '127.0.0.1', r));
  const suite = srtpSuite('AES_CM_128_HMAC_SHA1_80')!;
  const sip = await peer('127.0.0.1', sipPort);
  const offer = (key: Buffer, version: number): string =>
    [
      'v=0',
      `o=test 1 ${version} IN IP4 127.0.0.1`,
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${media.address().port} RTP/SAVP 0`,
      'a=rtpmap:0 PCMU/8000',
      `a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:${randomBytes(30).toString('base64')}`,
      `a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:${key.toString('base64')}|2^31`,
      'a=ptime:20',
      'a=sendrecv',
      '',
    ].join('\r\n');
  /** Sends an INVITE (CSeq `cseq`) and ACKs its 200; returns the 200 and the key of its answer. */
  const invite = async (cseq: number, key: Buffer, toTag?: string) => {
    const branch = `z9hG4bK-raw-${cseq}`;
    const text = request(sip, sipPort, {
      method: 'INVITE',
      callId: name,
      branch,
      body: offer(key, cseq),
      ...(toTag ? { toTag } : {}),
    }).replace('CSeq: 1 INVITE', `CSeq: ${cseq} INVITE`);
    const before = sip.got.length;
    sip.send(text);
    const ok = await until(
      () => sip.got.slice(before).find((r) => r.status === 200),
      `200 OK to INVITE ${cseq}`,
    );
    const answer = ok.bodyText;
    const crypto = /a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/]{40})\r\n/.exec(answer);
    expect(crypto, answer).not.toBeNull();
    sip.send(
      request(sip, sipPort, {
        method: 'ACK',
        callId: name,
        branch: `${branch}-ack`,
        toTag: ok.toTag,
      }).replace('CSeq: 1 ACK', `CSeq: ${cseq} ACK`),
    );
    return { ok, port: Number(/m=audio (\d+) RTP\/SAVP 0/.exec(answer)?.[1]), key: crypto![1]! };
  };
  let key = randomBytes(30);
  const first = await invite(1, key);
  let theirs = new SrtpContext(suite, Buffer.from(first.key, 'base64'));
  const result = { e2e, forged: 0, replayed: 0, decrypted: 0, undecryptable: 0, packets: 0 };
  media.on('message', (data) => {
    try {
      theirs.unprotectRtp(Uint8Array.from(data));
      result.decrypted++;
    } catch {
      result.undecryptable++;
    }
  });
  const pcm = readWavAtRate(readFileSync(wav), 8000);
  const int16 = Int16Array.from(pcm, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
  let ctx = new SrtpContext(suite, key);
  let lagging: SrtpContext | undefined;
  result.packets = Math.floor(int16.length / 160);
  const start = Date.now();
  for (let i = 0; i < result.packets; i++) {
    if (i === opts.rekeyAt) {
      key = randomBytes(30);
      const re = await invite(2, key, first.ok.toTag);
      expect(re.key).not.toBe(first.key); // both directions rekeyed
      theirs = new SrtpContext(suite, Buffer.from(re.key, 'base64'));
      result.decrypted = result.undecryptable = 0;
      lagging = ctx;
      ctx = new SrtpContext(suite, key);
    }
    const payload = new Uint8Array(160);
    encodeUlaw(int16.subarray(i * 160, i * 160 + 160), payload);
    const rtp = serializeRtp(
      { payloadType: 0, sequenceNumber: 1000 + i, timestamp: i * 160, ssrc: 0xc0ffee },
      payload,
    );
    const sender = lagging && opts.rekeyAt !== undefined && i < opts.rekeyAt + 3 ? lagging : ctx;
    const srtp = sender.protectRtp(rtp);
    if (opts.tamper && i % 10 === 5) {
      const bad = Buffer.from(srtp);
      bad[12 + (i % 160)]! ^= 0x10;
      media.send(bad, first.port, '127.0.0.1');
      result.forged++;
    }
    media.send(srtp, first.port, '127.0.0.1');
    if (opts.tamper && i % 25 === 7) {
      media.send(srtp, first.port, '127.0.0.1');
      result.replayed++;
    }
    // Real-time pacing of the stream (the jitter buffer plays 20 ms per 20 ms).
    const due = start + (i + 1) * 20;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
  }
  sip.send(
    request(sip, sipPort, {
      method: 'BYE',
      callId: name,
      branch: 'z9hG4bK-raw-bye',
      toTag: first.ok.toTag,
    }).replace('CSeq: 1 BYE', 'CSeq: 3 BYE'),
  );
  await until(() => e2e.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
  media.close();
  sip.close();
  return result;
}

/** The transcript of the call of `e2e` is exactly what the fake recognised, and the script's words. */
async function expectIntactTranscript(e2e: E2e): Promise<void> {
  const ended = e2e.live.find((ev) => ev.type === 'call.ended')!;
  const transcript = await getJson<{ text: string }>(`${e2e.base}/api/calls/${ended.callId}/transcript`);
  const expected = wordsSentBy(e2e.fake.admitted[0]!);
  expect(transcript.text).toBe(expected.join(' '));
  expect(isSubsequence(SCRIPT, expected), expected.join(' ')).toBe(true);
}

describe('a raw SRTP caller (hand-built SIP over UDP, listener srtp: "optional")', () => {
  it('tampered and replayed packets are dropped and counted; the genuine audio is transcribed intact; what we send decrypts', async () => {
    const r = await rawSrtpCall('e2e-srtp-tamper', { tamper: true });
    await expectIntactTranscript(r.e2e);
    const metrics = await fetch(`${r.e2e.base}/metrics`).then((res) => res.text());
    expect(metrics).toContain(`sipscribe_rtp_dropped_total{reason="srtp-auth"} ${r.forged}\n`);
    expect(metrics).toContain(`sipscribe_rtp_dropped_total{reason="srtp-replay"} ${r.replayed}\n`);
    expect(r.decrypted).toBeGreaterThan(r.packets / 2);
    expect(r.undecryptable).toBe(0);
  });

  it('a re-INVITE with a new key mid-call rekeys both directions without losing audio', async () => {
    const r = await rawSrtpCall('e2e-srtp-rekey', { tamper: false, rekeyAt: 80 });
    await expectIntactTranscript(r.e2e);
    const metrics = await fetch(`${r.e2e.base}/metrics`).then((res) => res.text());
    expect(metrics).not.toMatch(/sipscribe_rtp_dropped_total\{reason="srtp-/);
    expect(metrics).toMatch(new RegExp(`^sipscribe_rtp_packets_received_total ${r.packets}$`, 'm'));
    // What sipscribe sent after the re-INVITE decrypts under the key of its new answer.
    expect(r.decrypted).toBeGreaterThan(0);
    expect(r.undecryptable).toBeLessThanOrEqual(2); // its packets in flight at the switch
  });
});
