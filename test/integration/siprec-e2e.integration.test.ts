// SIPREC end to end (issue 15): a recording client written here (raw SIP over UDP and TCP, the
// multipart INVITE of RFC 7866's example: the SDP of the SIPp scenario, RFC 7865's metadata) forks
// a call of two participants to sipscribe with `sip.siprec.enabled`: two RTP streams of different
// tone-coded scripts, then BYE. Each participant's words are stored under its channel, with its
// name and address of record in the call's metadata; hold and resume keep them; SIPp's SIPREC
// scenario takes the same path. Malformed metadata gets 400, too few STT slots 503 with
// `whenFull: "reject"`: nothing held. With `defer` (the default) a session that finds the STT full
// is answered, each channel's audio kept and transcribed under its label once a slot frees up;
// beyond `storage.pendingMaxBytes` it gets 503.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect, type Socket as TcpSocket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeUlaw, readWavAtRate } from '../../rtp/index.js';
import { serializeRtp } from '../../rtp/packet/RtpPacket.js';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipResponse } from '../../sip/message/SipMessage.js';
import type { CallEvent } from '../../src/events.js';
import { listPendingRecordings, pendingPath } from '../../src/recording/PendingRecording.js';
import { FIXTURES, runDir } from '../helpers/paths.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import {
  audibleFrames,
  dbRows,
  getJson,
  isSubsequence,
  scriptWav8k,
  startE2e,
  until,
  wordsSentBy,
  type E2e,
} from './e2eHarness.js';

const METADATA = readFileSync(join(FIXTURES, 'siprec', 'rfc7865-complete.xml'), 'utf8');
// Label 96 is sent by Bob, 98 by Paul (RFC 7865's example).
const BOB = ['hello', 'my', 'name', 'is', 'alice'];
const PAUL = ['book', 'an', 'appointment', 'tuesday', 'morning'];

let e2e: E2e;
let bobWav = '';
let paulWav = '';
beforeAll(async () => {
  bobWav = await scriptWav8k(runDir('siprec-e2e-bob'), BOB);
  paulWav = await scriptWav8k(runDir('siprec-e2e-paul'), PAUL);
  e2e = await startE2e('siprec-e2e', { sip: { siprec: { enabled: true } } }, { webhook: false });
}, 60_000);
afterAll(async () => {
  await stopAll();
  await e2e?.close();
});

/** A recording client's signalling: raw SIP over UDP or TCP, every response collected. */
interface Src {
  readonly transport: 'UDP' | 'TCP';
  readonly port: number;
  readonly got: SipResponse[];
  send(text: string): void;
  close(): void;
}

async function src(transport: 'UDP' | 'TCP', sipPort: number): Promise<Src> {
  const got: SipResponse[] = [];
  const take = (data: Buffer): void => {
    const msg = parseMessage(data);
    if (msg.kind === 'response') {
      got.push(msg);
    }
  };
  if (transport === 'UDP') {
    const sock: UdpSocket = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    sock.on('message', take);
    return {
      transport,
      port: sock.address().port,
      got,
      send: (t) => sock.send(Buffer.from(t), sipPort, '127.0.0.1'),
      close: () => sock.close(),
    };
  }
  const sock: TcpSocket = connect(sipPort, '127.0.0.1');
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  // Stream framing: header end, then Content-Length bytes.
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        return;
      }
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString())?.[1] ?? 0);
      if (buf.length < end + 4 + len) {
        return;
      }
      take(buf.subarray(0, end + 4 + len));
      buf = buf.subarray(end + 4 + len);
    }
  });
  return {
    transport,
    port: sock.localPort!,
    got,
    send: (t) => sock.write(t),
    close: () => sock.destroy(),
  };
}

const BOUNDARY = 'foobar';

