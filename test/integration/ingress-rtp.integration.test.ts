// End to end for plain RTP from Asterisk ARI `externalMedia` (`encapsulation=rtp`, `transport=udp`,
// `format=ulaw`), with a sender written here from the public descriptions (Asterisk does not run
// here): docs.asterisk.org "External Media and ARI" (one channel sends RTP to `external_host` from
// its own local port, in the format asked, no negotiation) and RFC 3550 §5.1 / RFC 3551 (12-byte
// header, version 2, PT 0 = PCMU at 8 kHz, 20 ms = 160 samples per packet, sequence +1, timestamp
// +160, one SSRC per stream). The µ-law bytes are sox's G.711 encoding of the fake moshi-server's
// tone "speech"; the words must be those the fake sent for the audio it got.
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { isSubsequence, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';
import { channelWords, endedIngressCall, script } from './ingressClients.js';

const CALLER = ['hello', 'alice', 'tuesday', 'morning'];
const CALLEE = ['thank', 'you', 'goodbye'];
const TIMEOUT_MS = 1500;

let e2e: E2e;
let rtpPort = 0;
let callerUlaw: Buffer = Buffer.alloc(0);
let calleeUlaw: Buffer = Buffer.alloc(0);

beforeAll(async () => {
  callerUlaw = (await script('ingress-rtp-caller', CALLER)).ulaw;
  calleeUlaw = (await script('ingress-rtp-callee', CALLEE)).ulaw;
  rtpPort = await freePort();
  e2e = await startE2e(
    'ingress-rtp',
    {
      rtp: { timeoutMs: TIMEOUT_MS },
      ingress: { rtp: { enabled: true, host: '127.0.0.1', port: rtpPort, allowFrom: ['127.0.0.1/32'] } },
    },
    { webhook: false, fake: { slots: 8 } },
  );
}, 120_000);

afterAll(async () => {
  await e2e?.close();
  await stopAll();
});

/** A UDP socket as an `externalMedia` channel's: its own local port on `address`. */
async function channelSocket(address = '127.0.0.1'): Promise<{ socket: Socket; received: Buffer[] }> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m: Buffer) => received.push(m));
  await new Promise<void>((r) => socket.bind(0, address, r));
  return { socket, received };
}

function rtpPacket(seq: number, ts: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80; // V=2, no padding, no extension, no CSRC
  h[1] = (marker ? 0x80 : 0) | 0; // PT 0: PCMU
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}

/**
 * Sends `ulaw` as Asterisk's channel does: 160 bytes every 20 ms, each packet at its due time;
 * `extra` datagrams (by packet index) go out just before that packet. Resolves after the last.
 */
