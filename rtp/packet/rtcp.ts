import { RtpParseError } from '../errors.js';

/**
 * RTCP compound packets (RFC 3550 §6): parse SR, RR, SDES, BYE (other types are kept as raw views),
 * and build the compound report this receiver sends (SR or RR, then SDES CNAME, then optionally BYE).
 *
 * @see RFC 3550 §6.4.1 (SR), §6.4.2 (RR), §6.5 (SDES), §6.6 (BYE), A.2 (header validity checks),
 *   RFC 5506 (reduced-size RTCP)
 */

/** RTCP packet types (RFC 3550 §12.1). */
const RTCP_SR = 200;
const RTCP_RR = 201;
const RTCP_SDES = 202;
const RTCP_BYE = 203;
/** The RTCP packet types (RFC 5761 §4: 192–223, the range rtcp-mux sets apart from RTP). */
const RTCP_TYPE_MIN = 192;
const RTCP_TYPE_MAX = 223;
/** SDES item types (RFC 3550 §6.5). */
const SDES_CNAME = 1;

/** One reception report block (RFC 3550 §6.4.1). */
export interface ReportBlock {
  ssrc: number;
  /** Fraction lost since the previous report, in 1/256 (0–255). */
  fractionLost: number;
  /** Cumulative number of packets lost (signed 24 bit). */
  cumulativeLost: number;
  /** Extended highest sequence number received. */
  extendedHighestSeq: number;
  /** Interarrival jitter, in timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received, 0 if none. */
  lastSr: number;
  /** Delay since that SR, in 1/65536 s; 0 if none. */
  delaySinceLastSr: number;
}