/** The multipart body of RFC 7866's example INVITE: the SDP of two labelled streams, the metadata. */
function multipart(sdp: string, metadata: string): string {
  return [
    `--${BOUNDARY}`,
    'Content-Type: application/sdp',
    '',
    sdp,
    `--${BOUNDARY}`,
    'Content-Type: application/rs-metadata+xml',
    'Content-Disposition: recording-session',
    '',
    metadata,
    `--${BOUNDARY}--`,
    '',
  ].join('\r\n');
}

/**
 * The SIPp scenario's offer (uac_siprec.xml): label 96 PCMU, label 98 PCMU, both sendonly (label
 * 96 `inactive` with `hold96`, a re-offer of version `version`).
 */
function offer(ports: [number, number], version = 1, hold96 = false): string {
  return [
    'v=0',
    `o=SRC 2890844526 ${version} IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${ports[0]} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=label:96',
    hold96 ? 'a=inactive' : 'a=sendonly',
    `m=audio ${ports[1]} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=label:98',
    'a=sendonly',
  ].join('\r\n');
}

function request(
  c: Src,
  sipPort: number,
  o: {
    method: string;
    callId: string;
    cseq: number;
    toTag?: string;
    body?: string;
    contentType?: string;
    /** An ordinary call (no `Require: siprec`, no `+sip.src`); default a recording session. */
    plain?: boolean;
  },
): string {
  const src = o.plain ? '' : ';+sip.src';
  const body = o.body ?? '';
  const t = c.transport;
  return [
    `${o.method} sip:srs@127.0.0.1:${sipPort};transport=${t.toLowerCase()} SIP/2.0`,
    `Via: SIP/2.0/${t} 127.0.0.1:${c.port};branch=z9hG4bK-${o.callId}-${o.cseq}-${o.method};rport`,
    `From: <sip:src@127.0.0.1>;tag=src-${o.callId}`,
    `To: <sip:srs@127.0.0.1:${sipPort}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} ${o.method}`,
    `Contact: <sip:src@127.0.0.1:${c.port};transport=${t.toLowerCase()}>${src}`,
    'Max-Forwards: 70',
    ...(o.method === 'INVITE' && !o.plain
      ? ['Require: siprec', 'Accept: application/sdp, application/rs-metadata+xml']
      : []),
    ...(body ? [`Content-Type: ${o.contentType ?? `multipart/mixed;boundary=${BOUNDARY}`}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** PCMU packets of an 8 kHz WAV, 20 ms each. */
function packets(wav: string, ssrc: number): Buffer[] {
  const pcm = readWavAtRate(readFileSync(wav), 8000);
  const int16 = Int16Array.from(pcm, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
  const out: Buffer[] = [];
  for (let i = 0; (i + 1) * 160 <= int16.length; i++) {
    const payload = new Uint8Array(160);
    encodeUlaw(int16.subarray(i * 160, i * 160 + 160), payload);
    out.push(
      Buffer.from(serializeRtp({ payloadType: 0, sequenceNumber: i, timestamp: i * 160, ssrc }, payload)),
    );
  }
  return out;
}

/** Sends each stream's packets to its port in real time (20 ms per packet), side by side. */
async function play(
  streams: readonly { sock: UdpSocket; port: number; packets: readonly Buffer[] }[],
): Promise<void> {
  const n = Math.max(...streams.map((x) => x.packets.length));
  const start = Date.now();
  for (let i = 0; i < n; i++) {
    for (const x of streams) {
      const p = x.packets[i];
      if (p) {
        x.sock.send(p, x.port, '127.0.0.1');
      }
    }
    const due = start + (i + 1) * 20;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
  }
}

/** The answer's port for the stream labelled `label`. */
function portOf(answer: string, label: string): number {
  return Number(
    new RegExp(`m=audio (\\d+) RTP/AVP 0\r\n(?:a=[^\r]*\r\n)*?a=label:${label}`).exec(answer)?.[1],
  );
}

async function udp(): Promise<UdpSocket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

/** One recording session: INVITE, ACK, both streams in real time (at once), BYE; its call.ended. */
async function record(transport: 'UDP' | 'TCP', callId: string): Promise<CallEvent> {
  const c = await src(transport, e2e.sipPort);
  const media = [await udp(), await udp()] as const;
  const body = multipart(offer([media[0].address().port, media[1].address().port]), METADATA);
  c.send(request(c, e2e.sipPort, { method: 'INVITE', callId, cseq: 1, body }));
  const ok = await until(() => c.got.find((r) => r.status === 200), '200 OK', 20_000);
  c.send(request(c, e2e.sipPort, { method: 'ACK', callId, cseq: 1, toTag: ok.toTag }));
  const answer = ok.bodyText;
  const port96 = portOf(answer, '96');
  const port98 = portOf(answer, '98');
  expect(port96).toBeGreaterThan(0);
  expect(port98).toBeGreaterThan(0);
  expect(answer.match(/a=recvonly/g)).toHaveLength(2);
  await play([
    { sock: media[0], port: port96, packets: packets(bobWav, 0xb0b) },
    { sock: media[1], port: port98, packets: packets(paulWav, 0x9a01) },
  ]);
  c.send(request(c, e2e.sipPort, { method: 'BYE', callId, cseq: 2, toTag: ok.toTag }));
  await until(() => c.got.find((r) => r.status === 200 && r.get('cseq')?.includes('BYE')), 'BYE 200', 20_000);
  const ended = await until(
    () => e2e.live.find((ev) => ev.type === 'call.ended' && ev.call.sipCallId === callId),
    'call.ended',
    60_000,
  );
  for (const m of media) {
    m.close();
  }
  c.close();
  return ended;
}

/** The stored words of a call's channel, in order. */
function words(callId: string, channel: string): string[] {
  return dbRows<{ text: string }>(
    e2e.storageDir,
    'SELECT text FROM words WHERE call_id = ? AND channel = ? ORDER BY start_ms, seq',
    callId,
    channel,
  ).map((r) => r.text);
}

describe('SIPREC recording sessions end to end (sip.siprec.enabled)', () => {
  it.each(['UDP', 'TCP'] as const)(
    'over %s: two streams become the caller and callee channels, labelled with their participants',
    async (transport) => {
      const callId = `siprec-e2e-${transport}`;
      const admittedBefore = e2e.fake.admitted.length;
      const ended = await record(transport, callId);
      expect(ended.call.recording).toEqual({
        sipSessionId: 'ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2',
        participants: [
          { channel: 'caller', label: '96', aor: 'sip:bob@biloxi.com', name: 'Bob' },
          { channel: 'callee', label: '98', aor: 'sip:Paul@biloxi.com', name: 'Paul' },
        ],
      });
      // The call is found through the API by a participant (any case) or the recorded call's Session-ID.
      const found = async (text: string): Promise<string[]> =>
        (
          await getJson<{ calls: { id: string }[] }>(
            `${e2e.base}/api/calls?recording=${encodeURIComponent(text)}&limit=500`,
          )
        ).calls.map((c) => c.id);
      expect(await found('paul@BILOXI')).toContain(ended.callId);
      expect(await found('ab30317f1a784dc4')).toContain(ended.callId);
      expect(await found('Carol')).toEqual([]);
      // One STT stream per participant; each got its own script (the fake recognises tones).
      const streams = e2e.fake.admitted.slice(admittedBefore);
      expect(streams).toHaveLength(2);
      const heard = streams.map(wordsSentBy);
      const bobHeard = heard.find((w) => isSubsequence(BOB, w));
      const paulHeard = heard.find((w) => isSubsequence(PAUL, w));
      expect(bobHeard, heard.join(' | ')).toBeDefined();
      expect(paulHeard, heard.join(' | ')).toBeDefined();
      // Neither stream carries the other's audio (a word cut by a late packet may be heard as a
      // lower tone, so Paul's stream may show Bob's low words; Bob's can never show Paul's).
      expect(
        bobHeard!.filter((w) => PAUL.includes(w)),
        heard.join(' | '),
      ).toEqual([]);
      // Stored under their channels, with the participants in the record.
      await until(() => words(ended.callId, 'callee').length >= paulHeard!.length, 'stored words');
      expect(words(ended.callId, 'caller')).toEqual(bobHeard);
      expect(words(ended.callId, 'callee')).toEqual(paulHeard);
      const row = dbRows<{ recording: string }>(
        e2e.storageDir,
        'SELECT recording FROM calls WHERE id = ?',
        ended.callId,
      )[0];
      expect(JSON.parse(row!.recording)).toEqual(ended.call.recording);
    },
    90_000,
  );

  it('a stream paused (a=inactive, hold metadata) and resumed: nothing lost, the participants kept, the updates logged', async () => {
    const callId = 'siprec-e2e-hold';
    const hold = readFileSync(join(FIXTURES, 'siprec', 'hold-partial.xml'), 'utf8');
    const resume = readFileSync(join(FIXTURES, 'siprec', 'resume-partial.xml'), 'utf8');
    const c = await src('UDP', e2e.sipPort);
    const media = [await udp(), await udp()] as const;
    const ports: [number, number] = [media[0].address().port, media[1].address().port];
    const admittedBefore = e2e.fake.admitted.length;
    /** An INVITE (CSeq `cseq`) and its ACK; the 200's SDP. */
    const invite = async (
      cseq: number,
      body: string,
      toTag?: string,
    ): Promise<{ toTag: string; sdp: string }> => {
      c.send(request(c, e2e.sipPort, { method: 'INVITE', callId, cseq, body, ...(toTag ? { toTag } : {}) }));
      const ok = await until(
        () => c.got.find((r) => r.status === 200 && r.get('cseq') === `${cseq} INVITE`),
        `200 to INVITE ${cseq}`,
        20_000,
      );
      c.send(request(c, e2e.sipPort, { method: 'ACK', callId, cseq, toTag: ok.toTag }));
      return { toTag: ok.toTag!, sdp: ok.bodyText };
    };
    const first = await invite(1, multipart(offer(ports), METADATA));
    const port96 = portOf(first.sdp, '96');
    const port98 = portOf(first.sdp, '98');
    // Bob is put on hold: his stream inactive; Paul speaks alone.
    const held = await invite(2, multipart(offer(ports, 2, true), hold), first.toTag);
    expect(held.sdp).toMatch(
      /a=inactive\r\n(?:a=[^\r]*\r\n)*?a=label:96|a=label:96\r\n(?:a=[^\r]*\r\n)*?a=inactive/,
    );
    await play([{ sock: media[1], port: port98, packets: packets(paulWav, 0x9a01) }]);
    // Bob is back and speaks.
    await invite(3, multipart(offer(ports, 3), resume), first.toTag);
    await play([{ sock: media[0], port: port96, packets: packets(bobWav, 0xb0b) }]);
    c.send(request(c, e2e.sipPort, { method: 'BYE', callId, cseq: 4, toTag: first.toTag }));
    const ended = await until(
      () => e2e.live.find((ev) => ev.type === 'call.ended' && ev.call.sipCallId === callId),
      'call.ended',
      60_000,
    );
    for (const m of media) {
      m.close();
    }
    c.close();
    expect(ended.type === 'call.ended' && ended.reason).toBe('bye-remote');
    // Bob keeps his channel while on hold.
    expect(ended.call.recording?.participants.map((p) => p.name)).toEqual(['Bob', 'Paul']);
    const heard = e2e.fake.admitted.slice(admittedBefore).map(wordsSentBy);
    const bobHeard = heard.find((w) => isSubsequence(BOB, w))!;
    const paulHeard = heard.find((w) => isSubsequence(PAUL, w))!;
    expect(bobHeard, heard.join(' | ')).toBeDefined();
    expect(paulHeard, heard.join(' | ')).toBeDefined();
    await until(() => words(ended.callId, 'caller').length >= bobHeard.length, 'stored words');
    expect(words(ended.callId, 'caller')).toEqual(bobHeard);
    expect(words(ended.callId, 'callee')).toEqual(paulHeard);
    const log = readFileSync(join(e2e.dir, 'sipscribe.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes(ended.callId))
      .map((l) => JSON.parse(l) as { msg: string; paused?: string[]; resumed?: string[]; channel?: string });
    expect(log.filter((l) => l.msg === 'stream paused').map((l) => l.channel)).toEqual(['caller']);
    expect(log.filter((l) => l.msg === 'stream resumed').map((l) => l.channel)).toEqual(['caller']);
    // The updates as events: Bob's channel paused, then resumed; nobody joined or left.
    const events = e2e.live.flatMap((ev) =>
      ev.callId === ended.callId && ev.type === 'recording.updated'
        ? [[ev.paused, ev.resumed, ev.joined, ev.left]]
        : [],
    );
    expect(events).toEqual([
      [['caller'], [], [], []],
      [[], ['caller'], [], []],
    ]);
    const updates = log.filter((l) => l.msg === 'recording metadata updated');
    expect(updates.map((u) => [u.paused, u.resumed])).toEqual([
      // (Bob sends labels 96 and 97, his audio and his video.)
      [['96', '97'], []],
      [[], ['96', '97']],
    ]);
  }, 90_000);

  it('SIPp as the recording client (test/fixtures/sipp/uac_siprec.xml, TCP): Alice on caller, Bob on callee', async () => {
    const r = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_siprec.xml', {
      transport: 'tcp',
      durationMs: 500,
    });
    expect(r.code, r.output).toBe(0);
    const ended = await until(
      () =>
        e2e.live.find(
          (ev) => ev.type === 'call.ended' && ev.call.recording?.participants[0]?.name === 'Alice',
        ),
      'call.ended of the SIPp session',
      30_000,
    );
    expect(ended.type === 'call.ended' && ended.reason).toBe('bye-remote');
    expect(ended.call.transport).toBe('tcp');
    expect(ended.call.recording).toEqual({
      sipSessionId: 'ab30317f1a784dc48ff824d0d3715d86',
      participants: [
        { channel: 'caller', label: '96', aor: 'sip:alice@atlanta.com', name: 'Alice' },
        { channel: 'callee', label: '98', aor: 'sip:bob@biloxi.com', name: 'Bob' },
      ],
    });
  }, 60_000);

  it('malformed metadata gets 400 with the reason, and leaves no call, port or STT slot held', async () => {
    const c = await src('UDP', e2e.sipPort);
    const callId = 'siprec-e2e-bad-xml';
    const body = multipart(offer([40000, 40002]), '<recording><participant></recording>');
    const callsBefore = dbRows(e2e.storageDir, 'SELECT id FROM calls').length;
    c.send(request(c, e2e.sipPort, { method: 'INVITE', callId, cseq: 1, body }));
    const r = await until(() => c.got.find((x) => x.status >= 300), 'final response', 20_000);
    expect(r.status).toBe(400);
    expect(r.get('warning')).toMatch(/^399 \S+ "metadata is not well-formed XML/);
    c.close();
    expect(dbRows(e2e.storageDir, 'SELECT id FROM calls').length).toBe(callsBefore);
    expect(e2e.fake.usedSlots).toBe(0);
    const refused = await fetch(`${e2e.base}/api/refused`).then(
      (res) => res.json() as Promise<{ refused: { reason: string; status: number }[] }>,
    );
    expect(JSON.stringify(refused)).toContain('bad-metadata');
  });

  // One free STT slot for two streams: refused with whenFull reject, and under defer once the
  // pending audio budget is spent; either way nothing is held or kept.
  it.each([
    ['with whenFull reject', 'siprec-e2e-one-slot', { stt: { whenFull: 'reject' } }, 'stt-full'],
    [
      'under defer with storage.pendingMaxBytes spent',
      'siprec-e2e-pending-full',
      { storage: { pendingMaxBytes: 1 } },
      'pending-full',
    ],
  ] as const)(
    'needs one STT slot per stream: %s, a server with one free slot gets 503 with Retry-After, nothing held or kept',
    async (_what, name, overrides, reason) => {
      const env = await startE2e(
        name,
        { sip: { siprec: { enabled: true } }, ...overrides },
        { webhook: false, live: false, fake: { slots: 1 } },
      );
      try {
        await until(() => env.app.pool.freeSlots() === 1, 'the probe of the one-slot server');
        const c = await src('UDP', env.sipPort);
        const body = multipart(offer([40000, 40002]), METADATA);
        c.send(request(c, env.sipPort, { method: 'INVITE', callId: name, cseq: 1, body }));
        const r = await until(() => c.got.find((x) => x.status >= 300), 'final response', 20_000);
        c.close();
        expect(r.status).toBe(503);
        expect(Number(r.get('retry-after'))).toBeGreaterThan(0);
        expect(dbRows(env.storageDir, 'SELECT id FROM calls')).toEqual([]);
        expect(env.fake.streams).toEqual([]);
        expect(listPendingRecordings(env.storageDir)).toEqual([]);
        expect(
          dbRows<{ reason: string; status: number }>(env.storageDir, 'SELECT reason, status FROM refused'),
        ).toMatchObject([{ reason, status: 503 }]);
      } finally {
        await env.close();
      }
    },
    60_000,
  );

  it('STT full with whenFull defer (the default): answered, both channels kept, each party transcribed under its channel once the slot frees up', async () => {
    const env = await startE2e(
      'siprec-e2e-defer',
      // (The ordinary call holding the slot sends no RTP: no RTP timeout while the test runs.)
      { sip: { siprec: { enabled: true } }, rtp: { timeoutMs: 120_000 } },
      { webhook: false, fake: { slots: 1 } },
    );
    try {
      await until(() => env.app.pool.freeSlots() === 1, 'the probe of the one-slot server');
      const c = await src('UDP', env.sipPort);
      // An ordinary call takes the one slot (at its ACK).
      const holder = 'siprec-e2e-defer-holder';
      const plainSdp = [
        'v=0',
        'o=caller 1 1 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 40010 RTP/AVP 0',
        'a=rtpmap:0 PCMU/8000',
        'a=sendrecv',
        '',
      ].join('\r\n');
      c.send(
        request(c, env.sipPort, {
          method: 'INVITE',
          callId: holder,
          cseq: 1,
          body: plainSdp,
          contentType: 'application/sdp',
          plain: true,
        }),
      );
      const holderOk = await until(
        () => c.got.find((r) => r.status === 200 && r.callId === holder),
        '200 to the ordinary call',
        20_000,
      );
      c.send(
        request(c, env.sipPort, {
          method: 'ACK',
          callId: holder,
          cseq: 1,
          toTag: holderOk.toTag,
          plain: true,
        }),
      );
      await until(
        () => env.fake.usedSlots === 1 && !env.app.pool.canAdmit(),
        'the slot taken by the ordinary call',
      );

      // The recording session: answered although no slot is free, every stream recvonly.
      const callId = 'siprec-e2e-defer';
      const media = [await udp(), await udp()] as const;
      c.send(
        request(c, env.sipPort, {
          method: 'INVITE',
          callId,
          cseq: 1,
          body: multipart(offer([media[0].address().port, media[1].address().port]), METADATA),
        }),
      );
      const ok = await until(
        () => c.got.find((r) => r.status === 200 && r.callId === callId),
        '200 OK',
        20_000,
      );
      c.send(request(c, env.sipPort, { method: 'ACK', callId, cseq: 1, toTag: ok.toTag }));
      expect(ok.bodyText.match(/a=recvonly/g)).toHaveLength(2);
      const started = await until(
        () => env.live.find((ev) => ev.type === 'call.started' && ev.call.sipCallId === callId),
        'call.started',
      );
      expect(started).toMatchObject({ type: 'call.started', deferred: true });
      const id = started.callId;
      const bob = packets(bobWav, 0xb0b);
      const paul = packets(paulWav, 0x9a01);
      await play([
        { sock: media[0], port: portOf(ok.bodyText, '96'), packets: bob },
        { sock: media[1], port: portOf(ok.bodyText, '98'), packets: paul },
      ]);
      c.send(request(c, env.sipPort, { method: 'BYE', callId, cseq: 2, toTag: ok.toTag }));
      await until(
        () =>
          dbRows<{ state: string }>(env.storageDir, 'SELECT state FROM calls WHERE id = ?', id)[0]?.state ===
          'ending',
        'the session to wait for a slot in ending',
      );
      // Hung up, still waiting: each channel's audio on disk (24 kHz PCM16), at least its packets'
      // length and audible for each script's words.
      const kept = [pendingPath(env.storageDir, id), pendingPath(env.storageDir, `${id}.callee`)];
      for (const [file, sent] of [
        [kept[0]!, bob],
        [kept[1]!, paul],
      ] as const) {
        expect(statSync(file).size).toBeGreaterThanOrEqual(44 + sent.length * 20 * 48);
        expect(audibleFrames(readWavAtRate(readFileSync(file), 24_000))).toBeGreaterThan(10);
      }
      const admittedBefore = env.fake.admitted.length;
      expect(admittedBefore).toBe(1); // the ordinary call's stream only

      // The ordinary call ends: its slot goes to the deferred channels, one after the other.
      c.send(
        request(c, env.sipPort, {
          method: 'BYE',
          callId: holder,
          cseq: 2,
          toTag: holderOk.toTag,
          plain: true,
        }),
      );
      const ended = await until(
        () => env.live.find((ev) => ev.type === 'call.ended' && ev.call.sipCallId === callId),
        'call.ended of the deferred session',
        90_000,
      );
      for (const m of media) {
        m.close();
      }
      c.close();
      expect(ended.type === 'call.ended' && ended.reason).toBe('bye-remote');
      expect(ended.call.recording).toEqual({
        sipSessionId: 'ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2',
        participants: [
          { channel: 'caller', label: '96', aor: 'sip:bob@biloxi.com', name: 'Bob' },
          { channel: 'callee', label: '98', aor: 'sip:Paul@biloxi.com', name: 'Paul' },
        ],
      });
      const streams = env.fake.admitted.slice(admittedBefore);
      expect(streams).toHaveLength(2);
      const heard = streams.map(wordsSentBy);
      const bobHeard = heard.find((w) => isSubsequence(BOB, w));
      const paulHeard = heard.find((w) => isSubsequence(PAUL, w));
      expect(bobHeard, heard.join(' | ')).toBeDefined();
      expect(paulHeard, heard.join(' | ')).toBeDefined();
      const stored = (channel: string): string[] =>
        dbRows<{ text: string }>(
          env.storageDir,
          'SELECT text FROM words WHERE call_id = ? AND channel = ? ORDER BY start_ms, seq',
          id,
          channel,
        ).map((r) => r.text);
      await until(
        () => stored('caller').length >= bobHeard!.length && stored('callee').length >= paulHeard!.length,
        'stored words',
      );
      expect(stored('caller')).toEqual(bobHeard);
      expect(stored('callee')).toEqual(paulHeard);
      const row = dbRows<{ recording: string }>(
        env.storageDir,
        'SELECT recording FROM calls WHERE id = ?',
        id,
      )[0];
      expect(JSON.parse(row!.recording)).toEqual(ended.call.recording);
      // The audio goes once the transcript is stored.
      await until(() => kept.every((f) => !existsSync(f)), 'the pending files to go');
    } finally {
      await env.close();
    }
  }, 150_000);
});
