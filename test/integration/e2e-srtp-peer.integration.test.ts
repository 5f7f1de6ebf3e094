// SRTP against a second implementation (issue 13): baresip's srtp module (libre) as the callee of
// a raw SIP caller in this test, which offers one suite at a time with a key of its own. baresip
// answers with its key, so every packet it sends can be checked with our SrtpContext (RTP and the
// SRTCP of its reports and of its hangup), and what we send under our key must play at its end
// (its recording, no decrypt error in its log). Then `sipscribe dial --srtp required` calls
// baresip: AEAD_AES_256_GCM, our first suite, is what it takes. baresip 1.0 offers only
// AES_CM_128_HMAC_SHA1_80 itself, so AES-GCM with baresip is only possible with baresip answering
// (its srtp module answers AEAD_AES_256_GCM, AEAD_AES_128_GCM and both AES-CM suites).
// With SRTP_FIXTURES_WRITE=1 the packets of the first call of each suite are written to
// test/fixtures/srtp-baresip-<suite>.json (read by test/rtp/srtp/SrtpBaresip.test.ts).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeUlaw } from '../../rtp/codec/g711.js';
import { encodeUlaw, readWavAtRate } from '../../rtp/index.js';
import { serializeRtp } from '../../rtp/packet/RtpPacket.js';
import { SrtpContext } from '../../rtp/srtp/SrtpContext.js';
import { srtpSuite, type SrtpSuiteName } from '../../rtp/srtp/suites.js';
import { baresipUa, wavSeconds } from '../helpers/baresip.js';
import { FIXTURES, runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { readFileSync } from 'node:fs';
import { scriptWav8k, until } from './e2eHarness.js';
import { main } from '../../src/cli.js';
import { peer, request } from './sipPeer.js';

const SCRIPT = ['my', 'name', 'is', 'alice'];
let wav = '';
beforeAll(async () => {
  wav = await scriptWav8k(runDir('e2e-srtp-peer-audio'), SCRIPT);
});
afterAll(async () => {
  await stopAll();
});

async function bindPair(): Promise<{ rtp: Socket; rtcp: Socket; port: number }> {
  for (;;) {
    const port = await freePort('127.0.0.1', 2);
    const rtp = createSocket('udp4');
    const rtcp = createSocket('udp4');
    try {
      await new Promise<void>((res, rej) => rtp.once('error', rej).bind(port, '127.0.0.1', () => res()));
      await new Promise<void>((res, rej) => rtcp.once('error', rej).bind(port + 1, '127.0.0.1', () => res()));
      return { rtp, rtcp, port };
    } catch {
      rtp.close();
      rtcp.close();
    }
  }
}

/** Mean absolute sample of μ-law payloads: the fox clip is far from digital silence. */
function loudness(payloads: readonly Uint8Array[]): number {
  let sum = 0;
  let n = 0;
  const pcm = new Int16Array(160);
  for (const p of payloads) {
    const k = decodeUlaw(p, pcm);
    for (let i = 0; i < k; i++) {
      sum += Math.abs(pcm[i]!);
    }
    n += k;
  }
  return n === 0 ? 0 : sum / n;
}

/** A datagram that is a whole RTCP compound packet in clear (its length fields add up to it). */
function isPlainRtcp(b: Uint8Array): boolean {
  let pos = 0;
  while (pos + 4 <= b.length && b[pos]! >> 6 === 2) {
    pos += 4 * (((b[pos + 2]! << 8) | b[pos + 3]!) + 1);
  }
  return pos === b.length;
}

interface PeerCall {
  baresipLog: string;
  receivedSeconds: number;
  rtp: Buffer[];
  rtcp: Buffer[];
  rtcpAfterBye: Buffer[];
  /** baresip's inline key (its answer). */
  key: string;
}

async function callBaresip(suiteName: SrtpSuiteName): Promise<PeerCall> {
  const suite = srtpSuite(suiteName)!;
  const ua = await baresipUa(undefined, { mediaenc: 'srtp-mand', user: 'transcribe', codecs: 'pcmu' });
  const media = await bindPair();
  const rtp: Buffer[] = [];
  const rtcp: Buffer[] = [];
  media.rtp.on('message', (d) => rtp.push(Buffer.from(d)));
  media.rtcp.on('message', (d) => rtcp.push(Buffer.from(d)));
  const sip = await peer('127.0.0.1', ua.sipPort);
  const ourKey = randomBytes(suite.keyLength + suite.saltLength);
  const callId = `srtp-peer-${suiteName}-${Date.now()}`;
  const sdp = [
    'v=0',
    'o=test 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${media.port} RTP/SAVP 0`,
    'a=rtpmap:0 PCMU/8000',
    `a=crypto:1 ${suiteName} inline:${ourKey.toString('base64')}`,
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
  sip.send(request(sip, ua.sipPort, { method: 'INVITE', callId, branch: 'z9hG4bK-peer-1', body: sdp }));
  const ok = await until(() => sip.got.find((r) => r.status === 200), '200 OK from baresip');
  const answer = ok.bodyText;
  const crypto = new RegExp(`a=crypto:1 ${suiteName} inline:([A-Za-z0-9+/=]+)`).exec(answer);
  expect(crypto, answer).not.toBeNull();
  const port = Number(/m=audio (\d+) RTP\/SAVP/.exec(answer)?.[1]);
  sip.send(request(sip, ua.sipPort, { method: 'ACK', callId, branch: 'z9hG4bK-peer-ack', toTag: ok.toTag }));
  // Our audio, SRTP under our key, paced in real time.
  const tx = new SrtpContext(suite, ourKey);
  const pcm = readWavAtRate(readFileSync(wav), 8000);
  const int16 = Int16Array.from(pcm, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
  const packets = Math.floor(int16.length / 160);
  const start = Date.now();
  for (let i = 0; i < packets; i++) {
    const payload = new Uint8Array(160);
    encodeUlaw(int16.subarray(i * 160, i * 160 + 160), payload);
    const packet = serializeRtp(
      { payloadType: 0, sequenceNumber: 4000 + i, timestamp: i * 160, ssrc: 0x5eed },
      payload,
    );
    media.rtp.send(tx.protectRtp(packet), port, '127.0.0.1');
    const due = start + (i + 1) * 20;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
  }
  const rtcpBeforeBye = rtcp.length;
  const before = sip.got.length;
  sip.send(
    request(sip, ua.sipPort, { method: 'BYE', callId, branch: 'z9hG4bK-peer-bye', toTag: ok.toTag }).replace(
      'CSeq: 1 BYE',
      'CSeq: 2 BYE',
    ),
  );
  await until(() => sip.got.slice(before).find((r) => r.status === 200), '200 OK to BYE');
  // baresip closes its recording when the call is gone.
  await until(() => /terminated|closed/i.test(ua.log()) || undefined, 'baresip call end', 10_000).catch(
    () => undefined,
  );
  await ua.stop();
  const log = ua.log();
  const rec = ua.received()[0];
  media.rtp.close();
  media.rtcp.close();
  sip.close();
  return {
    baresipLog: log,
    receivedSeconds: rec ? wavSeconds(rec) : 0,
    rtp,
    rtcp: rtcp.slice(0, rtcpBeforeBye),
    rtcpAfterBye: rtcp.slice(rtcpBeforeBye),
    key: crypto![1]!,
  };
}

describe('sipscribe dial --srtp required calling baresip', () => {
  it('negotiates AEAD_AES_256_GCM (our first suite) and baresip plays our audio', async () => {
    const ua = await baresipUa(undefined, { mediaenc: 'srtp-mand', user: 'transcribe', codecs: 'pcmu' });
    const rtpMin = await freePort('127.0.0.1', 16);
    const cfg = join(runDir('e2e-srtp-peer-dial'), 'dial.json');
    writeFileSync(cfg, JSON.stringify({ rtp: { host: '127.0.0.1', portMin: rtpMin, portMax: rtpMin + 15 } }));
    const code = await main([
      '--config',
      cfg,
      'dial',
      `sip:transcribe@127.0.0.1:${ua.sipPort}`,
      '--srtp',
      'required',
      '--wav',
      wav,
      '--tail',
      '0',
    ]);
    expect(code).toBe(0);
    await until(() => ua.received()[0], 'baresip recording');
    await ua.stop();
    const log = ua.log();
    expect(log).toMatch(/a=crypto:1 AEAD_AES_256_GCM inline:[A-Za-z0-9+/]{59}=/);
    expect(log).toContain('SRTP is Enabled (cryptosuite=AEAD_AES_256_GCM)');
    expect(log).not.toMatch(/failed to decrypt/);
    expect(wavSeconds(ua.received()[0]!), log.slice(-2000)).toBeGreaterThan(1);
  });
});

describe.each(['AEAD_AES_256_GCM', 'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80'] as const)(
  'baresip answering %s',
  (suiteName) => {
    it('its SRTP and SRTCP authenticate and decrypt with our context; ours plays at its end', async () => {
      const call = await callBaresip(suiteName);
      const suite = srtpSuite(suiteName)!;
      expect(call.baresipLog).toContain(`SRTP is Enabled (cryptosuite=${suiteName})`);
      expect(call.baresipLog).not.toMatch(/failed to decrypt/);
      expect(call.receivedSeconds, call.baresipLog.slice(-2000)).toBeGreaterThan(1);
      const rx = new SrtpContext(suite, Buffer.from(call.key, 'base64'));
      const payloads = call.rtp.map((p) => Buffer.from(rx.unprotectRtp(Buffer.from(p))).subarray(12));
      expect(payloads.length).toBeGreaterThan(100);
      expect(loudness(payloads)).toBeGreaterThan(100);
      // Its SRTCP reports authenticate and decrypt; what it sends unprotected (an APP "PING" before
      // SRTP is on, the BYE + SDES at its hangup, after SRTP is off) is refused, as RFC 3711 §3.4 wants.
      let srtcp = 0;
      for (const p of [...call.rtcp, ...call.rtcpAfterBye]) {
        try {
          const out = rx.unprotectRtcp(Buffer.from(p));
          expect(isPlainRtcp(out), p.toString('hex')).toBe(true);
          srtcp++;
        } catch (err) {
          expect(isPlainRtcp(p), `${(err as Error).message}: ${p.toString('hex')}`).toBe(true);
        }
      }
      expect(srtcp).toBeGreaterThan(0);
      if (process.env['SRTP_FIXTURES_WRITE']) {
        writeFileSync(
          join(FIXTURES, `srtp-baresip-${suiteName}.json`),
          JSON.stringify(
            {
              source:
                'baresip 1.0.0 (libre srtp) answering a raw SDES offer on loopback: test/integration/e2e-srtp-peer',
              suite: suiteName,
              key: call.key,
              rtp: call.rtp.slice(0, 12).map((p) => p.toString('hex')),
              rtcp: call.rtcp.map((p) => p.toString('hex')),
              rtcpAfterBye: call.rtcpAfterBye.map((p) => p.toString('hex')),
            },
            null,
            2,
          ) + '\n',
        );
      }
    });
  },
);
