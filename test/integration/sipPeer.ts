// A raw SIP peer for end-to-end tests: a UDP socket on a chosen loopback address that sends
// hand-built requests and collects every response, so each datagram is known exactly.
import { createSocket, type Socket } from 'node:dgram';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipResponse } from '../../sip/message/SipMessage.js';

export interface Peer {
  sock: Socket;
  address: string;
  port: number;
  got: SipResponse[];
  send(text: string): void;
  close(): void;
}

export async function peer(address: string, sipPort: number): Promise<Peer> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, address, r));
  const got: SipResponse[] = [];
  sock.on('message', (data) => {
    const msg = parseMessage(data);
    if (msg.kind === 'response') {
      got.push(msg);
    }
  });
  return {
    sock,
    address,
    port: sock.address().port,
    got,
    send: (text) => sock.send(Buffer.from(text), sipPort, '127.0.0.1'),
    close: () => sock.close(),
  };
}

function offer(p: Peer, payloads: string, rtpmaps: string[]): string {
  return [
    'v=0',
    `o=test 1 1 IN IP4 ${p.address}`,
    's=-',
    `c=IN IP4 ${p.address}`,
    't=0 0',
    `m=audio 40000 RTP/AVP ${payloads}`,
    ...rtpmaps,
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export const PCMU = (p: Peer): string => offer(p, '0', ['a=rtpmap:0 PCMU/8000']);
// G.729 only: static payload type 18 (RFC 3551), nothing sipscribe can decode.
export const G729 = (p: Peer): string => offer(p, '18', ['a=rtpmap:18 G729/8000', 'a=fmtp:18 annexb=no']);

export function request(
  p: Peer,
  sipPort: number,
  o: { method: string; callId: string; branch: string; body?: string; toTag?: string; cseqMethod?: string },
): string {
  const body = o.body ?? '';
  return [
    `${o.method} sip:transcribe@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${p.address}:${p.port};branch=${o.branch};rport`,
    `From: <sip:tester@${p.address}>;tag=from-${o.callId}`,
    `To: <sip:transcribe@127.0.0.1:${sipPort}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId}`,
    `CSeq: 1 ${o.cseqMethod ?? o.method}`,
    `Contact: <sip:tester@${p.address}:${p.port}>`,
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
