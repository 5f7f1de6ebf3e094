/**
 * Log volume (issue #10): bad input arrives per message, so a flood of it must not become a flood
 * of log lines. Each kind of failure is logged when it first happens, then counted; the count is
 * logged (`repeated`) with the first one after a minute, or when the transport stops.
 */
import { describe, expect, it } from 'vitest';
import { memoryTransport, recordingLogger, sipText } from '../support/memory.js';
import { memoryStack } from '../support/memoryStack.js';

const badVia = (i: number): string =>
  sipText([
    'OPTIONS sip:alice@127.0.0.1 SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK${i}, bogus`,
    'From: <sip:bob@127.0.0.1>;tag=1',
    'To: <sip:alice@127.0.0.1>',
    `Call-ID: c${i}`,
    'CSeq: 1 OPTIONS',
  ]);

describe('bad input is logged once per kind, with a count', () => {
  it('1,000 garbage datagrams and 1,000 requests with a bad Via: two lines, then the counts', async () => {
    const logger = recordingLogger();
    const m = memoryTransport({ logger });
    m.transport.setDelegate({ onRequest: () => undefined, onResponse: () => undefined });
    for (let i = 0; i < 1000; i++) {
      m.udp.deliver(Buffer.from(`garbage ${i}\r\n\r\n`));
      m.udp.deliver(badVia(i));
    }
    expect(m.counters.malformedDropped + m.counters.malformedRejected).toBe(2000);
    expect(logger.lines).toHaveLength(2);
    m.clock.advance(60_000);
    m.udp.deliver(badVia(1000));
    expect(logger.lines).toHaveLength(3);
    expect(logger.lines[2]?.obj).toMatchObject({ repeated: 999 });
    await m.transport.stop();
    expect(logger.lines).toHaveLength(4);
    expect(logger.lines[3]?.obj).toMatchObject({ repeated: 999 });
    expect(logger.lines[3]?.msg).toBe(logger.lines[0]?.msg);
  });
});

describe('floods above the transport are logged once per kind too', () => {
  const strayOk = (i: number): string =>
    sipText([
      'SIP/2.0 200 OK',
      `Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-stray${i}`,
      'From: <sip:bob@127.0.0.1>;tag=1',
      'To: <sip:alice@127.0.0.1>;tag=2',
      `Call-ID: stray${i}`,
      'CSeq: 1 OPTIONS',
    ]);
  const options = (i: number): string =>
    sipText([
      'OPTIONS sip:alice@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-scan${i}`,
      'From: <sip:scanner@127.0.0.1>;tag=1',
      'To: <sip:alice@127.0.0.1>',
      `Call-ID: scan${i}`,
      'CSeq: 1 OPTIONS',
    ]);

  it('1,000 stray responses and 1,000 screened-out requests: one debug line each, then the counts', () => {
    const logger = recordingLogger();
    const ms = memoryStack(undefined, { logger }, { screen: () => 'drop' });
    for (let i = 0; i < 1000; i++) {
      ms.send(strayOk(i));
      ms.send(options(i));
    }
    expect(ms.stack.counters.strayResponses).toBe(1000);
    expect(ms.stack.counters.screenedOut).toBe(1000);
    const lines = (msg: string): number => logger.lines.filter((l) => l.msg === msg).length;
    expect(lines('stray response dropped')).toBe(1);
    expect(lines('request screened out: dropped without an answer')).toBe(1);
    ms.clock.advance(60_000);
    ms.send(strayOk(1000));
    expect(logger.lines.filter((l) => l.msg === 'stray response dropped').at(-1)?.obj).toMatchObject({
      repeated: 999,
    });
  });
});