function sendPaced(
  s: Socket,
  ulaw: Buffer,
  ssrc: number,
  extra: Map<number, Buffer> = new Map(),
): Promise<void> {
  const packets: Buffer[] = [];
  let seq = 4711;
  let ts = 123_456;
  for (let pos = 0; pos < ulaw.length; pos += 160) {
    const payload = Buffer.alloc(160, 0xff); // µ-law silence pads the last packet
    ulaw.copy(payload, 0, pos, Math.min(ulaw.length, pos + 160));
    packets.push(rtpPacket(seq++, ts, ssrc, payload, pos === 0));
    ts += 160;
  }
  const t0 = performance.now();
  return new Promise((resolve) => {
    let i = 0;
    const next = (): void => {
      while (i < packets.length && performance.now() >= t0 + i * 20) {
        const x = extra.get(i);
        if (x) {
          s.send(x, rtpPort, '127.0.0.1');
        }
        s.send(packets[i]!, rtpPort, '127.0.0.1');
        i++;
      }
      if (i === packets.length) {
        resolve();
        return;
      }
      setTimeout(next, Math.max(0, t0 + i * 20 - performance.now()));
    };
    next();
  });
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${e2e.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

const REFUSED = (reason: string): string =>
  `sipscribe_ingress_refused_total{source="rtp",reason="${reason}"}`;

describe('Asterisk ARI externalMedia (plain RTP)', () => {
  it('a channel sending µ-law is one call, ended by the RTP timeout, with the words the STT sent', async () => {
    const before = e2e.fake.admitted.length;
    const { socket, received } = await channelSocket();
    const key = `127.0.0.1:${socket.address().port}`;
    await sendPaced(socket, callerUlaw, 0x1234_5678);
    // Nothing more: plain RTP has no hangup, the call ends after rtp.timeoutMs of silence.
    const call = await endedIngressCall(e2e, key, 60_000);
    socket.close();
    expect(call.call.ingress).toBe('rtp');
    expect(call.endReason).toBe('rtp-timeout');
    await e2e.app.endpoint.bus.flush();
    const streams = e2e.fake.admitted.slice(before);
    expect(streams).toHaveLength(1);
    const words = channelWords(e2e, call.id, 'caller');
    expect(words).toEqual(wordsSentBy(streams[0]!));
    expect(isSubsequence(CALLER, words), words.join(' ')).toBe(true);
    // Nothing is sent back to Asterisk (no RTP, no RTCP).
    expect(received).toHaveLength(0);
    expect(await metric('sipscribe_ingress_streams_total{source="rtp"}')).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('two channels at once are two calls; malformed datagrams among them are counted and dropped', async () => {
    const a = await channelSocket();
    const b = await channelSocket();
    const keyA = `127.0.0.1:${a.socket.address().port}`;
    const keyB = `127.0.0.1:${b.socket.address().port}`;
    const malformedBefore = await metric(REFUSED('malformed'));
    const junk = new Map<number, Buffer>([
      [10, Buffer.from([0x80, 0x00, 0x01])], // shorter than an RTP header
      [30, Buffer.alloc(172, 0x41)], // version 1
      [50, Buffer.alloc(0)], // empty
    ]);
    await Promise.all([
      sendPaced(a.socket, callerUlaw, 0xaaaa_0001, junk),
      sendPaced(b.socket, calleeUlaw, 0xbbbb_0002),
    ]);
    const [ca, cb] = await Promise.all([
      endedIngressCall(e2e, keyA, 60_000),
      endedIngressCall(e2e, keyB, 60_000),
    ]);
    a.socket.close();
    b.socket.close();
    expect(ca.id).not.toBe(cb.id);
    expect(await metric(REFUSED('malformed'))).toBe(malformedBefore + 3);
    await e2e.app.endpoint.bus.flush();
    const wa = channelWords(e2e, ca.id, 'caller');
    const wb = channelWords(e2e, cb.id, 'caller');
    expect(isSubsequence(CALLER, wa), wa.join(' ')).toBe(true);
    expect(isSubsequence(CALLEE, wb), wb.join(' ')).toBe(true);
  }, 90_000);

  it('a source outside allowFrom makes no call, counted as not-allowed', async () => {
    // 127.0.0.2 is loopback on Linux, but outside allowFrom (127.0.0.1/32).
    const { socket } = await channelSocket('127.0.0.2');
    const key = `127.0.0.2:${socket.address().port}`;
    const before = await metric(REFUSED('not-allowed'));
    const started = e2e.fake.admitted.length;
    socket.send(rtpPacket(1, 160, 0x0bad_0bad, callerUlaw.subarray(0, 160)), rtpPort, '127.0.0.1');
    await until(async () => (await metric(REFUSED('not-allowed'))) > before, 'the refusal to be counted');
    socket.close();
    const { calls } = (await (await fetch(`${e2e.base}/api/calls`)).json()) as {
      calls: { call: { sipCallId: string } }[];
    };
    expect(calls.some((c) => c.call.sipCallId === key)).toBe(false);
    expect(e2e.fake.admitted.length).toBe(started);
    expect(e2e.app.ingress.calls.size).toBe(0);
  });
});
