/**
 * A SipStack over an in-memory UDP socket and a fake clock, plus builders for the requests a
 * caller sends. Unit tests of the UA drive it message by message.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingCall } from '../../../sip/ua/IncomingCall.js';
import { SipStack, type SipStackDelegate, type SipStackOptions } from '../../../sip/ua/SipStack.js';
import { parseMessage } from '../../../sip/message/parser.js';
import type { SipMessage, SipResponse } from '../../../sip/message/SipMessage.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FIXTURES } from '../../helpers/paths.js';
import { StreamFramer } from '../../../sip/transport/framing.js';
import type { HostPort, TransportProtocol } from '../../../sip/transport/types.js';
import { duplexPair, FakeDatagramSocket } from './memory.js';

export const CALLER = { address: '127.0.0.1', port: 5070 };

export const SIPP_OFFER =
  readFileSync(join(FIXTURES, 'sip', 'messages', 'sipp-invite.sip'), 'latin1').split('\r\n\r\n')[1] ?? '';

export interface MemoryStack {
  stack: SipStack;
  clock: FakeClock;
  udp: FakeDatagramSocket;
  calls: IncomingCall[];
  /** Delivers a message from the caller. */
  send(text: string): void;
  /** Messages the stack sent since the last call. */
  take(): SipMessage[];
  responses(): SipResponse[];
}

export function memoryStack(
  onInvite: (call: IncomingCall) => void = () => undefined,
  opts: Partial<SipStackOptions> = {},
  hooks: Omit<SipStackDelegate, 'onInvite'> = {},
): MemoryStack {
  const clock = new FakeClock(1000);
  const calls: IncomingCall[] = [];
  const stack = new SipStack(
    { listen: [], clock, ...opts },
    {
      ...hooks,
      onInvite: (call) => {
        calls.push(call);
        onInvite(call);
      },
    },
  );
  const udp = new FakeDatagramSocket({ address: '127.0.0.1', port: 5062 });
  stack.transport.attachDatagram(udp);
  const take = (): SipMessage[] => {
    const out = udp.sent.map((s) => parseMessage(s.data));
    udp.sent.length = 0;
    return out;
  };
  return {
    stack,
    clock,
    udp,
    calls,
    send: (text) => udp.deliver(text, CALLER),
    take,
    responses: () => take().filter((m): m is SipResponse => m.kind === 'response'),
  };
}

export interface ReqOpts {
  method?: string;
  branch?: string;
  cseq?: number;
  toTag?: string;
  headers?: string[];
  body?: string;
  contentType?: string;
  callId?: string;
}

/** A request from the caller (SIPp-like) to alice@127.0.0.1:5062. */
export function callerRequest(o: ReqOpts = {}): string {
  const method = o.method ?? 'INVITE';
  const body = o.body ?? '';
  const lines = [
    `${method} sip:alice@127.0.0.1:5062 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=${o.branch ?? `z9hG4bK-${method}-${o.cseq ?? 1}`};rport`,
    'From: "caller" <sip:sipp@127.0.0.1:5070>;tag=caller1',
    `To: <sip:alice@127.0.0.1:5062>${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? 'call-a@127.0.0.1'}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    'Contact: <sip:sipp@127.0.0.1:5070>',
    'Max-Forwards: 70',
    ...(o.headers ?? []),
  ];
  if (body !== '') {
    lines.push(`Content-Type: ${o.contentType ?? 'application/sdp'}`);
  }
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return lines.join('\r\n');
}

/** A peer on an in-memory TCP/TLS connection to the stack; `messages()` parses what it received. */
export function streamPeer(ms: MemoryStack, remote: HostPort, protocol: TransportProtocol = 'tcp') {
  const [ours, theirs] = duplexPair();
  const framer = new StreamFramer(65535);
  const got: SipMessage[] = [];
  theirs.on('data', (d: Buffer) => got.push(...framer.push(d).messages.map((m) => parseMessage(m))));
  ms.stack.transport.attachStream(ours, protocol, { address: '127.0.0.1', port: 5062 }, remote);
  return {
    write: (text: string): void => void theirs.write(text),
    messages: (): SipMessage[] => got.splice(0),
  };
}
