// RTP/RTCP port pairs in a configured range: an even RTP port and the next one for RTCP
// (RFC 3550 §11), counted by hand for each range below.
import { describe, expect, it } from 'vitest';
import { portPairCount } from '../../../rtp/session/socket.js';

describe('portPairCount', () => {
  it('counts the even/odd pairs inside the range', () => {
    expect(portPairCount(20000, 29999)).toBe(5000); // the default range
    expect(portPairCount(30000, 30019)).toBe(10);
    // 30001 is odd: pairs start at 30002; 30010 has no partner inside the range.
    expect(portPairCount(30001, 30010)).toBe(4); // 30002/3, 30004/5, 30006/7, 30008/9
    expect(portPairCount(30000, 30001)).toBe(1);
    expect(portPairCount(30001, 30002)).toBe(0); // 30002 needs 30003
  });
});
