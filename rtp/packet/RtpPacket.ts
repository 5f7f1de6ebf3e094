import { RtpParseError } from '../errors.js';

const EMPTY = new Uint8Array(0);

/** Big-endian 16-bit value at `i`. */
function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

/** Big-endian 32-bit value at `i` (unsigned). */
function u32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

/**
 * An RTP packet (RFC 3550 §5.1) parsed as a view over the received bytes: nothing is copied, the
 * payload and the header extension are `Uint8Array` views into the caller's buffer (with its
 * `byteOffset`, so Node's pooled `Buffer`s work).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * @see RFC 3550 §5.1 (header), §5.3.1 (header extension), A.1 (validity checks)
 */
export class RtpPacket {
  /** The whole packet, as received. */
  bytes: Uint8Array = EMPTY;
  padding = false;
  extension = false;
  csrcCount = 0;
  marker = false;
  payloadType = 0;
  sequenceNumber = 0;
  timestamp = 0;
  ssrc = 0;
  /** Header extension profile (the 16 "defined by profile" bits), or -1 without extension. */
  extensionProfile = -1;
  /** Header extension data (without its 4-byte header), a view; empty without extension. */
  extensionData: Uint8Array = EMPTY;
  /** The payload, a view into the received bytes (padding excluded). */
  payload: Uint8Array = EMPTY;
  /** Number of padding octets at the end (including the count octet), 0 without padding. */
  paddingLength = 0;

  /**
   * Parses `bytes` without copying (see {@link RtpPacket.parse}); without bytes, an empty packet to
   * parse into later.
   * @throws {RtpParseError} as {@link RtpPacket.parse}
   */
  constructor(bytes?: Uint8Array) {
    if (bytes !== undefined) {
      this.parse(bytes);
    }
  }

  /**
   * Parses `bytes` into this object without copying (the receive path reuses one object: only the
   * payload view is new per packet). After a throw the fields are undefined.
   * @throws {RtpParseError} `RTP_ERR_TRUNCATED`, `RTP_ERR_VERSION`, `RTP_ERR_CSRC`,
   *   `RTP_ERR_EXTENSION`, `RTP_ERR_PADDING` (see rtp/README.md)
   */
  parse(bytes: Uint8Array): this {
    const len = bytes.byteLength;
    if (len < 12) {
      throw new RtpParseError('RTP_ERR_TRUNCATED', `RTP packet of ${len} bytes is shorter than 12`);
    }
    const b0 = bytes[0]!;
    if (b0 >> 6 !== 2) {
      throw new RtpParseError('RTP_ERR_VERSION', `RTP version ${b0 >> 6}, expected 2`);
    }
    const b1 = bytes[1]!;
    this.bytes = bytes;
    this.padding = (b0 & 0x20) !== 0;
    this.extension = (b0 & 0x10) !== 0;
    this.csrcCount = b0 & 0x0f;
    this.marker = (b1 & 0x80) !== 0;
    this.payloadType = b1 & 0x7f;
    this.sequenceNumber = u16(bytes, 2);
    this.timestamp = u32(bytes, 4);
    this.ssrc = u32(bytes, 8);
    let pos = 12 + 4 * this.csrcCount;
    if (pos > len) {
      throw new RtpParseError(
        'RTP_ERR_CSRC',
        `CSRC count ${this.csrcCount} needs ${pos} bytes, packet has ${len}`,
      );
    }
    if (this.extension) {
      if (pos + 4 > len) {
        throw new RtpParseError('RTP_ERR_EXTENSION', `extension header at ${pos} beyond ${len} bytes`);
      }
      this.extensionProfile = u16(bytes, pos);
      const extLen = u16(bytes, pos + 2) * 4;
      if (pos + 4 + extLen > len) {
        throw new RtpParseError(
          'RTP_ERR_EXTENSION',
          `extension of ${extLen} bytes at ${pos + 4} beyond ${len} bytes`,
        );
      }
      this.extensionData = bytes.subarray(pos + 4, pos + 4 + extLen);
      pos += 4 + extLen;
    } else {
      this.extensionProfile = -1;
      this.extensionData = EMPTY;
    }
    let end = len;
    if (this.padding) {
      const count = bytes[len - 1]!;
      if (count === 0 || count > len - pos) {
        throw new RtpParseError(
          'RTP_ERR_PADDING',
          `padding count ${count} invalid for ${len - pos} bytes after the header`,
        );
      }
      end = len - count;
    }
    this.paddingLength = len - end;
    this.payload = bytes.subarray(pos, end);
    return this;
  }

