import type { AudioCodec } from '../codec/table.js';
import type { RepeatedLog } from '../../lib/logger.js';
import type { SenderInfo } from '../packet/rtcp.js';
import { seqAdd, tsAdd } from '../seq.js';
import type { SendBack } from './types.js';

/** Packet buffers reused in turn: a datagram is long gone when its buffer comes round again. */
const SEND_RING = 8;
/**
 * The prompt's samples of one packet, copied here to be encoded: used and done with inside one
 * synchronous send, so one buffer serves every sender rather than 1.9 KB per call.
 */
const PCM_SCRATCH = new Int16Array(960);

/** Writes a 12-byte RTP header (V=2, no padding, extension or CSRC) at the start of `b`. */
function writeRtpHeader(
  b: Uint8Array,
  pt: number,
  marker: boolean,
  seq: number,
  ts: number,
  ssrc: number,
): void {
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  b[2] = (seq >>> 8) & 0xff;
  b[3] = seq & 0xff;
  b[4] = ts >>> 24;
  b[5] = (ts >>> 16) & 0xff;
  b[6] = (ts >>> 8) & 0xff;
  b[7] = ts & 0xff;
  b[8] = ssrc >>> 24;
  b[9] = (ssrc >>> 16) & 0xff;
  b[10] = (ssrc >>> 8) & 0xff;
  b[11] = ssrc & 0xff;
}

/** The default keep-alive interval: far below any media-inactivity timer or NAT binding lifetime. */
export const KEEPALIVE_DEFAULT_MS = 1000;

/**
 * The sending half of a session: one slot per ptime, paced from the clock without drift (slot k at
 * start + k × ptime); a slot carries queued audio (a prompt), or silence when the send-back mode
 * says so ({@link SendBack}), so NATs stay open and carriers that hang up on one-way audio do not.
 * Random SSRC and initial sequence number and timestamp (RFC 3550 §5.1); marker bit on the first
 * packet and on the first after a pause. No allocation per packet.
 */
export class RtpSender {
  /** Our SSRC. */
  readonly ssrc: number;
  readonly #log: RepeatedLog;
  readonly #send: (packet: Uint8Array) => void;
  #seq: number;
  #ts: number;
  #codec: AudioCodec | undefined;
  #payloadType = 0;
  #ptime = 0;
  #running = false;
  #startMs = 0;
  #k = 0;
  #first = true;
  readonly #sendBack: SendBack;
  readonly #keepaliveMs: number;
  /** Call time (ms since the pacing start) of the last packet sent, -Infinity before the first. */
  #lastSentMs = -Infinity;
  #packets = 0;
  #octets = 0;
  #sentSinceReport = false;
  #prompt: Int16Array | undefined;
  #promptPos = 0;
  readonly #ring: Uint8Array[] = [];
  #slot = 0;

  /**
   * @param send hands a packet to the socket (the buffer is reused 8 packets later)
   * @param sendBack what goes out when no audio is queued (default `silence`)
   * @param keepaliveMs the `keepalive` interval
   */
  constructor(
    random: () => number,
    log: RepeatedLog,
    send: (packet: Uint8Array) => void,
    sendBack: SendBack = 'silence',
    keepaliveMs = KEEPALIVE_DEFAULT_MS,
  ) {
    this.#sendBack = sendBack;
    this.#keepaliveMs = keepaliveMs;
    this.#log = log;
    this.#send = send;
    this.ssrc = Math.floor(random() * 0x100000000) >>> 0;
    this.#seq = Math.floor(random() * 0x10000);
    this.#ts = Math.floor(random() * 0x100000000) >>> 0;
  }

