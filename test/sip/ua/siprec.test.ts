/**
 * SIPREC recording sessions through the stack (RFC 7866): recognised by `Require: siprec` or a
 * `+sip.src` Contact when the stack is a recorder, the multipart body split into the SDP offer
 * and the metadata, every audio stream answered `a=recvonly` on its own port, updates of streams
 * and metadata in re-INVITE/UPDATE surfaced as `recordingUpdated`, malformed bodies refused 400.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type {
  IncomingCall,
  LocalMedia,
  OfferedStream,
  RecordingSession,
  RecordingUpdate,
  RefusalReason,
} from '../../../sip/index.js';
import { FIXTURES } from '../../helpers/paths.js';
import { callerRequest, memoryStack, SIPP_OFFER, type MemoryStack } from '../support/memoryStack.js';

const fixture = (name: string): string => readFileSync(join(FIXTURES, 'siprec', name), 'utf8');
const OFFER = fixture('rfc7866-offer.sdp').replace(/\r?\n/g, '\r\n');
const METADATA = fixture('rfc7865-complete.xml');
const HOLD = fixture('hold-partial.xml');
const LOCALS: LocalMedia[] = [
  { address: '127.0.0.1', port: 30000 },
  { address: '127.0.0.1', port: 30002 },
];
const SIPREC = ['Require: siprec'];

/** A multipart/mixed body of an SDP part and a metadata part (RFC 7866). */
function multipart(sdp: string, xml: string, boundary = 'foobar'): string {
  return [
    `--${boundary}`,
    'Content-Type: application/sdp',
    '',
    sdp,
    `--${boundary}`,
    'Content-Type: application/rs-metadata+xml',
    'Content-Disposition: recording-session',
    '',
    xml,
    `--${boundary}--`,
    '',
  ].join('\r\n');
}
const MULTIPART = 'multipart/mixed;boundary=foobar';

function recorder(onInvite: (call: IncomingCall) => void = () => undefined): MemoryStack & {
  refused: [number, RefusalReason][];
} {
  const refused: [number, RefusalReason][] = [];
  const ms = memoryStack(onInvite, { siprec: true }, { onRefused: (_c, s, r) => refused.push([s, r]) });
  return Object.assign(ms, { refused });
}

/** Sets up a recording session answered on LOCALS, ACKed; returns the call and the To tag. */
async function recording(): Promise<{
  ms: MemoryStack;
  call: IncomingCall;
  toTag: string;
  updates: RecordingUpdate[];
}> {
  const ms = recorder();
  ms.send(callerRequest({ headers: SIPREC, body: multipart(OFFER, METADATA), contentType: MULTIPART }));
  const call = ms.calls[0];
  if (!call) {
    throw new Error('no call');
  }
  await call.answerRecording(LOCALS);
  const toTag = ms.responses().find((r) => r.status === 200)?.toTag ?? '';
  ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag }));
  const updates: RecordingUpdate[] = [];
  call.on('recordingUpdated', (u) => updates.push(u));

  return { ms, call, toTag, updates };
}

