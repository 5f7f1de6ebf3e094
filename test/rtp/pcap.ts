/**
 * A minimal reader of classic libpcap files (Ethernet or raw IPv4, UDP only), for tests that take
 * their RTP packets from captures. Independent of rtp/ on purpose.
 */
import { readFileSync } from 'node:fs';

export interface PcapUdp {
  /** Capture time in microseconds since the epoch. */
  timeUs: number;
  srcPort: number;
  dstPort: number;
  /** The UDP payload (a view into the file). */
  payload: Uint8Array;
}

export function readPcapUdp(path: string): PcapUdp[] {
  const file = readFileSync(path);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = v.getUint32(0, true);
  const le = magic === 0xa1b2c3d4;
  if (!le && magic !== 0xd4c3b2a1) {
    throw new Error(`not a pcap file: magic ${magic.toString(16)}`);
  }
  const linkType = v.getUint32(20, le);
  const out: PcapUdp[] = [];
  let pos = 24;
  while (pos + 16 <= file.byteLength) {
    const sec = v.getUint32(pos, le);
    const usec = v.getUint32(pos + 4, le);
    const incl = v.getUint32(pos + 8, le);
    let p = pos + 16;
    const end = p + incl;
    pos = end;
    if (linkType === 1) {
      if (v.getUint16(p + 12) !== 0x0800) {
        continue;
      }
      p += 14;
    } else if (linkType !== 101 && linkType !== 228) {
      throw new Error(`unsupported link type ${linkType}`);
    }
    const ihl = (v.getUint8(p) & 0x0f) * 4;
    if (v.getUint8(p + 9) !== 17) {
      continue;
    }
    p += ihl;
    const udpLen = v.getUint16(p + 4);
    out.push({
      timeUs: sec * 1e6 + usec,
      srcPort: v.getUint16(p),
      dstPort: v.getUint16(p + 2),
      payload: file.subarray(p + 8, Math.min(end, p + udpLen)),
    });
  }
  return out;
}
