/**
 * Client transactions (RFC 3261 §17.1, RFC 6026 §7.2) with a fake clock: retransmission
 * schedules of Timers A and E, timeouts B and F, ACK for non-2xx, D/K waits, and no
 * retransmissions over a reliable transport.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../lib/logger.js';
import { createRequest } from '../../../sip/message/build.js';
import { parseMessage } from '../../../sip/message/parser.js';
import type { SipResponse } from '../../../sip/message/SipMessage.js';
import { TransactionLayer } from '../../../sip/transaction/TransactionLayer.js';
import { duplexPair, memoryTransport } from '../support/memory.js';

function setup(timers: { t1?: number } = {}) {
  const m = memoryTransport();
  const layer = new TransactionLayer(
    m.transport,
    { clock: m.clock, logger: silentLogger, counters: m.counters, timers },
    {
      onRequest: () => undefined,
    },
  );
  return { ...m, layer };
}

const target = { protocol: 'udp' as const, host: '127.0.0.1', port: 5070 };

function req(method: string) {
  return createRequest({
    method,
    uri: 'sip:bob@127.0.0.1:5070',
    from: '<sip:alice@127.0.0.1>;tag=a1',
    to: '<sip:bob@127.0.0.1>',
    callId: 'c1',
    cseq: 1,
  });
}

/** The response to what was last sent, with the same Via/CSeq. */
function answer(sent: Buffer, status: number, toTag = 'b1'): string {
  const r = parseMessage(sent);
  return [
    `SIP/2.0 ${status} X`,
    `Via: ${r.getAll('via')[0]}`,
    `From: ${r.get('from')}`,
    `To: ${r.get('to')};tag=${toTag}`,
    `Call-ID: ${r.callId}`,
    `CSeq: ${r.get('cseq')}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function sendTimes(s: ReturnType<typeof setup>, until: number, step = 50): number[] {
  const at: number[] = [];
  while (s.clock.now() < until) {
    s.clock.advance(step);
    if (s.udp.sent.length > 0) {
      at.push(s.clock.now());
      s.udp.sent.length = 0;
    }
  }
  return at;
}

describe('INVITE client transaction', () => {
  it('adds a Via with a magic-cookie branch and rport', async () => {
    const s = setup();
    await s.layer.createClient(req('INVITE'), target, {
      onFinal: () => undefined,
      onTimeout: () => undefined,
    });
    const sent = parseMessage(s.udp.sent[0]!.data);
    expect(sent.via?.branch?.startsWith('z9hG4bK')).toBe(true);
    expect(sent.via?.params.has('rport')).toBe(true);
    expect(sent.via?.port).toBe(5062);
  });

  it('retransmits on Timer A (T1 doubling) and times out on Timer B at 64·T1', async () => {
    const s = setup();
    let timeout = 0;
    await s.layer.createClient(req('INVITE'), target, {
      onFinal: () => undefined,
      onTimeout: () => timeout++,
    });
    s.udp.sent.length = 0;
    const at = sendTimes(s, 40_000, 250);
    expect(at).toEqual([500, 1500, 3500, 7500, 15500, 31500]);
    expect(timeout).toBe(1);
    expect(s.layer.size.clients).toBe(0);
  });

  it('stops retransmitting on 1xx; on 486 sends an ACK with the same branch and re-ACKs retransmissions', async () => {
    const s = setup();
    const finals: SipResponse[] = [];
    await s.layer.createClient(req('INVITE'), target, {
      onFinal: (r) => finals.push(r),
      onTimeout: () => undefined,
    });
    const inv = s.udp.sent[0]!.data;
    s.udp.sent.length = 0;
    s.udp.deliver(answer(inv, 180));
    expect(sendTimes(s, 5000)).toEqual([]);
    s.udp.deliver(answer(inv, 486));
    const ack = parseMessage(s.udp.sent[0]!.data);
    expect(ack.kind === 'request' && ack.method).toBe('ACK');
    expect(ack.via?.branch).toBe(parseMessage(inv).via?.branch);
    expect(ack.toTag).toBe('b1');
    expect(ack.cseq).toEqual({ seq: 1, method: 'ACK' });
    s.udp.sent.length = 0;
    s.udp.deliver(answer(inv, 486));
    expect(s.udp.sent).toHaveLength(1);
    expect(finals.map((f) => f.status)).toEqual([486]);
    s.clock.advance(32_000);
    expect(s.layer.size.clients).toBe(0);
  });

  // RFC 3261 §17.1.1.2 / Table 4: Timer D ≥ 32 s over UDP (the brief's rule: max(64·T1, 32 s)),
  // 0 over TCP. With T1 = 1 s it waits 64 s; with the default T1 = 500 ms, 32 s.
  it.each([
    [1000, 64_000],
    [500, 32_000],
    [100, 32_000],
  ])(
    'Timer D over UDP with T1 = %i ms: re-ACKs a retransmitted 486 until %i ms, not after',
    async (t1, d) => {
      const s = setup({ t1 });
      await s.layer.createClient(req('INVITE'), target, {
        onFinal: () => undefined,
        onTimeout: () => undefined,
      });
      const inv = s.udp.sent[0]!.data;
      s.udp.deliver(answer(inv, 486));
      s.udp.sent.length = 0;
      s.clock.advance(d - 1);
      s.udp.deliver(answer(inv, 486));
      expect(s.udp.messages().map((m) => (m.kind === 'request' ? m.method : m.status))).toEqual(['ACK']);
      expect(s.layer.size.clients).toBe(1);
      s.clock.advance(1);
      expect(s.layer.size.clients).toBe(0);
      s.udp.deliver(answer(inv, 486));
      expect(s.udp.sent).toHaveLength(0);
    },
  );

  it('passes every 2xx to the TU while Accepted, then ends on Timer M (RFC 6026)', async () => {
    const s = setup();
    const finals: number[] = [];
    const tx = await s.layer.createClient(req('INVITE'), target, {
      onFinal: (r) => finals.push(r.status),
      onTimeout: () => undefined,
    });
    const inv = s.udp.sent[0]!.data;
    s.udp.deliver(answer(inv, 200));
    s.udp.deliver(answer(inv, 200));
    expect(finals).toEqual([200, 200]);
    expect(tx.state).toBe('accepted');
    s.clock.advance(32_000);
    expect(tx.state).toBe('terminated');
  });

  it('does not retransmit over TCP', async () => {
    const s = setup();
    const [ours, theirs] = duplexPair();
    const received: Buffer[] = [];
    theirs.on('data', (d: Buffer) => received.push(d));
    s.transport.attachStream(
      ours,
      'tcp',
      { address: '127.0.0.1', port: 5062 },
      { address: '127.0.0.1', port: 5071 },
    );
    await s.layer.createClient(
      req('INVITE'),
      { protocol: 'tcp', host: '127.0.0.1', port: 5071 },
      {
        onFinal: () => undefined,
        onTimeout: () => undefined,
      },
    );
    s.clock.advance(20_000);
    await new Promise((r) => setImmediate(r));
    expect(received).toHaveLength(1);
    expect(parseMessage(received[0]!).via?.transport).toBe('TCP');
  });
});

describe('non-INVITE client transaction', () => {
  it('retransmits on Timer E (T1 doubling, capped at T2) and times out on Timer F', async () => {
    const s = setup();
    const p = s.layer.request(req('OPTIONS'), target);
    const outcome = p.then(
      () => 'resolved',
      (e: { code: string }) => e.code,
    );
    await Promise.resolve();
    s.udp.sent.length = 0;
    const at = sendTimes(s, 33_000, 250);
    expect(at.slice(0, 6)).toEqual([500, 1500, 3500, 7500, 11500, 15500]);
    expect(await outcome).toBe('SIP_ERR_TX_TIMEOUT');
  });

  it('retransmits every T2 once Proceeding, resolves on the final, absorbs copies, ends on Timer K', async () => {
    const s = setup();
    const p = s.layer.request(req('OPTIONS'), target);
    await Promise.resolve();
    const sent = s.udp.sent[0]!.data;
    s.udp.sent.length = 0;
    s.udp.deliver(answer(sent, 100));
    const at = sendTimes(s, 10_000, 250);
    expect(at).toEqual([500, 4500, 8500]);
    s.udp.deliver(answer(sent, 200));
    expect((await p).status).toBe(200);
    s.udp.deliver(answer(sent, 200));
    expect(s.counters.strayResponses).toBe(0);
    s.clock.advance(5000);
    expect(s.layer.size.clients).toBe(0);
  });

  it('rejects with SIP_ERR_TRANSPORT when there is no transport', async () => {
    const s = setup();
    await expect(
      s.layer.request(req('OPTIONS'), { protocol: 'udp', host: '::1', port: 5060 }),
    ).rejects.toMatchObject({
      code: 'SIP_ERR_TRANSPORT',
    });
  });
});
