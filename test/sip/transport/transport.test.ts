/**
 * Transport layer in memory: stream framing (partial, pipelined, keep-alives, oversize), bad
 * input counted and answered or dropped (never thrown), received/rport stamping.
 */
import { describe, expect, it } from 'vitest';
import { createResponse } from '../../../sip/message/build.js';
import { parseMessage } from '../../../sip/message/parser.js';
import type { SipRequest } from '../../../sip/message/SipMessage.js';
import { StreamFramer } from '../../../sip/transport/framing.js';
import { targetFromUri } from '../../../sip/transport/target.js';
import { duplexPair, memoryTransport, sipText } from '../support/memory.js';

const options = (branch: string, body = ''): string =>
  sipText(
    [
      'OPTIONS sip:alice@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/TCP 127.0.0.1:5071;branch=${branch}`,
      'From: <sip:bob@127.0.0.1>;tag=1',
      'To: <sip:alice@127.0.0.1>',
      'Call-ID: c1',
      'CSeq: 1 OPTIONS',
    ],
    body,
  );

/** A TCP peer on an in-memory stream attached to the transport (we listen on 5062); `got` collects what it receives. */
function peer(m: ReturnType<typeof memoryTransport>, remote = { address: '127.0.0.1', port: 5071 }) {
  const [ours, theirs] = duplexPair();
  const got: Buffer[] = [];
  theirs.on('data', (d: Buffer) => got.push(d));
  const conn = m.transport.attachStream(ours, 'tcp', { address: '127.0.0.1', port: 5062 }, remote);
  return { conn, theirs, got };
}

describe('StreamFramer', () => {
  it('reassembles a message split at every byte', () => {
    const f = new StreamFramer(65535);
    const bytes = Buffer.from(options('z9hG4bK1', 'hello'));
    const got: Buffer[] = [];
    for (const b of bytes) {
      got.push(...f.push(Buffer.from([b])).messages);
    }
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(bytes)).toBe(true);
  });

  it('splits pipelined messages and counts CRLF keep-alives', () => {
    const f = new StreamFramer(65535);
    const out = f.push(Buffer.from('\r\n\r\n' + options('z9hG4bK1', 'a') + options('z9hG4bK2') + 'OPT'));
    expect(out.pings).toBe(1);
    expect(out.messages.map((m) => parseMessage(m).via?.branch)).toEqual(['z9hG4bK1', 'z9hG4bK2']);
    expect(f.buffered).toBe(3);
  });

  it('flags an oversize message and keeps its header section for a 513', () => {
    const f = new StreamFramer(1000);
    const out = f.push(
      Buffer.from(options('z9hG4bK1').replace('Content-Length: 0', 'Content-Length: 10485760')),
    );
    expect(out.error?.code).toBe('SIP_ERR_TOO_LARGE');
    expect(out.oversizeHead?.toString()).toContain('OPTIONS sip:alice');
    expect(f.buffered).toBe(0);
  });

  it('flags a header section that never ends', () => {
    const f = new StreamFramer(1000);
    expect(f.push(Buffer.alloc(1500, 0x41)).error?.code).toBe('SIP_ERR_TOO_LARGE');
  });
});