describe('a recording session (RFC 7866) when the stack is a recorder', () => {
  it('is recognised by Require: siprec; its streams and metadata reach onInvite', () => {
    const ms = recorder();
    ms.send(callerRequest({ headers: SIPREC, body: multipart(OFFER, METADATA), contentType: MULTIPART }));
    const rec: RecordingSession | undefined = ms.calls[0]?.recording;
    expect(rec?.streams.map((s) => [s.label, s.media.port, s.media.codec])).toEqual([
      ['96', 49170, 'PCMU'],
      ['98', 51372, 'PCMU'],
    ]);
    expect(rec?.metadataXml).toBe(METADATA);
    expect(ms.calls[0]?.offer?.port).toBe(49170);
  });

  it('is recognised by a +sip.src Contact without Require', () => {
    const ms = recorder();
    const invite = callerRequest({ body: multipart(OFFER, METADATA), contentType: MULTIPART }).replace(
      'Contact: <sip:sipp@127.0.0.1:5070>',
      'Contact: <sip:sipp@127.0.0.1:5070>;+sip.src',
    );
    ms.send(invite);
    expect(ms.calls[0]?.recording?.streams).toHaveLength(2);
  });

  it('answerRecording: 200 with one recvonly m-line per stream, labels kept, video refused, Contact +sip.srs', async () => {
    const ms = recorder();
    ms.send(callerRequest({ headers: SIPREC, body: multipart(OFFER, METADATA), contentType: MULTIPART }));
    const streams: OfferedStream[] | undefined = await ms.calls[0]?.answerRecording(LOCALS);
    expect(streams?.map((s) => s.label)).toEqual(['96', '98']);
    const ok = ms.responses().find((r) => r.status === 200);
    expect(ok?.get('content-type')).toBe('application/sdp');
    const m = ok?.bodyText.split('\r\n').filter((l) => /^m=|^a=(recvonly|label)/.test(l));
    expect(m).toEqual([
      'm=audio 30000 RTP/AVP 0',
      'a=recvonly',
      'a=label:96',
      'm=video 0 RTP/AVPF 96',
      'm=audio 30002 RTP/AVP 0',
      'a=recvonly',
      'a=label:98',
      'm=video 0 RTP/AVPF 96',
    ]);
    expect(ok?.get('contact')).toMatch(/^<sip:sipscribe@[^>]+>;\+sip\.srs$/);
    expect(ok?.get('supported')).toBe('timer, siprec');
  });

  it("takes RFC 7866's media type application/rs-metadata too (RFC 9806 corrected it to +xml)", () => {
    const ms = recorder();
    const body = multipart(OFFER, METADATA).replace('application/rs-metadata+xml', 'application/rs-metadata');
    ms.send(callerRequest({ headers: SIPREC, body, contentType: MULTIPART }));
    expect(ms.calls[0]?.recording?.metadataXml).toBe(METADATA);
  });

  it('a multipart body without an SDP part: metadata kept, answerRecording refuses it 400 (a recorder needs the offer)', async () => {
    const ms = recorder();
    const body = ['--b', 'Content-Type: application/rs-metadata+xml', '', METADATA, '--b--', ''].join('\r\n');
    ms.send(callerRequest({ headers: SIPREC, body, contentType: 'multipart/mixed;boundary=b' }));
    const call = ms.calls[0];
    expect([call?.hasOffer, call?.recording?.metadataXml, call?.recording?.streams]).toEqual([
      false,
      METADATA,
      [],
    ]);
    await expect(call?.answerRecording(LOCALS)).rejects.toThrow(/needs the SDP offer/);
    expect(ms.responses().map((r) => r.status)).toEqual([100, 400]);
  });

  it('a plain SDP INVITE is no recording session and is answered as before', async () => {
    const ms = recorder();
    ms.send(callerRequest({ body: SIPP_OFFER }));
    const call = ms.calls[0];
    expect(call?.recording).toBeUndefined();
    await call?.answer(LOCALS[0] ?? { address: '', port: 0 });
    const ok = ms.responses().find((r) => r.status === 200);
    expect(ok?.get('contact')).not.toMatch(/sip\.srs/);
  });

  it.each([
    ['no close delimiter', multipart(OFFER, METADATA).replace('--foobar--', ''), /no close delimiter/],
    ['no boundary match', multipart(OFFER, METADATA, 'other'), /no delimiter line/],
    [
      'two SDP parts',
      multipart(OFFER, METADATA).replace('application/rs-metadata+xml', 'application/sdp'),
      /more than one SDP/,
    ],
    [
      'a garbage part header',
      multipart(OFFER, METADATA).replace('Content-Disposition: recording-session\r\n', 'garbage\r\n'),
      /not a header field/,
    ],
  ])(
    'a malformed multipart body (%s) → 400 Bad Multipart Body with a Warning; reported, counted',
    (_w, body, why) => {
      const ms = recorder();
      ms.send(callerRequest({ headers: SIPREC, body, contentType: MULTIPART }));
      const [trying, res] = ms.responses();
      expect([trying?.status, res?.status, res?.reason]).toEqual([100, 400, 'Bad Multipart Body']);
      expect(res?.get('warning')).toMatch(/^399 127\.0\.0\.1 "multipart body: [^"]*"$/);
      expect(res?.get('warning')).toMatch(why);
      expect(ms.calls).toEqual([]);
      expect(ms.refused).toEqual([[400, 'bad-sdp']]);
      expect(ms.stack.counters.malformedRejected).toBe(1);
    },
  );
});