/** Sender information of an SR (RFC 3550 §6.4.1). */
export interface SenderInfo {
  ntpSec: number;
  ntpFrac: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

type RtcpPacket =
  | ({ type: 'sr'; ssrc: number; reports: ReportBlock[] } & SenderInfo)
  | { type: 'rr'; ssrc: number; reports: ReportBlock[] }
  | { type: 'sdes'; chunks: { ssrc: number; items: { type: number; value: string }[] }[] }
  | { type: 'bye'; ssrcs: number[]; reason?: string }
  | { type: 'other'; packetType: number; count: number; body: Uint8Array };

/** Cheap test used to demultiplex RTP and RTCP on one port (RFC 5761 §4: PT 64–95 are RTCP). */
export function isRtcp(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && bytes[0]! >> 6 === 2 && bytes[1]! >= 192 && bytes[1]! <= 223;
}

function readBlocks(v: DataView, pos: number, count: number, end: number): ReportBlock[] {
  if (pos + 24 * count > end) {
    throw new RtpParseError('RTCP_ERR_LENGTH', `${count} report blocks do not fit in ${end - pos} bytes`);
  }
  const out: ReportBlock[] = [];
  for (let i = 0; i < count; i++, pos += 24) {
    out.push({
      ssrc: v.getUint32(pos),
      fractionLost: v.getUint8(pos + 4),
      cumulativeLost: ((v.getUint32(pos + 4) & 0xffffff) << 8) >> 8,
      extendedHighestSeq: v.getUint32(pos + 8),
      jitter: v.getUint32(pos + 12),
      lastSr: v.getUint32(pos + 16),
      delaySinceLastSr: v.getUint32(pos + 20),
    });
  }
  return out;
}

const text = new TextDecoder();

/** How {@link parseRtcp} checks the first packet. */
interface ParseRtcpOptions {
  /**
   * Accept reduced-size RTCP (RFC 5506): the datagram may start with any RTCP packet type (192–223)
   * instead of SR or RR, e.g. an APP or BYE alone. Every other check of RFC 3550 A.2 stays.
   */
  reducedSize?: boolean;
}

/**
 * Parses a compound RTCP packet with the validity checks of RFC 3550 A.2 (the first packet SR or
 * RR, or with `reducedSize` any RTCP type; version 2; padding only in the last packet; the lengths
 * adding up to the datagram).
 * @throws {RtpParseError} `RTCP_ERR_TRUNCATED`, `RTCP_ERR_VERSION`, `RTCP_ERR_LENGTH`,
 *   `RTCP_ERR_PADDING`, `RTCP_ERR_FIRST_PACKET`
 */
export function parseRtcp(bytes: Uint8Array, options: ParseRtcpOptions = {}): RtcpPacket[] {
  const len = bytes.byteLength;
  if (len < 4) {
    throw new RtpParseError('RTCP_ERR_TRUNCATED', `RTCP packet of ${len} bytes is shorter than 4`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, len);
  const out: RtcpPacket[] = [];
  let pos = 0;
  while (pos < len) {
    if (pos + 4 > len) {
      throw new RtpParseError('RTCP_ERR_TRUNCATED', `RTCP header at ${pos} beyond ${len} bytes`);
    }
    const b0 = v.getUint8(pos);
    if (b0 >> 6 !== 2) {
      throw new RtpParseError('RTCP_ERR_VERSION', `RTCP version ${b0 >> 6} at ${pos}, expected 2`);
    }
    const count = b0 & 0x1f;
    const pt = v.getUint8(pos + 1);
    const end = pos + 4 * (v.getUint16(pos + 2) + 1);
    if (end > len) {
      throw new RtpParseError('RTCP_ERR_LENGTH', `RTCP packet at ${pos} ends at ${end}, beyond ${len} bytes`);
    }
    if (out.length === 0 && pt !== RTCP_SR && pt !== RTCP_RR) {
      if (!options.reducedSize) {
        throw new RtpParseError('RTCP_ERR_FIRST_PACKET', `compound RTCP starts with type ${pt}, not SR/RR`);
      }
      if (pt < RTCP_TYPE_MIN || pt > RTCP_TYPE_MAX) {
        throw new RtpParseError('RTCP_ERR_FIRST_PACKET', `RTCP starts with type ${pt}, not an RTCP type`);
      }
    }
    let bodyEnd = end;
    if (b0 & 0x20) {
      const padding = v.getUint8(end - 1);
      if (end !== len || padding === 0 || padding > end - pos - 4) {
        throw new RtpParseError('RTCP_ERR_PADDING', `invalid RTCP padding ${padding} in packet at ${pos}`);
      }
      bodyEnd = end - padding;
    }
    const body = pos + 4;
    switch (pt) {
      case RTCP_SR: {
        if (body + 24 > bodyEnd) {
          throw new RtpParseError('RTCP_ERR_LENGTH', `SR at ${pos} is shorter than 28 bytes`);
        }
        out.push({
          type: 'sr',
          ssrc: v.getUint32(body),
          ntpSec: v.getUint32(body + 4),
          ntpFrac: v.getUint32(body + 8),
          rtpTimestamp: v.getUint32(body + 12),
          packetCount: v.getUint32(body + 16),
          octetCount: v.getUint32(body + 20),
          reports: readBlocks(v, body + 24, count, bodyEnd),
        });
        break;
      }
      case RTCP_RR: {
        if (body + 4 > bodyEnd) {
          throw new RtpParseError('RTCP_ERR_LENGTH', `RR at ${pos} is shorter than 8 bytes`);
        }
        out.push({ type: 'rr', ssrc: v.getUint32(body), reports: readBlocks(v, body + 4, count, bodyEnd) });
        break;
      }
      case RTCP_SDES: {
        const chunks: { ssrc: number; items: { type: number; value: string }[] }[] = [];
        let p = body;
        for (let c = 0; c < count; c++) {
          if (p + 4 > bodyEnd) {
            throw new RtpParseError('RTCP_ERR_LENGTH', `SDES chunk ${c} at ${p} beyond ${bodyEnd}`);
          }
          const items: { type: number; value: string }[] = [];
          const ssrc = v.getUint32(p);
          p += 4;
          for (;;) {
            if (p >= bodyEnd) {
              throw new RtpParseError('RTCP_ERR_LENGTH', `SDES chunk ${c} has no terminating null item`);
            }
            const t = v.getUint8(p);
            if (t === 0) {
              p = (p + 4) & ~3; // skip the null octet(s) up to the next 32-bit boundary
              break;
            }
            const l = p + 1 < bodyEnd ? v.getUint8(p + 1) : -1;
            if (l < 0 || p + 2 + l > bodyEnd) {
              throw new RtpParseError('RTCP_ERR_LENGTH', `SDES item at ${p} beyond ${bodyEnd}`);
            }
            items.push({ type: t, value: text.decode(bytes.subarray(p + 2, p + 2 + l)) });
            p += 2 + l;
          }
          chunks.push({ ssrc, items });
        }
        out.push({ type: 'sdes', chunks });
        break;
      }
      case RTCP_BYE: {
        if (body + 4 * count > bodyEnd) {
          throw new RtpParseError('RTCP_ERR_LENGTH', `BYE with ${count} SSRCs beyond ${bodyEnd}`);
        }
        const ssrcs: number[] = [];
        for (let i = 0; i < count; i++) {
          ssrcs.push(v.getUint32(body + 4 * i));
        }
        const r = body + 4 * count;
        if (r < bodyEnd) {
          const l = v.getUint8(r);
          if (r + 1 + l > bodyEnd) {
            throw new RtpParseError('RTCP_ERR_LENGTH', `BYE reason of ${l} bytes beyond ${bodyEnd}`);
          }
          out.push({ type: 'bye', ssrcs, reason: text.decode(bytes.subarray(r + 1, r + 1 + l)) });
        } else {
          out.push({ type: 'bye', ssrcs });
        }
        break;
      }
      default:
        out.push({ type: 'other', packetType: pt, count, body: bytes.subarray(body, bodyEnd) });
    }
    pos = end;
  }
  return out;
}

/** What {@link buildRtcpReport} puts in a compound packet. */
interface RtcpReportInit {
  ssrc: number;
  /** Present when we sent RTP since the last report: an SR instead of an RR. */
  sender?: SenderInfo;
  reports: readonly ReportBlock[];
  cname: string;
  /** Appends a BYE (with an optional reason). */
  bye?: { reason?: string };
}

const encoder = new TextEncoder();

/**
 * Builds a compound RTCP packet: SR or RR (≤ 31 report blocks), SDES with CNAME, optional BYE
 * (RFC 3550 §6.1: every compound packet carries an SDES CNAME).
 */
export function buildRtcpReport(init: RtcpReportInit): Uint8Array {
  const reports = init.reports.slice(0, 31);
  const cname = encoder.encode(init.cname).subarray(0, 255);
  const reason =
    init.bye?.reason !== undefined ? encoder.encode(init.bye.reason).subarray(0, 255) : undefined;
  const first = (init.sender ? 28 : 8) + 24 * reports.length;
  const sdes = (8 + 2 + cname.byteLength + 4) & ~3; // header, ssrc, item, ≥ 1 null octet, 32-bit aligned
  const bye = init.bye ? (8 + (reason ? 1 + reason.byteLength : 0) + 3) & ~3 : 0;
  const out = new Uint8Array(first + sdes + bye);
  const v = new DataView(out.buffer);
  v.setUint8(0, 0x80 | reports.length);
  v.setUint8(1, init.sender ? RTCP_SR : RTCP_RR);
  v.setUint16(2, first / 4 - 1);
  v.setUint32(4, init.ssrc >>> 0);
  let p = 8;
  if (init.sender) {
    const s = init.sender;
    v.setUint32(8, s.ntpSec >>> 0);
    v.setUint32(12, s.ntpFrac >>> 0);
    v.setUint32(16, s.rtpTimestamp >>> 0);
    v.setUint32(20, s.packetCount >>> 0);
    v.setUint32(24, s.octetCount >>> 0);
    p = 28;
  }
  for (const r of reports) {
    v.setUint32(p, r.ssrc >>> 0);
    v.setUint32(p + 4, ((r.fractionLost & 0xff) << 24) | (r.cumulativeLost & 0xffffff));
    v.setUint32(p + 8, r.extendedHighestSeq >>> 0);
    v.setUint32(p + 12, r.jitter >>> 0);
    v.setUint32(p + 16, r.lastSr >>> 0);
    v.setUint32(p + 20, r.delaySinceLastSr >>> 0);
    p += 24;
  }
  v.setUint8(p, 0x81);
  v.setUint8(p + 1, RTCP_SDES);
  v.setUint16(p + 2, sdes / 4 - 1);
  v.setUint32(p + 4, init.ssrc >>> 0);
  v.setUint8(p + 8, SDES_CNAME);
  v.setUint8(p + 9, cname.byteLength);
  out.set(cname, p + 10);
  p += sdes; // the rest of the chunk is zero: the null item and padding
  if (init.bye) {
    v.setUint8(p, 0x81);
    v.setUint8(p + 1, RTCP_BYE);
    v.setUint16(p + 2, bye / 4 - 1);
    v.setUint32(p + 4, init.ssrc >>> 0);
    if (reason) {
      v.setUint8(p + 8, reason.byteLength);
      out.set(reason, p + 9);
    }
  }
  return out;
}

/**
 * RFC 3550 A.7 `rtcp_interval` (without reconsideration), in ms: the deterministic interval scaled
 * by a random factor in [0.5, 1.5] and divided by e − 3/2 for timer reconsideration compensation.
 * @param members current session members (2 for a call)
 * @param senders members that sent RTP in the last interval
 * @param rtcpBw RTCP bandwidth in octets per second (5 % of the session bandwidth)
 * @param weSent whether we sent RTP in the last interval
 * @param avgRtcpSize average compound RTCP packet size in octets (with UDP/IP overhead)
 * @param initial true before the first report (minimum interval halved)
 * @param random a number in [0, 1) (injected for tests)
 */
export function rtcpIntervalMs(
  members: number,
  senders: number,
  rtcpBw: number,
  weSent: boolean,
  avgRtcpSize: number,
  initial: boolean,
  random: number,
): number {
  const RTCP_MIN_TIME = 5;
  const RTCP_SENDER_BW_FRACTION = 0.25;
  const RTCP_RCVR_BW_FRACTION = 1 - RTCP_SENDER_BW_FRACTION;
  const COMPENSATION = Math.E - 1.5;
  const minTime = initial ? RTCP_MIN_TIME / 2 : RTCP_MIN_TIME;
  let n = members;
  let bw = rtcpBw;
  if (senders <= members * RTCP_SENDER_BW_FRACTION) {
    if (weSent) {
      bw *= RTCP_SENDER_BW_FRACTION;
      n = senders;
    } else {
      bw *= RTCP_RCVR_BW_FRACTION;
      n -= senders;
    }
  }
  let t = (avgRtcpSize * n) / bw;
  if (t < minTime) {
    t = minTime;
  }
  t = t * (random + 0.5);
  return (t / COMPENSATION) * 1000;
}
