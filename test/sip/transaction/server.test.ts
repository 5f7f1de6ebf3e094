/**
 * Server transactions (RFC 3261 §17.2, RFC 6026 §7.1) over an in-memory UDP socket and a fake
 * clock. Intervals expected here are the RFC's (T1 = 500 ms, T2 = 4 s, T4 = 5 s, 64·T1 = 32 s).
 */
import { describe, expect, it } from 'vitest';
import { createResponse } from '../../../sip/message/build.js';
import type { SipRequest } from '../../../sip/message/SipMessage.js';
import type { ServerTransaction } from '../../../sip/transaction/ServerTransaction.js';
import { TransactionLayer } from '../../../sip/transaction/TransactionLayer.js';
import { silentLogger } from '../../../lib/logger.js';
import { memoryTransport, sipText } from '../support/memory.js';

function invite(branch = 'z9hG4bK-inv1', method = 'INVITE'): string {
  return sipText([
    `${method} sip:alice@127.0.0.1:5062 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=${branch};rport`,
    'From: <sip:bob@127.0.0.1:5070>;tag=from1',
    'To: <sip:alice@127.0.0.1:5062>',
    'Call-ID: call-1@127.0.0.1',
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
  ]);
}

function setup(screen?: (req: SipRequest) => boolean) {
  const m = memoryTransport();
  const seen: { req: SipRequest; tx: ServerTransaction | undefined }[] = [];
  const layer = new TransactionLayer(
    m.transport,
    { clock: m.clock, logger: silentLogger, counters: m.counters },
    { onRequest: (req, tx) => seen.push({ req, tx }), ...(screen ? { screen } : {}) },
  );
  return { ...m, layer, seen };
}

describe('INVITE server transaction', () => {
  it('absorbs a retransmitted INVITE and resends the last provisional', () => {
    const s = setup();
    s.udp.deliver(invite());
    expect(s.seen).toHaveLength(1);
    const tx = s.seen[0]!.tx!;
    tx.respond(createResponse(tx.request, 100));
    expect(s.udp.messages()).toHaveLength(1);
    s.udp.deliver(invite());
    expect(s.seen).toHaveLength(1);
    const again = s.udp.messages();
    expect(again.map((m) => (m.kind === 'response' ? m.status : 0))).toEqual([100]);
    expect(s.counters.retransmissionsAbsorbed).toBe(1);
  });

  it('routes responses to received/rport (RFC 3581) of the top Via', () => {
    const s = setup();
    s.udp.deliver(invite(), { address: '127.0.0.9', port: 40000 });
    const tx = s.seen[0]!.tx!;
    expect(tx.request.getAll('via')[0]).toContain(';rport=40000;received=127.0.0.9');
    tx.respond(createResponse(tx.request, 180, { toTag: 't' }));
    expect(s.udp.sent[0]!.to).toEqual({ address: '127.0.0.9', port: 40000 });
  });

  it('retransmits a non-2xx final on Timer G (T1 doubling to T2) until the ACK, then Timer I', () => {
    const s = setup();
    s.udp.deliver(invite());
    const tx = s.seen[0]!.tx!;
    tx.respond(createResponse(tx.request, 486, { toTag: 't' }));
    s.udp.messages();
    const at: number[] = [];
    for (let t = 0; t < 12_000; t += 50) {
      s.clock.advance(50);
      if (s.udp.sent.length > 0) {
        at.push(s.clock.now());
        s.udp.sent.length = 0;
      }
    }
    // 500, 1500, 3500, 7500, 11500 (intervals 0.5, 1, 2, 4, 4 s).
    expect(at).toEqual([500, 1500, 3500, 7500, 11500]);
    s.udp.deliver(invite('z9hG4bK-inv1', 'ACK').replace('CSeq: 1 ACK', 'CSeq: 1 ACK'));
    expect(tx.state).toBe('confirmed');
    s.clock.advance(4999);
    expect(tx.state).toBe('confirmed');
    s.clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(s.layer.size.servers).toBe(0);
  });

  it('gives up on Timer H (64·T1) without an ACK and reports it', () => {
    const s = setup();
    s.udp.deliver(invite());
    const tx = s.seen[0]!.tx!;
    let timedOut = false;
    tx.events.onAckTimeout = () => {
      timedOut = true;
    };
    tx.respond(createResponse(tx.request, 603, { toTag: 't' }));
    s.clock.advance(31_999);
    expect(timedOut).toBe(false);
    s.clock.advance(1);
    expect(timedOut).toBe(true);
    expect(tx.state).toBe('terminated');
  });

  it('enters Accepted on 2xx, absorbs INVITE retransmissions, ends on Timer L (RFC 6026)', () => {
    const s = setup();
    s.udp.deliver(invite());
    const tx = s.seen[0]!.tx!;
    tx.respond(createResponse(tx.request, 200, { toTag: 't' }));
    expect(tx.state).toBe('accepted');
    s.udp.messages();
    s.udp.deliver(invite());
    expect(s.udp.sent).toHaveLength(0);
    expect(s.seen).toHaveLength(1);
    s.clock.advance(32_000);
    expect(tx.state).toBe('terminated');
  });

  it('passes an ACK with a new branch (2xx ACK) to the TU without a transaction', () => {
    const s = setup();
    s.udp.deliver(invite());
    s.udp.deliver(invite('z9hG4bK-ack2', 'ACK'));
    expect(s.seen[1]?.req.method).toBe('ACK');
    expect(s.seen[1]?.tx).toBeUndefined();
  });
});

