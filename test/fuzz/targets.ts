/**
 * What the fuzzer exercises: every parser of untrusted input and the in-process SIP stack, each
 * with its seed corpus (RFC 4475 torture messages, the project's SIP/SDP/RTP fixtures), a
 * dictionary of format tokens, and the errors it is allowed to throw (its typed errors). Anything
 * else thrown, logged as a bug or rejected unhandled is a finding.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RtpParseError } from '../../rtp/errors.js';
import { RtpPacket, serializeRtp } from '../../rtp/packet/RtpPacket.js';
import { buildRtcpReport, parseRtcp } from '../../rtp/packet/rtcp.js';
import { parseChallenge } from '../../sip/auth/challenge.js';
import { DigestError } from '../../sip/auth/errors.js';
import { parseAuthHeader } from '../../sip/auth/params.js';
import { SdpError, SipBodyError, SipParseError } from '../../sip/errors.js';
import type { Logger } from '../../lib/logger.js';
import { parseNameAddr } from '../../sip/message/nameAddr.js';
import { parseMultipart } from '../../sip/message/multipart.js';
import { parseMessage } from '../../sip/message/parser.js';
import { parseUri } from '../../sip/message/uri.js';
import { requestProblem, responseProblem } from '../../sip/message/validate.js';
import { parseVia } from '../../sip/message/via.js';
import { SRTP_SUITES } from '../../rtp/index.js';
import { answerOffer, describeOffer, readAnswer } from '../../sip/sdp/offerAnswer.js';
import { StreamFramer } from '../../sip/transport/framing.js';
import { parseDtmfRelay } from '../../sip/ua/dtmf.js';
import { SipStack } from '../../sip/ua/SipStack.js';
import { labelledStreams, parseMetadata, SiprecMetadataError } from '../../src/siprec/metadata.js';
import { FakeClock } from '../helpers/FakeClock.js';
import { FIXTURES } from '../helpers/paths.js';
import { readPcapUdp } from '../rtp/pcap.js';
import { FakeDatagramSocket } from '../sip/support/memory.js';

/** A label, or a label and the longest synchronous step's time in ms. */
export type Outcome = string | { readonly label: string; readonly blockedMs: number };

export interface FuzzTarget {
  readonly name: string;
  /** The folder whose code the target exercises (who fixes a finding). */
  readonly owner: string;
  /** Inputs larger than this are cut. */
  readonly maxLen: number;
  /** An input slower than this (confirmed on re-runs) is a finding. */
  readonly slowMs: number;
  readonly dictionary: readonly string[];
  seeds(): Uint8Array[];
  /**
   * Runs one input. Returns an outcome label (inputs with a new label join the corpus), or the
   * label and the longest time the event loop was blocked (ms) when the run is several
   * synchronous steps (the stack: a datagram, then timers); throws what the code under test threw.
   */
  run(input: Uint8Array): Outcome | Promise<Outcome>;
  /** Whether `err` is one of the target's typed errors (an expected refusal, not a finding). */
  typed(err: unknown): boolean;
}

/** A failure detected by a harness rather than thrown by the code (an error logged, a rejection). */
export class FuzzProblem extends Error {
  override readonly name = 'FuzzProblem';
}

const enc = new TextEncoder();
const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const codeOf = (err: unknown): string =>
  err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : 'error';

// ---- seeds ----------------------------------------------------------------------------------

function files(dir: string, ext: string): Uint8Array[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

function sipSeeds(): Uint8Array[] {
  return [
    ...files(join(FIXTURES, 'sip', 'rfc4475'), '.dat'),
    ...files(join(FIXTURES, 'sip', 'messages'), '.sip'),
    ...requests().map((r) => enc.encode(r)),
  ];
}

function sdpSeeds(): Uint8Array[] {
  const sipp = readFileSync(join(FIXTURES, 'sip', 'messages', 'sipp-invite.sip'), 'latin1');
  return [
    ...files(join(FIXTURES, 'sdp'), '.sdp'),
    enc.encode(sipp.split('\r\n\r\n')[1] ?? ''),
    enc.encode(OFFER),
  ];
}

const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 192.0.2.1',
  's=-',
  'c=IN IP4 192.0.2.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0 8 101',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20 WSH=64',
  'a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=rtcp:40001',
  'a=rtcp-mux',
  'a=sendrecv',
  '',
].join('\r\n');

