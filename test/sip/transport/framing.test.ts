/**
 * The TCP/TLS framer's work is linear in the bytes it receives (issue #10: a 64 KB message dripped
 * one byte at a time was re-concatenated and re-scanned on every byte, 337 ms of CPU). Measured
 * without a clock: every byte the framer copies (Buffer.concat, Buffer.from, buf.copy,
 * TypedArray set), searches (buf.indexOf from its offset) or decodes (buf.toString) is counted by
 * wrapping those methods while it runs.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../sip/message/parser.js';
import { StreamFramer } from '../../../sip/transport/framing.js';

type Measure = (self: Uint8Array, args: readonly unknown[], result: unknown) => number;

const lengthOf = (x: unknown): number => (x instanceof Uint8Array || typeof x === 'string' ? x.length : 0);

const BUFFER_PROTO = Buffer.prototype as object;

/** [object, method, bytes one call touches] for every Buffer method that copies, searches or decodes. */
const MEASURED: [object, string, Measure][] = [
  [Buffer, 'concat', (_s, _a, r) => lengthOf(r)],
  [Buffer, 'from', (_s, _a, r) => lengthOf(r)],
  [BUFFER_PROTO, 'copy', (_s, _a, r) => (typeof r === 'number' ? r : 0)],
  [BUFFER_PROTO, 'toString', (_s, _a, r) => lengthOf(r)],
  [Uint8Array.prototype, 'set', (_s, a) => lengthOf(a[0])],
  [BUFFER_PROTO, 'indexOf', (self, a) => self.length - (typeof a[1] === 'number' ? Math.max(0, a[1]) : 0)],
];

/** Runs `fn` and returns the bytes Buffer methods copied, searched or decoded meanwhile. */
function bytesTouched(fn: () => void): number {
  let work = 0;
  const restore: (() => void)[] = [];
  for (const [target, name, measure] of MEASURED) {
    const holder = target as Record<string, unknown>;
    const original = holder[name] as (this: unknown, ...args: unknown[]) => unknown;
    holder[name] = function (this: Uint8Array, ...args: unknown[]): unknown {
      const result = original.apply(this, args);
      work += measure(this, args, result);
      return result;
    };
    restore.push(() => {
      holder[name] = original;
    });
  }
  try {
    fn();
  } finally {
    for (const r of restore) {
      r();
    }
  }
  return work;
}

function message(bodyBytes: number, branch = 'z9hG4bK1'): Buffer {
  const body = 'x'.repeat(bodyBytes);
  return Buffer.from(
    [
      'MESSAGE sip:alice@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/TCP 127.0.0.1:5071;branch=${branch}`,
      'From: <sip:bob@127.0.0.1>;tag=1',
      'To: <sip:alice@127.0.0.1>',
      'Call-ID: c1',
      'CSeq: 1 MESSAGE',
      `Content-Length: ${body.length}`,
      '',
      body,
    ].join('\r\n'),
  );
}

/** Feeds `bytes` in chunks of `size` bytes; returns the messages framed. */
function drip(f: StreamFramer, bytes: Buffer, size: number): Buffer[] {
  const got: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const out = f.push(Buffer.from(bytes.subarray(i, i + size)));
    expect(out.error).toBeUndefined();
    got.push(...out.messages);
  }
  return got;
}

describe('StreamFramer work', () => {
  it('a 64 KB message dripped one byte at a time: each byte touched a bounded number of times', () => {
    const msg = message(65_000);
    const chunks = Array.from(msg, (b) => Buffer.of(b));
    const f = new StreamFramer(65_535);
    const got: Buffer[] = [];
    const work = bytesTouched(() => {
      for (const c of chunks) {
        got.push(...f.push(c).messages);
      }
    });
    expect(got).toHaveLength(1);
    expect(got[0]?.equals(msg)).toBe(true);
    expect(work).toBeLessThan(8 * msg.length);
  });

  it('twice the bytes (the header section dripped, pipelined messages in 7-byte chunks) cost at most twice the work', () => {
    const stream = (n: number): Buffer =>
      Buffer.concat(Array.from({ length: n }, (_, i) => message(3000, `z9hG4bK${i}`)));
    const one = stream(10);
    const two = stream(20);
    const w1 = bytesTouched(() => drip(new StreamFramer(65_535), one, 7));
    const w2 = bytesTouched(() => drip(new StreamFramer(65_535), two, 7));
    expect(w2 / w1).toBeLessThan(2.2);
    expect(w2).toBeLessThan(8 * two.length);
  });

  it('frames what it counted: pipelined messages in odd chunks, keep-alives between them', () => {
    const a = message(10, 'z9hG4bKa');
    const b = message(0, 'z9hG4bKb');
    const bytes = Buffer.concat([Buffer.from('\r\n\r\n'), a, b, Buffer.from('\r\n\r\n'), a]);
    for (const size of [1, 2, 3, 5, 64, bytes.length]) {
      const got = drip(new StreamFramer(65_535), bytes, size);
      expect(got.map((m) => parseMessage(m).via?.branch)).toEqual(['z9hG4bKa', 'z9hG4bKb', 'z9hG4bKa']);
    }
  });
});
