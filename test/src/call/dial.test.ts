import { describe, expect, it } from 'vitest';
import { dialSummary } from '../../../src/call/dial.js';

const answered = { ok: true, status: 200, fileMs: 78_720, codec: 'PCMU' } as const;

describe('dialSummary', () => {
  it('says what was sent of the file and that the callee hung up', () => {
    expect(dialSummary({ ...answered, endReason: 'bye-remote', sentMs: 19_000, packetsSent: 950 })).toBe(
      'call answered (PCMU), sent 19.00 s of 78.72 s of audio in 950 RTP packets, ended: the callee hung up',
    );
  });

  it('says the file was played to its end and we hung up', () => {
    expect(dialSummary({ ...answered, endReason: 'bye-local', sentMs: 78_720, packetsSent: 3986 })).toBe(
      'call answered (PCMU), sent 78.72 s of 78.72 s of audio in 3986 RTP packets, ended: end of the file, we hung up',
    );
  });

  it('names an abnormal end and what was sent until then', () => {
    const r = { ...answered, ok: false, sentMs: 5_020, packetsSent: 251 };
    expect(dialSummary({ ...r, endReason: 'session-expired' })).toBe(
      'call answered (PCMU) but ended abnormally (session-expired) after sending 5.02 s of 78.72 s of audio in 251 RTP packets',
    );
    expect(dialSummary({ ...r, endReason: null })).toBe(
      'call answered (PCMU) but ended abnormally (no answer to our BYE) after sending 5.02 s of 78.72 s of audio in 251 RTP packets',
    );
  });

  it('gives the SIP status of a call that was not answered', () => {
    expect(
      dialSummary({
        ok: false,
        status: 486,
        endReason: 'rejected',
        fileMs: 78_720,
        sentMs: 0,
        packetsSent: 0,
        codec: null,
      }),
    ).toBe('call failed: SIP 486');
  });
});