/** Requests a caller sends, for the stack and the message parser. */
function requests(): string[] {
  const req = (method: string, extra: string[], body = '', type = 'application/sdp'): string =>
    [
      `${method} sip:alice@127.0.0.1:5062 SIP/2.0`,
      'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-fuzz-1;rport',
      'From: "caller" <sip:caller@127.0.0.1:5070>;tag=caller1',
      'To: <sip:alice@127.0.0.1:5062>',
      'Call-ID: fuzz-1@127.0.0.1',
      `CSeq: 1 ${method}`,
      'Contact: <sip:caller@127.0.0.1:5070>',
      'Max-Forwards: 70',
      ...extra,
      ...(body ? [`Content-Type: ${type}`] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  return [
    req('INVITE', ['Supported: timer', 'Session-Expires: 1800;refresher=uac', 'Min-SE: 90'], OFFER),
    req('INVITE', ['Require: 100rel'], OFFER),
    req('OPTIONS', ['Accept: application/sdp']),
    req('INFO', [], 'Signal=5\r\nDuration=160\r\n', 'application/dtmf-relay'),
    req('BYE', []),
    req('CANCEL', []),
    req('REGISTER', [
      'Expires: 3600',
      'Authorization: Digest username="a", realm="r", nonce="n", uri="sip:r", response="00"',
    ]),
    [
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-ours;rport=5062',
      'From: <sip:alice@127.0.0.1>;tag=a',
      'To: <sip:bob@127.0.0.1>;tag=b',
      'Call-ID: out-1@127.0.0.1',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  ];
}

function rtpSeeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of ['rtp/sipp_call_pcmu.pcap', 'audio/fox_pcma_8k.pcap', 'audio/tone1k_pcmu_8k.pcap']) {
    out.push(
      ...readPcapUdp(join(FIXTURES, f))
        .slice(0, 4)
        .map((p) => Uint8Array.from(p.payload)),
    );
  }
  out.push(
    serializeRtp(
      {
        payloadType: 101,
        sequenceNumber: 0xffff,
        timestamp: 0xfffffff0,
        ssrc: 7,
        marker: true,
        csrcs: [1, 2],
        extension: { profile: 0xbede, data: new Uint8Array(8) },
        paddingLength: 4,
      },
      Uint8Array.of(5, 0x8a, 0x03, 0x20),
    ),
  );
  return out;
}

function rtcpSeeds(): Uint8Array[] {
  const block = {
    ssrc: 2,
    fractionLost: 1,
    cumulativeLost: 2,
    extendedHighestSeq: 3,
    jitter: 4,
    lastSr: 5,
    delaySinceLastSr: 6,
  };
  return [
    buildRtcpReport({
      ssrc: 1,
      sender: { ntpSec: 1, ntpFrac: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 },
      reports: [block],
      cname: 'fuzz@example',
      bye: { reason: 'bye' },
    }),
    buildRtcpReport({ ssrc: 9, reports: [block, block], cname: 'x' }),
  ];
}

const SIP_TOKENS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'INFO',
  'UPDATE',
  'REGISTER',
  'SIP/2.0',
  'SIP/2.0/UDP ',
  'SIP/2.0/TCP ',
  '\r\n',
  '\r\n\r\n',
  '\r\n ',
  'Via: ',
  'v: ',
  'From: ',
  'To: ',
  'Call-ID: ',
  'CSeq: ',
  'Contact: ',
  'Content-Length: ',
  'l: ',
  'Content-Type: application/sdp',
  'Content-Type: application/dtmf-relay',
  'Max-Forwards: ',
  'Session-Expires: 4294968;refresher=uas',
  'Session-Expires: ',
  'Min-SE: ',
  'Require: ',
  'Supported: timer, 100rel',
  'Route: ',
  'Record-Route: ',
  'Authorization: Digest ',
  'WWW-Authenticate: Digest ',
  ';branch=z9hG4bK',
  ';tag=',
  ';rport',
  ';received=',
  ';lr',
  ';transport=tcp',
  '<sip:',
  'sips:',
  'tel:',
  '@',
  '[::1]',
  ':5060',
  '"',
  '\\',
  '%00',
  ',',
  ';',
  '=',
];
const SDP_TOKENS = [
  'a=crypto:1 ',
  'AES_CM_128_HMAC_SHA1_80 ',
  'inline:',
  '|2^20',
  '|1:4',
  ' UNENCRYPTED_SRTP',
  'RTP/SAVP ',
  'v=0\r\n',
  'o=- 0 0 IN IP4 ',
  's=-\r\n',
  'c=IN IP4 ',
  'c=IN IP6 ',
  't=0 0\r\n',
  'm=audio ',
  'm=video ',
  ' RTP/AVP ',
  'a=rtpmap:',
  'a=fmtp:',
  'a=ptime:',
  'a=maxptime:',
  'a=rtcp:',
  'a=rtcp-mux',
  'a=sendonly',
  'a=recvonly',
  'a=inactive',
  'PCMU/8000',
  'PCMA/8000',
  'telephone-event/8000',
  '101',
  '0 8',
  '\r\n',
  '\n',
  ' ',
  '/',
];
const DIGEST_TOKENS = [
  'Digest ',
  'Basic ',
  'realm=',
  'nonce=',
  'opaque=',
  'algorithm=',
  'MD5',
  'MD5-sess',
  'SHA-256',
  'SHA-512-256',
  'qop=',
  '"auth,auth-int"',
  'stale=true',
  'username=',
  'uri=',
  'response=',
  'cnonce=',
  'nc=00000001',
  'userhash=true',
  '"',
  '\\"',
  ',',
  ', ',
  '=',
];