describe('OPTIONS to a recorder', () => {
  it('says siprec is supported and multipart/mixed and metadata bodies are accepted', () => {
    const ms = recorder();
    ms.send(callerRequest({ method: 'OPTIONS', headers: SIPREC }));
    const ok = ms.responses()[0];
    expect(ok?.status).toBe(200);
    expect(ok?.get('supported')).toBe('timer, siprec');
    expect(ok?.get('accept')).toBe(
      'application/sdp, multipart/mixed, application/rs-metadata+xml, application/rs-metadata',
    );
  });
});

describe('without the siprec option (the default)', () => {
  it('Require: siprec is answered 420 Unsupported, a multipart body 415 with Accept', () => {
    const ms = memoryStack();
    ms.send(callerRequest({ headers: SIPREC, body: SIPP_OFFER }));
    const r420 = ms.responses()[0];
    expect([r420?.status, r420?.get('unsupported')]).toEqual([420, 'siprec']);
    ms.send(
      callerRequest({
        body: multipart(OFFER, METADATA),
        contentType: MULTIPART,
        callId: 'b',
        branch: 'z9hG4bK-b',
      }),
    );
    const r415 = ms.responses()[0];
    expect([r415?.status, r415?.get('accept')]).toEqual([415, 'application/sdp']);
  });
});

describe('updates of a recording session (re-INVITE / UPDATE)', () => {
  it('a re-INVITE pausing a stream (a=inactive) with new metadata: answered inactive, one recordingUpdated', async () => {
    const { ms, toTag, updates, call } = await recording();
    const paused = OFFER.replace(/(m=audio 51372[^]*?)a=sendonly/, '$1a=inactive');
    ms.send(
      callerRequest({
        cseq: 2,
        toTag,
        headers: SIPREC,
        body: multipart(paused, HOLD),
        contentType: MULTIPART,
      }),
    );
    const ok = ms.responses().find((r) => r.status === 200);
    expect(ok?.bodyText.split('\r\n').filter((l) => /^a=(recvonly|inactive)$/.test(l))).toEqual([
      'a=recvonly',
      'a=inactive',
    ]);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.streamsChanged).toBe(true);
    expect(updates[0]?.metadataChanged).toBe(true);
    expect(updates[0]?.metadataXml).toBe(HOLD);
    expect(updates[0]?.streams.map((s) => [s.label, s.media.direction])).toEqual([
      ['96', 'sendonly'],
      ['98', 'inactive'],
    ]);
    expect(call.recording?.metadataXml).toBe(HOLD);
  });

  it('an UPDATE with only metadata: 200 without a body, recordingUpdated with metadataChanged only', async () => {
    const { ms, toTag, updates } = await recording();
    ms.send(
      callerRequest({
        method: 'UPDATE',
        cseq: 2,
        toTag,
        body: HOLD,
        contentType: 'application/rs-metadata+xml',
      }),
    );
    const ok = ms.responses().find((r) => r.status === 200);
    expect(ok?.body.length).toBe(0);
    expect(updates.map((u) => [u.streamsChanged, u.metadataChanged])).toEqual([[false, true]]);
  });

  it('a session refresh repeating the same SDP and metadata emits nothing', async () => {
    const { ms, toTag, updates } = await recording();
    ms.send(
      callerRequest({
        cseq: 2,
        toTag,
        headers: SIPREC,
        body: multipart(OFFER, METADATA),
        contentType: MULTIPART,
      }),
    );
    expect(ms.responses().map((r) => r.status)).toContain(200);
    expect(updates).toEqual([]);
  });

  it('a re-INVITE with a malformed multipart body → 400, nothing changes', async () => {
    const { ms, toTag, updates, call } = await recording();
    ms.send(
      callerRequest({
        cseq: 2,
        toTag,
        body: multipart(OFFER, HOLD).replace('--foobar--', ''),
        contentType: MULTIPART,
      }),
    );
    const res = ms.responses().find((r) => r.status >= 300);
    expect([res?.status, res?.reason]).toEqual([400, 'Bad Multipart Body']);
    expect(updates).toEqual([]);
    expect(call.recording?.metadataXml).toBe(METADATA);
  });
});
