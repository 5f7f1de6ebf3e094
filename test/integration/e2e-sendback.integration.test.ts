// `rtp.sendBack` end to end (issue 16): a raw SIP caller over UDP sends PCMU from its own media
// socket for 3 s; what sipscribe sends back to that socket is counted (RTP told from RTCP by the
// payload type byte), and the direction of its SDP answer is read.
import { createSocket } from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { serializeRtp } from '../../rtp/packet/RtpPacket.js';
import { startE2e, until, type E2e } from './e2eHarness.js';
import { peer, request } from './sipPeer.js';

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
});

const PACKETS = 150;

async function call(
  name: string,
  rtp: Record<string, unknown>,
): Promise<{ direction: string; rtp: { marker: boolean; ts: number; length: number }[] }> {
  const e2e = await startE2e(name, { rtp }, { webhook: false });
  envs.push(e2e);
  const media = createSocket('udp4');
  await new Promise<void>((r) => media.bind(0, '127.0.0.1', r));
  const back: { marker: boolean; ts: number; length: number }[] = [];
  media.on('message', (d) => {
    // PCMU RTP has payload type 0 (RTCP's packet types 200–204 never mask to 0).
    if ((d[1]! & 0x7f) === 0) {
      back.push({ marker: (d[1]! & 0x80) !== 0, ts: d.readUInt32BE(4), length: d.length });
    }
  });
  const sip = await peer('127.0.0.1', e2e.sipPort);
  const sdp = [
    'v=0',
    'o=test 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${media.address().port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
  sip.send(request(sip, e2e.sipPort, { method: 'INVITE', callId: name, branch: 'z9hG4bK-sb-1', body: sdp }));
  const ok = await until(() => sip.got.find((r) => r.status === 200), '200 OK');
  sip.send(
    request(sip, e2e.sipPort, { method: 'ACK', callId: name, branch: 'z9hG4bK-sb-ack', toTag: ok.toTag }),
  );
  const answer = ok.bodyText;
  const port = Number(/m=audio (\d+) RTP\/AVP/.exec(answer)?.[1]);
  const start = Date.now();
  for (let i = 0; i < PACKETS; i++) {
    const pkt = serializeRtp(
      { payloadType: 0, sequenceNumber: i, timestamp: i * 160, ssrc: 0x5eb0 },
      new Uint8Array(160).fill(0xff),
    );
    media.send(pkt, port, '127.0.0.1');
    // Real-time pacing of the stream.
    const due = start + (i + 1) * 20;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
  }
  sip.send(
    request(sip, e2e.sipPort, {
      method: 'BYE',
      callId: name,
      branch: 'z9hG4bK-sb-bye',
      toTag: ok.toTag,
    }).replace('CSeq: 1 BYE', 'CSeq: 2 BYE'),
  );
  await until(() => e2e.live.find((ev) => ev.type === 'call.ended'), 'call.ended');
  media.close();
  sip.close();
  return { direction: /a=(sendrecv|sendonly|recvonly|inactive)/.exec(answer)?.[1] ?? '', rtp: back };
}

describe('rtp.sendBack with a raw caller (3 s of PCMU)', () => {
  it('keepalive (default): sendrecv answered, one 20 ms silence packet per second, each a talkspurt start', async () => {
    const r = await call('e2e-sendback-keepalive', {});
    expect(r.direction).toBe('sendrecv');
    // At 0, 1, 2 (and maybe 3) s of a call of about 3 s.
    expect(r.rtp.length).toBeGreaterThanOrEqual(3);
    expect(r.rtp.length).toBeLessThanOrEqual(5);
    expect(r.rtp.every((p) => p.marker && p.length === 172)).toBe(true);
    // Timestamps count call time: 8000 samples (1 s at 8 kHz) apart.
    expect(r.rtp.slice(1).map((p, i) => (p.ts - r.rtp[i]!.ts) >>> 0)).toEqual(r.rtp.slice(1).map(() => 8000));
  });

  it('silence: 50 packets per second', async () => {
    const r = await call('e2e-sendback-silence', { sendBack: 'silence' });
    expect(r.direction).toBe('sendrecv');
    expect(r.rtp.length).toBeGreaterThan(PACKETS * 0.8);
  });

  it('none: answered recvonly, no RTP back', async () => {
    const r = await call('e2e-sendback-none', { sendBack: 'none' });
    expect(r.direction).toBe('recvonly');
    expect(r.rtp).toHaveLength(0);
  });
});