// ---- the SIP stack in memory ----------------------------------------------------------------

const CALLER = { address: '127.0.0.1', port: 5070 };
const unhandled: unknown[] = [];
let listening = false;

/**
 * A fresh SipStack per input (so that a reproducer is one datagram): an in-memory UDP socket, a
 * fake clock, a delegate that answers every INVITE. The datagram is delivered, then the clock runs
 * 64 s (retransmissions, Timer B/F/H, session timers). An error logged by the stack (it logs the
 * bugs it catches), an exception out of the socket handler or the clock, or a promise rejected
 * unhandled is a finding.
 */
async function runStack(input: Uint8Array, dialog = false): Promise<Outcome> {
  if (!listening) {
    listening = true;
    process.on('unhandledRejection', (reason) => unhandled.push(reason));
  }
  unhandled.length = 0;
  const problems: string[] = [];
  const note =
    (level: string) =>
    (obj: object, msg?: string): void => {
      const err = (obj as { err?: unknown }).err;
      problems.push(`${level}: ${msg ?? ''} ${err instanceof Error ? (err.stack ?? err.message) : ''}`);
    };
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (obj, msg) => {
      if (msg?.includes('unexpected')) {
        note('warn')(obj, msg);
      }
    },
    error: note('error'),
  };
  const clock = new FakeClock(1000);
  let toTag = 'none';
  const stack = new SipStack(
    { listen: [], clock, logger },
    {
      onInvite: (call) => {
        toTag = call.localTag;
        call.answer({ address: '127.0.0.1', port: 20000 }).catch(() => undefined);
      },
    },
  );
  const udp = new FakeDatagramSocket({ address: '127.0.0.1', port: 5062 });
  stack.transport.attachDatagram(udp);
  // The time that matters is the longest synchronous step (what would block the event loop).
  let blockedMs = 0;
  const step = (fn: () => void): void => {
    const t0 = performance.now();
    fn();
    blockedMs = Math.max(blockedMs, performance.now() - t0);
  };
  if (dialog) {
    // Several datagrams of one dialog: `@TAG@` becomes the To tag we answered with.
    for (const part of text(input).split(NEXT)) {
      step(() => udp.deliver(Buffer.from(part.replaceAll('@TAG@', toTag), 'latin1'), CALLER));
      await settle();
      step(() => clock.advance(100));
    }
  } else {
    step(() => udp.deliver(buf(input), CALLER));
  }
  await settle();
  for (let t = 0; t < 64_000; t += 4000) {
    step(() => clock.advance(4000));
    await settle();
  }
  if (unhandled.length > 0) {
    const r = unhandled[0];
    problems.push(`unhandled rejection: ${r instanceof Error ? (r.stack ?? r.message) : String(r)}`);
  }
  if (problems.length > 0) {
    throw new FuzzProblem(problems[0]);
  }
  // What the stack answered (the statuses, in order, repeats folded): the outcome label.
  const statuses = udp.sent
    .map((m) => m.data.toString('latin1', 0, 12))
    .map((l) => (l.startsWith('SIP/2.0 ') ? l.slice(8, 11) : l.split(' ')[0]!));
  return {
    label:
      statuses
        .filter((x, i) => x !== statuses[i - 1])
        .join(' ')
        .slice(0, 60) || 'nothing',
    blockedMs,
  };
}

