import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../lib/logger.js';
import { RtpPacket, serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { SourceTracker } from '../../../rtp/session/SourceTracker.js';

const packet = (seq: number, ts: number): RtpPacket =>
  new RtpPacket(
    serializeRtp({ payloadType: 9, sequenceNumber: seq, timestamp: ts, ssrc: 0x1234 }, new Uint8Array(160)),
  );

describe('SourceTracker', () => {
  it('measures A.8 jitter at the negotiated clock rate (16 kHz: 320 ticks per 20 ms)', () => {
    const delivered: number[] = [];
    const t = new SourceTracker(silentLogger, {
      deliver: (p) => delivered.push(p.sequenceNumber),
      newSource: () => {},
    });
    t.setClockRate(16000);
    // A perfectly regular 16 kHz sender: 20 ms apart on the wire, 320 timestamp ticks apart.
    for (let k = 0; k < 200; k++) {
      t.receive(packet(k, k * 320), 1000 + k * 20);
    }
    expect(delivered).toHaveLength(200);
    // RFC 3550 A.8: D = (Rj − Ri) − (Sj − Si) in timestamp units is 0 for every pair, so J stays 0.
    // (Arrival times converted at 8 kHz would give D = 160 − 320 every packet, J → 160.)
    expect(t.source!.jitter).toBe(0);
  });

  it('keeps 8 kHz when told so: 20 ms of 160 ticks is jitter-free', () => {
    const t = new SourceTracker(silentLogger, { deliver: () => {}, newSource: () => {} });
    t.setClockRate(8000);
    for (let k = 0; k < 50; k++) {
      t.receive(packet(k, k * 160), 1000 + k * 20);
    }
    expect(t.source!.jitter).toBe(0);
  });
});