describe('TransportLayer receive path', () => {
  it('drops and counts garbage datagrams without throwing', () => {
    const m = memoryTransport();
    const seen: unknown[] = [];
    m.transport.setDelegate({ onRequest: (r) => seen.push(r), onResponse: (r) => seen.push(r) });
    for (let i = 0; i < 100; i++) {
      m.udp.deliver(Buffer.from(Array.from({ length: 200 }, (_, j) => (i * 31 + j * 7) & 0xff)));
    }
    m.udp.deliver('SIP/2.0 200 OK\r\nVia: x\r\n\r\n');
    expect(seen).toHaveLength(0);
    expect(m.counters.malformedDropped).toBe(101);
    expect(m.udp.sent).toHaveLength(0);
  });

  it('answers a malformed request with 400 and a reason, routed by its Via', () => {
    const m = memoryTransport();
    m.transport.setDelegate({ onRequest: () => undefined, onResponse: () => undefined });
    m.udp.deliver(options('z9hG4bK1').replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE').replace('TCP', 'UDP'));
    const [res] = m.udp.messages();
    expect(res?.kind === 'response' && [res.status, res.reason]).toEqual([
      400,
      'CSeq method does not match Request-Line',
    ]);
    expect(m.counters.malformedRejected).toBe(1);
  });

  it('stamps received and rport on the top Via only', () => {
    const m = memoryTransport();
    const seen: SipRequest[] = [];
    m.transport.setDelegate({ onRequest: (r) => seen.push(r), onResponse: () => undefined });
    m.udp.deliver(
      options('z9hG4bK1')
        .replace('TCP 127.0.0.1:5071;branch=z9hG4bK1', 'UDP host.example;branch=z9hG4bK1;rport')
        .replace('From:', 'Via: SIP/2.0/UDP second;rport\r\nFrom:'),
      { address: '192.0.2.1', port: 4444 },
    );
    expect(seen[0]?.getAll('via')).toEqual([
      'SIP/2.0/UDP host.example;branch=z9hG4bK1;rport=4444;received=192.0.2.1',
      'SIP/2.0/UDP second;rport',
    ]);
  });

  it('answers an oversize request on a stream with 513 and closes the connection', async () => {
    const m = memoryTransport({ maxMessageSize: 4096 });
    m.transport.setDelegate({ onRequest: () => undefined, onResponse: () => undefined });
    const { conn, theirs, got } = peer(m);
    const head = options('z9hG4bK1').replace('Content-Length: 0', 'Content-Length: 10485760');
    theirs.write(head);
    for (let i = 0; i < 10; i++) {
      theirs.write(Buffer.alloc(1024 * 1024, 0x78));
    }
    await new Promise((r) => setImmediate(r));
    const res = parseMessage(Buffer.concat(got));
    expect(res.kind === 'response' && res.status).toBe(513);
    expect(conn.closed).toBe(true);
    expect(m.counters.oversize).toBe(1);
    expect(m.transport.connectionCount).toBe(0);
  });

  it('delivers a request truncated mid-body only when complete, and frees a closed connection', async () => {
    const m = memoryTransport();
    const seen: SipRequest[] = [];
    m.transport.setDelegate({ onRequest: (r) => seen.push(r), onResponse: () => undefined });
    const { conn, theirs } = peer(m);
    const text = options('z9hG4bK1', 'abcdef');
    theirs.write(text.slice(0, text.length - 3));
    await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(0);
    expect(conn.buffered).toBeGreaterThan(0);
    theirs.end();
    await new Promise((r) => setImmediate(r));
    expect(conn.closed).toBe(true);
    expect(seen).toHaveLength(0);
    expect(m.transport.connectionCount).toBe(0);
  });

  it('answers on the request connection, or over a connection to received:port once it closed (§18.2.2)', async () => {
    const m = memoryTransport();
    const seen: SipRequest[] = [];
    m.transport.setDelegate({ onRequest: (r) => seen.push(r), onResponse: () => undefined });
    const { conn, theirs, got } = peer(m, { address: '127.0.0.7', port: 40001 });
    theirs.write(options('z9hG4bK1').replace('127.0.0.1:5071', 'client.example:5071'));
    await new Promise((r) => setImmediate(r));
    const req = seen[0]!;
    const res = createResponse(req, 200);
    m.transport.sendResponse(res, conn);
    await new Promise((r) => setImmediate(r));
    expect(parseMessage(Buffer.concat(got)).kind).toBe('response');
    // The connection goes away; the peer's listener (received=127.0.0.7, sent-by port 5071) is open.
    conn.close();
    const { got: got2 } = peer(m, { address: '127.0.0.7', port: 5071 });
    m.transport.sendResponse(createResponse(req, 200), conn);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(parseMessage(Buffer.concat(got2)).kind).toBe('response');
  });

  it('closes idle connections after the idle timeout', () => {
    const m = memoryTransport();
    const { conn } = peer(m);
    m.clock.advance(600_000);
    expect(conn.closed).toBe(true);
  });
});

describe('targetFromUri', () => {
  it.each([
    ['sip:alice@example.com', { protocol: 'udp', host: 'example.com', port: 5060 }],
    ['sip:alice@example.com;transport=tcp', { protocol: 'tcp', host: 'example.com', port: 5060 }],
    ['sips:alice@example.com', { protocol: 'tls', host: 'example.com', port: 5061 }],
    ['sip:[::1]:5080;transport=TLS', { protocol: 'tls', host: '::1', port: 5080 }],
    ['127.0.0.1:5090', { protocol: 'udp', host: '127.0.0.1', port: 5090 }],
  ])('%s', (uri, expected) => {
    expect(targetFromUri(uri)).toEqual(expected);
  });
});