/** Separates the datagrams of a `sip-dialog` input. */
const NEXT = '\n--next--\n';

/** A call: INVITE, ACK, a DTMF INFO, a re-INVITE (session refresh), BYE, with `@TAG@` for our To tag. */
function dialogSeeds(): Uint8Array[] {
  const all = requests();
  const [invite, info, bye] = [all[0], all[3], all[4]];
  const inDialog = (r: string, cseq: number, method: string): string =>
    r
      .replace('To: <sip:alice@127.0.0.1:5062>', 'To: <sip:alice@127.0.0.1:5062>;tag=@TAG@')
      .replace(/CSeq: 1 \w+/, `CSeq: ${cseq} ${method}`)
      .replace('branch=z9hG4bK-fuzz-1', `branch=z9hG4bK-fuzz-${cseq}${method}`);
  const ack = inDialog(bye!.replace(/^BYE/, 'ACK'), 1, 'ACK');
  const reinvite = inDialog(invite!, 3, 'INVITE');
  return [
    [invite!, ack, inDialog(info!, 2, 'INFO'), reinvite, inDialog(bye!, 4, 'BYE')],
    [invite!, ack, inDialog(info!, 2, 'INFO')],
    [invite!, inDialog(bye!, 2, 'BYE')],
  ].map((parts) => enc.encode(parts.join(NEXT)));
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// ---- targets --------------------------------------------------------------------------------

const MULTIPART_TOKENS = [
  '--foobar\r\n',
  '\r\n--foobar--',
  'Content-Type: ',
  'Content-Disposition: recording-session',
  'application/sdp',
  'application/rs-metadata+xml',
  'multipart/mixed;boundary=',
  'boundary="a b"',
  '\r\n\r\n',
  '\n',
  ' ',
  '\t',
];

/** multipart seeds: the Content-Type value, a line feed, the body. */
function multipartSeeds(): string[] {
  return [
    `multipart/mixed;boundary=foobar\n--foobar\r\nContent-Type: application/sdp\r\n\r\n${OFFER}\r\n--foobar\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n<recording/>\r\n--foobar--\r\n`,
    'multipart/mixed; boundary="simple boundary"\npreamble\r\n--simple boundary\r\n\r\nimplicit\r\n--simple boundary\r\nContent-type: text/plain; charset=us-ascii\r\n\r\nexplicit\r\n\r\n--simple boundary--\r\nepilogue',
    'multipart/mixed;boundary=b\n--b\nX-A:\n folded\n\nx\n--b--',
  ];
}

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: 'sip-message',
    owner: 'sip/message',
    maxLen: 70_000,
    slowMs: 100,
    dictionary: SIP_TOKENS,
    seeds: sipSeeds,
    run(input) {
      const msg = parseMessage(buf(input), { datagram: true });
      // What the stack reads from every message it accepts.
      for (const v of msg.getAll('via')) {
        parseVia(v);
      }
      parseNameAddr(msg.get('from') ?? '');
      parseNameAddr(msg.get('to') ?? '');
      if (msg.kind === 'request') {
        parseUri(msg.uri);
        return `req ${requestProblem(msg) ?? 'ok'}`.slice(0, 40);
      }
      return `res ${responseProblem(msg) ?? 'ok'}`.slice(0, 40);
    },
    typed: (err) => err instanceof SipParseError,
  },
  {
    name: 'sdp',
    owner: 'sip/sdp',
    maxLen: 16_000,
    slowMs: 100,
    dictionary: SDP_TOKENS,
    seeds: sdpSeeds,
    run(input) {
      const sdp = text(input);
      const offered = describeOffer(sdp, ['PCMU', 'PCMA']);
      const out = [offered ? `${offered.codec}` : 'none'];
      try {
        // With SDES negotiation (RFC 4568), so that a=crypto lines are read and chosen too.
        const answered = answerOffer(
          sdp,
          ['PCMU', 'PCMA'],
          { address: '127.0.0.1', port: 20000 },
          { sessionId: '1', version: 1 },
          {
            policy: 'optional',
            suites: SRTP_SUITES,
            localKey: (suite) => new Uint8Array(suite.keyLength + suite.saltLength),
          },
        );
        out.push(answered.remote.srtp ? `answered ${answered.remote.srtp.suite}` : 'answered');
      } catch (err) {
        if (!(err instanceof SdpError)) {
          throw err;
        }
        out.push(err.code);
      }
      out.push(readAnswer(sdp, ['PCMU', 'PCMA']).codec);
      return out.join(' ');
    },
    typed: (err) => err instanceof SdpError,
  },
  {
    name: 'digest',
    owner: 'sip/auth',
    maxLen: 8_000,
    slowMs: 100,
    dictionary: DIGEST_TOKENS,
    seeds: () =>
      [
        'Digest realm="sip-lab", nonce="abc123", algorithm=MD5, qop="auth"',
        'Digest realm="x", nonce="y", opaque="z", algorithm=SHA-256, qop="auth,auth-int", stale=true',
        'Digest username="alice", realm="sip-lab", nonce="abc", uri="sip:sip-lab", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
        'Basic realm="x"',
      ].map((s) => enc.encode(s)),
    run(input) {
      const value = text(input);
      const out: string[] = [];
      for (const parse of [parseChallenge, parseAuthHeader]) {
        try {
          parse(value);
          out.push('ok');
        } catch (err) {
          if (!(err instanceof DigestError)) {
            throw err;
          }
          out.push(err.code);
        }
      }
      return out.join(' ');
    },
    typed: (err) => err instanceof DigestError,
  },
  {
    name: 'rtp',
    owner: 'rtp/packet',
    maxLen: 2_000,
    slowMs: 50,
    dictionary: [],
    seeds: rtpSeeds,
    run(input) {
      const p = new RtpPacket(input);
      // Every field, and a round trip of what was parsed (extension and padding included).
      const csrcs = Array.from({ length: p.csrcCount }, (_, i) => p.getCsrc(i));
      const again = serializeRtp(
        {
          payloadType: p.payloadType,
          sequenceNumber: p.sequenceNumber,
          timestamp: p.timestamp,
          ssrc: p.ssrc,
          marker: p.marker,
          csrcs,
          ...(p.extension ? { extension: { profile: p.extensionProfile, data: p.extensionData } } : {}),
          ...(p.paddingLength > 0 ? { paddingLength: p.paddingLength } : {}),
        },
        p.payload,
      );
      const back = new RtpPacket(again);
      if (back.payload.byteLength !== p.payload.byteLength || again.byteLength !== p.byteLength) {
        throw new FuzzProblem(`round trip changed the packet: ${p.byteLength} → ${again.byteLength} bytes`);
      }
      return `pt ${p.payloadType > 34 ? 'dyn' : p.payloadType} cc ${p.csrcCount > 0} x ${p.extension} p ${p.paddingLength > 0}`;
    },
    typed: (err) => err instanceof RtpParseError,
  },
  {
    name: 'rtcp',
    owner: 'rtp/packet',
    maxLen: 2_000,
    slowMs: 50,
    dictionary: [],
    seeds: rtcpSeeds,
    run(input) {
      return parseRtcp(input)
        .map((p) => p.type)
        .join(',');
    },
    typed: (err) => err instanceof RtpParseError,
  },
  {
    name: 'tcp-framer',
    owner: 'sip/transport',
    maxLen: 70_000,
    slowMs: 100,
    dictionary: SIP_TOKENS,
    seeds: sipSeeds,
    run(input) {
      // The chunking comes from the input itself (first byte), so a reproducer is one file: a
      // multiple of 8 drips the stream one byte at a time, anything else in chunks of 4·b bytes.
      const b = input[0] ?? 1;
      const size = b % 8 === 0 ? 1 : 4 * b;
      const framer = new StreamFramer(65_535);
      let messages = 0;
      let error = 'none';
      const data = buf(input);
      for (let at = 0; at < data.length; at += size) {
        const out = framer.push(data.subarray(at, at + size));
        messages += out.messages.length;
        if (out.error) {
          error = out.error.code;
          break;
        }
      }
      return `${Math.min(messages, 3)} ${error}`;
    },
    typed: (err) => err instanceof SipParseError,
  },
  {
    name: 'dtmf',
    owner: 'sip/ua',
    maxLen: 70_000,
    slowMs: 100,
    dictionary: [
      'Signal=',
      'signal = ',
      'Duration=',
      'duration=',
      '\r\n',
      '\n',
      ' ',
      '\t',
      '=',
      '#',
      '*',
      '16',
      '99999999999',
    ],
    seeds: () =>
      ['Signal=5\r\nDuration=160\r\n', 'Signal= #\nDuration= 250', 'signal=16', 'Signal=A\r\n'].map((s) =>
        enc.encode(s),
      ),
    run(input) {
      const ev = parseDtmfRelay(text(input));
      return ev ? `digit ${ev.digit.length}` : 'none';
    },
    typed: () => false,
  },
  {
    name: 'multipart',
    owner: 'sip/message',
    maxLen: 70_000,
    slowMs: 100,
    dictionary: MULTIPART_TOKENS,
    // The first line is the Content-Type value, the rest the body.
    seeds: () => multipartSeeds().map((s) => enc.encode(s)),
    run(input) {
      const t = text(input);
      const nl = t.indexOf('\n');
      const parts = parseMultipart(buf(input).subarray(nl + 1), nl < 0 ? t : t.slice(0, nl));
      return `${Math.min(parts.length, 4)} ${parts.map((p) => p.type).join(',')}`.slice(0, 80);
    },
    typed: (err) => err instanceof SipBodyError,
  },
  {
    name: 'siprec-metadata',
    owner: 'src/siprec',
    maxLen: 70_000,
    slowMs: 100,
    dictionary: [
      '<recording>',
      '</recording>',
      '<participant participant_id="p">',
      '<nameID aor="sip:a@b">',
      '<name>',
      '</name>',
      '<stream stream_id="s">',
      '<label>96</label>',
      '<send>s</send>',
      '<datamode>partial</datamode>',
      '<![CDATA[',
      ']]>',
      '&amp;',
      '&#x41;',
      '<!--',
      '-->',
      '"',
      "'",
      '=',
    ],
    seeds: () =>
      ['rfc7865-complete.xml', 'hold-partial.xml', 'resume-partial.xml'].map(
        (f) => new Uint8Array(readFileSync(join(FIXTURES, 'siprec', f))),
      ),
    run(input) {
      const m = parseMetadata(Buffer.from(input).toString('utf8'));
      const labels = labelledStreams(m).map((l) => (l.sender ? 'sent' : 'idle'));
      return `${m.dataMode} p${Math.min(m.participants.size, 4)} s${Math.min(m.streams.size, 4)} ${labels.slice(0, 4).join(',')}`;
    },
    typed: (err) => err instanceof SiprecMetadataError,
  },
  {
    name: 'sip-stack',
    owner: 'sip/ua',
    maxLen: 70_000,
    slowMs: 100,
    dictionary: SIP_TOKENS,
    seeds: sipSeeds,
    run: (input) => runStack(input),
    typed: () => false,
  },
  {
    name: 'sip-dialog',
    owner: 'sip/ua',
    maxLen: 70_000,
    slowMs: 100,
    dictionary: [...SIP_TOKENS, NEXT, ';tag=@TAG@', 'Signal=', 'Duration='],
    seeds: dialogSeeds,
    run: (input) => runStack(input, true),
    typed: () => false,
  },
];

export function targetNamed(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}

/** The outcome label of a typed error (its code), for corpus feedback. */
export function typedOutcome(err: unknown): string {
  return codeOf(err);
}