describe('non-INVITE server transaction', () => {
  it('absorbs retransmissions (silently while Trying), resends the final, ends on Timer J', () => {
    const s = setup();
    s.udp.deliver(invite('z9hG4bK-o1', 'OPTIONS'));
    const tx = s.seen[0]!.tx!;
    s.udp.deliver(invite('z9hG4bK-o1', 'OPTIONS'));
    expect(s.udp.sent).toHaveLength(0);
    tx.respond(createResponse(tx.request, 200, { toTag: 't' }));
    s.udp.deliver(invite('z9hG4bK-o1', 'OPTIONS'));
    expect(s.udp.messages()).toHaveLength(2);
    s.clock.advance(31_999);
    expect(tx.state).toBe('completed');
    s.clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('matches RFC 2543 requests (no magic cookie) by Call-ID, CSeq, tags and Via', () => {
    const s = setup();
    s.udp.deliver(invite('oldbranch1', 'OPTIONS'));
    s.udp.deliver(invite('oldbranch1', 'OPTIONS'));
    expect(s.seen).toHaveLength(1);
    expect(s.counters.retransmissionsAbsorbed).toBe(1);
  });
});

describe('screening new requests', () => {
  it('a request the screen refuses gets no transaction and nothing is sent; its retransmission is screened again', () => {
    const asked: string[] = [];
    let admit = false;
    const s = setup((req) => {
      asked.push(`${req.method} ${req.via?.branch ?? ''}`);
      return admit;
    });
    s.udp.deliver(invite());
    expect(s.seen).toHaveLength(0);
    expect(s.layer.size.servers).toBe(0);
    expect(s.udp.sent).toHaveLength(0);
    s.clock.advance(64 * 500); // no timer of any transaction fires either
    expect(s.udp.sent).toHaveLength(0);
    // The caller retransmits (Timer A): the retransmission matches nothing and is screened again.
    admit = true;
    s.udp.deliver(invite());
    expect(asked).toEqual(['INVITE z9hG4bK-inv1', 'INVITE z9hG4bK-inv1']);
    expect(s.seen).toHaveLength(1);
    expect(s.layer.size.servers).toBe(1);
  });

  it('is not consulted for requests matching a transaction, nor for ACKs', () => {
    const asked: string[] = [];
    const s = setup((req) => {
      asked.push(req.method);
      return true;
    });
    s.udp.deliver(invite());
    const tx = s.seen[0]!.tx!;
    s.udp.deliver(invite()); // retransmission: absorbed by the transaction
    tx.respond(createResponse(tx.request, 486, { toTag: 't' }));
    s.udp.deliver(invite('z9hG4bK-inv1', 'ACK')); // ACK for the 486: the transaction's
    s.udp.deliver(invite('z9hG4bK-ack2', 'ACK')); // ACK matching nothing (2xx ACK): to the TU
    s.udp.deliver(invite('z9hG4bK-o1', 'OPTIONS'));
    expect(asked).toEqual(['INVITE', 'OPTIONS']);
    expect(s.counters.retransmissionsAbsorbed).toBe(1);
  });
});
