/**
 * The caller side of the load and soak benchmarks: the project's own SIP stack as UAC (INVITE,
 * ACK, BYE over UDP on 127.0.0.1) and real G.711 μ-law from a fixture, sent as RTP every 20 ms by
 * one shared clock for every stream (as N phones would), one UDP socket per stream. What comes
 * back (sipscribe's RTP) is counted and dropped.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CallRejectedError, SipStack, type OutgoingCall } from '../sip/index.js';
import { FIXTURES } from '../test/helpers/paths.js';
import { freePort } from '../test/helpers/ports.js';

const PAYLOAD = 160; // 20 ms of 8 kHz G.711
const PTIME_MS = 20;

/** One RTP stream from the generator to a receiver. */
export interface RtpStream {
  readonly socket: Socket;
  address: string;
  port: number;
  payloadType: number;
  readonly ssrc: number;
  seq: number;
  ts: number;
  /** Where in the fixture the next payload starts. */
  offset: number;
  sent: number;
  received: number;
}

/** A call placed by the generator. */
export interface PlacedCall {
  readonly call: OutgoingCall;
  readonly stream: RtpStream;
  /** INVITE sent → 200 OK received, in ms. */
  readonly setupMs: number;
}

export interface PlaceResult {
  calls: PlacedCall[];
  /** Status codes of calls refused (408 when the INVITE got no final answer). */
  refused: number[];
}

export class LoadGenerator {
  readonly #audio = readFileSync(join(FIXTURES, 'audio', 'fox_pcmu_8k.ul'));
  #stack: SipStack | undefined;
  #streams = new Set<RtpStream>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #next = 0;
  /** How late each 20 ms tick of the generator ran (ms): the generator's own delay. */
  readonly tickLateMs: number[] = [];

  async start(): Promise<void> {
    const port = await freePort();
    this.#stack = new SipStack({ listen: [{ transport: 'udp', host: '127.0.0.1', port }] });
    await this.#stack.start();
  }

  async stop(): Promise<void> {
    this.stopStreaming();
    for (const s of this.#streams) {
      s.socket.close();
    }
    this.#streams.clear();
    await this.#stack?.stop();
  }

  /** A stream from a fresh socket on 127.0.0.1 (its destination set later). */
  async openStream(): Promise<RtpStream> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const s: RtpStream = {
      socket,
      address: '127.0.0.1',
      port: 0,
      payloadType: 0,
      ssrc: (Math.random() * 0xffffffff) >>> 0,
      seq: Math.floor(Math.random() * 0xffff),
      ts: (Math.random() * 0xffffffff) >>> 0,
      offset: PAYLOAD * Math.floor(Math.random() * Math.floor(this.#audio.length / PAYLOAD)),
      sent: 0,
      received: 0,
    };
    socket.on('message', () => {
      s.received++;
    });
    this.#streams.add(s);
    return s;
  }

  closeStream(s: RtpStream): void {
    this.#streams.delete(s);
    s.socket.close();
  }

  /** Places one call to `target` (`host:port`); its stream starts sending at the next tick. */
  async place(target: string): Promise<PlacedCall> {
    const stack = this.#stack;
    if (!stack) {
      throw new Error('generator not started');
    }
    const stream = await this.openStream();
    const t0 = performance.now();
    const call = stack.dial({
      to: `sip:sipscribe@${target}`,
      local: { address: '127.0.0.1', port: stream.socket.address().port },
    });
    try {
      const remote = await call.answered;
      stream.address = remote.address;
      stream.port = remote.port;
      stream.payloadType = remote.payloadType;
      return { call, stream, setupMs: performance.now() - t0 };
    } catch (err) {
      this.closeStream(stream);
      throw err;
    }
  }

  /** Places `n` calls at `ratePerS` calls per second, waiting for every answer. */
  async placeMany(target: string, n: number, ratePerS: number): Promise<PlaceResult> {
    const calls: PlacedCall[] = [];
    const refused: number[] = [];
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / ratePerS;
      const wait = due - performance.now();
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, wait));
      }
      pending.push(
        this.place(target).then(
          (c) => {
            calls.push(c);
          },
          (err: unknown) => {
            refused.push(err instanceof CallRejectedError ? err.status : 0);
          },
        ),
      );
    }
    await Promise.all(pending);
    return { calls, refused };
  }

  /** Sends BYE on every call (at most `parallel` at a time) and closes their streams. */
  async hangupAll(calls: readonly PlacedCall[], parallel = 50): Promise<void> {
    const queue = [...calls];
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        this.closeStream(c.stream);
        await c.call.hangup();
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  /** Starts the shared 20 ms clock: every open stream with a destination sends one packet per tick. */
  startStreaming(): void {
    if (this.#timer) {
      return;
    }
    this.#next = performance.now();
    const tick = (): void => {
      const now = performance.now();
      this.tickLateMs.push(now - this.#next);
      // A phone's clock does not stop while the generator is late: catch up packet by packet.
      while (this.#next <= now) {
        for (const s of this.#streams) {
          if (s.port !== 0) {
            this.#send(s);
          }
        }
        this.#next += PTIME_MS;
      }
      this.#timer = setTimeout(tick, Math.max(0, this.#next - performance.now()));
    };
    tick();
  }

  stopStreaming(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get packetsSent(): number {
    let n = 0;
    for (const s of this.#streams) {
      n += s.sent;
    }
    return n;
  }

  #send(s: RtpStream): void {
    const packet = Buffer.allocUnsafe(12 + PAYLOAD);
    packet[0] = 0x80;
    packet[1] = s.payloadType & 0x7f;
    packet.writeUInt16BE(s.seq, 2);
    packet.writeUInt32BE(s.ts, 4);
    packet.writeUInt32BE(s.ssrc, 8);
    if (s.offset + PAYLOAD > this.#audio.length) {
      s.offset = 0;
    }
    this.#audio.copy(packet, 12, s.offset, s.offset + PAYLOAD);
    s.offset += PAYLOAD;
    s.seq = (s.seq + 1) & 0xffff;
    s.ts = (s.ts + PAYLOAD) >>> 0;
    s.sent++;
    s.socket.send(packet, s.port, s.address);
  }
}