  /**
   * Starts sending (or changes codec, payload type or ptime) with slot 0 at `startMs` (now, or the
   * grid point just before), sent at once; later slots go out from {@link RtpSender.poll}. A new
   * ptime restarts the pacing; the sequence number and timestamp continue.
   */
  configure(codec: AudioCodec, payloadType: number, ptime: number, startMs: number): void {
    if (this.#sendBack === 'none') {
      return;
    }
    this.#codec = codec;
    this.#payloadType = payloadType;
    if (this.#running && ptime === this.#ptime) {
      return;
    }
    this.#ptime = ptime;
    this.#startMs = startMs;
    this.#k = 0;
    this.#lastSentMs = -Infinity;
    this.#running = true;
    this.#slotK();
  }

  /** Sends what is due at `now` (every slot up to it, when the event loop was late). */
  poll(now: number): void {
    while (this.#running && this.#startMs + this.#k * this.#ptime <= now) {
      this.#slotK();
    }
  }

  /** Stops sending (hold, close). */
  stop(): void {
    this.#running = false;
  }

  /** Queues 8 kHz audio to send instead of silence (replaces what was queued). */
  play(samples: Int16Array): void {
    this.#prompt = samples;
    this.#promptPos = 0;
  }

  get packetsSent(): number {
    return this.#packets;
  }

  /** Samples of the queued audio (`play`) sent so far; the rest of its packets carried silence. */
  get playedSamples(): number {
    return this.#promptPos;
  }

  /** True (once) when packets were sent since the last call: the next report is an SR. */
  takeSentSinceReport(): boolean {
    const s = this.#sentSinceReport;
    this.#sentSinceReport = false;
    return s;
  }

  /** The SR sender info (RFC 3550 §6.4.1) at wall-clock time `wallMs`. */
  senderInfo(wallMs: number): SenderInfo {
    return {
      ntpSec: (Math.floor(wallMs / 1000) + 2208988800) >>> 0,
      ntpFrac: Math.floor(((wallMs % 1000) / 1000) * 0x100000000) >>> 0,
      rtpTimestamp: this.#ts,
      packetCount: this.#packets >>> 0,
      octetCount: this.#octets >>> 0,
    };
  }

  #slotK(): void {
    try {
      this.#nextSlot();
    } catch (err) {
      this.#log.log('warn', 'rtp-send-error', () => ({ event: 'rtp-send-error', err }), 'error sending rtp');
    }
    this.#k++;
  }

  /** Slot k: a packet, or (keep-alive between packets) only the timestamp moves on. */
  #nextSlot(): void {
    const samples = Math.round((this.#ptime * this.#codec!.clockRate) / 1000);
    const at = this.#k * this.#ptime;
    const audio = this.#prompt !== undefined && this.#promptPos < this.#prompt.length;
    if (this.#sendBack === 'keepalive' && !audio && at - this.#lastSentMs < this.#keepaliveMs) {
      this.#ts = tsAdd(this.#ts, samples);
      this.#first = true;
      return;
    }
    this.#lastSentMs = at;
    this.#sendPacket(samples);
  }

  #sendPacket(samples: number): void {
    const codec = this.#codec!;
    let packet = this.#ring[this.#slot];
    if (packet?.byteLength !== 12 + samples) {
      packet = new Uint8Array(12 + samples);
      this.#ring[this.#slot] = packet;
    }
    this.#slot = (this.#slot + 1) % SEND_RING;
    const payload = packet.subarray(12);
    const prompt = this.#prompt;
    let n = 0;
    if (prompt && this.#promptPos < prompt.length) {
      n = Math.min(samples, prompt.length - this.#promptPos, PCM_SCRATCH.length);
      const pcm = PCM_SCRATCH.subarray(0, n);
      pcm.set(prompt.subarray(this.#promptPos, this.#promptPos + n));
      codec.encode(pcm, payload);
      this.#promptPos += n;
    }
    payload.fill(codec.silenceByte, n);
    writeRtpHeader(packet, this.#payloadType, this.#first, this.#seq, this.#ts, this.ssrc);
    this.#first = false;
    this.#seq = seqAdd(this.#seq, 1);
    this.#ts = tsAdd(this.#ts, samples);
    this.#send(packet);
    this.#packets++;
    this.#octets += samples;
    this.#sentSinceReport = true;
  }
}