  /** The `i`-th CSRC identifier (0-based). @throws {RangeError} when `i` ≥ `csrcCount` */
  getCsrc(i: number): number {
    if (i < 0 || i >= this.csrcCount) {
      throw new RangeError(`CSRC index ${i} out of range (count ${this.csrcCount})`);
    }
    return u32(this.bytes, 12 + 4 * i);
  }

  /** Length of the packet in bytes, as received. */
  get byteLength(): number {
    return this.bytes.byteLength;
  }
}

/** Fields to build an RTP packet with {@link serializeRtp}. */
interface RtpHeaderInit {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker?: boolean;
  csrcs?: readonly number[];
  /** Header extension: profile and data (data length must be a multiple of 4). */
  extension?: { profile: number; data: Uint8Array };
  /** Total padding octets to append (1–255, including the count octet). */
  paddingLength?: number;
}

/** Number of bytes {@link serializeRtp} writes for `header` and a payload of `payloadLength` bytes. */
function rtpLength(header: RtpHeaderInit, payloadLength: number): number {
  return (
    12 +
    4 * (header.csrcs?.length ?? 0) +
    (header.extension ? 4 + header.extension.data.byteLength : 0) +
    payloadLength +
    (header.paddingLength ?? 0)
  );
}

/**
 * Writes an RTP packet into `dst` at `offset` (allocating when `dst` is omitted) and returns the
 * written bytes as a view.
 * @throws {RangeError} when `dst` is too small or a field is out of range
 */
export function serializeRtp(
  header: RtpHeaderInit,
  payload: Uint8Array,
  dst?: Uint8Array,
  offset = 0,
): Uint8Array {
  const total = rtpLength(header, payload.byteLength);
  const out = dst ?? new Uint8Array(total);
  if (offset + total > out.byteLength) {
    throw new RangeError(`RTP packet of ${total} bytes does not fit at ${offset} in ${out.byteLength}`);
  }
  const csrcs = header.csrcs ?? [];
  const ext = header.extension;
  const pad = header.paddingLength ?? 0;
  if (csrcs.length > 15 || pad < 0 || pad > 255 || (ext && ext.data.byteLength % 4 !== 0)) {
    throw new RangeError('RTP header out of range (CSRCs ≤ 15, padding ≤ 255, extension 32-bit words)');
  }
  const v = new DataView(out.buffer, out.byteOffset + offset, total);
  v.setUint8(0, 0x80 | (pad > 0 ? 0x20 : 0) | (ext ? 0x10 : 0) | csrcs.length);
  v.setUint8(1, (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f));
  v.setUint16(2, header.sequenceNumber & 0xffff);
  v.setUint32(4, header.timestamp >>> 0);
  v.setUint32(8, header.ssrc >>> 0);
  let pos = 12;
  for (const c of csrcs) {
    v.setUint32(pos, c >>> 0);
    pos += 4;
  }
  const bytes = out.subarray(offset, offset + total);
  if (ext) {
    v.setUint16(pos, ext.profile);
    v.setUint16(pos + 2, ext.data.byteLength / 4);
    bytes.set(ext.data, pos + 4);
    pos += 4 + ext.data.byteLength;
  }
  bytes.set(payload, pos);
  pos += payload.byteLength;
  if (pad > 0) {
    bytes.fill(0, pos, pos + pad - 1);
    v.setUint8(pos + pad - 1, pad);
  }
  return bytes;
}
