/**
 * SIP.js (onsip/SIP.js, the `sip.js` package) as an independent caller: its `UserAgent` and
 * `Inviter` over a UDP `Transport` of ours (SIP.js ships only a WebSocket one), with a G.711
 * session description handler instead of WebRTC. It dials, waits for the 2xx (SIP.js sends the
 * ACK), streams µ-law RTP from a file at 20 ms pace, hangs up with BYE and waits for its 200. The
 * SIP messages both ways are kept for assertions. Sockets are `dgram-as-promised`: bind, send and
 * close are awaited, and SIP datagrams are read with `for await`.
 */
import { readFileSync } from 'node:fs';
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised';
import {
  EmitterImpl,
  Inviter,
  SessionState,
  TransportState,
  UserAgent,
  type Core,
  type Emitter,
  type SessionDescriptionHandler,
  type Transport,
} from 'sip.js';

const HOST = '127.0.0.1';

/** One SIP message seen by the transport. */
export interface SipTraceEntry {
  dir: 'sent' | 'received';
  text: string;
}

interface UdpTransportOptions {
  socket: SocketAsPromised;
  port: number;
  trace: SipTraceEntry[];
}

/** SIP.js `Transport` over one connected-less UDP socket: every message goes to `port` on loopback. */
class UdpTransport implements Transport {
  readonly protocol = 'UDP';
  readonly stateChange: Emitter<TransportState>;
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;
  readonly #emitter = new EmitterImpl<TransportState>();
  readonly #options: UdpTransportOptions;
  #state = TransportState.Disconnected;
  #reading = false;

  constructor(_logger: Core.Logger, options: UdpTransportOptions) {
    this.#options = options;
    this.stateChange = this.#emitter;
  }

  get state(): TransportState {
    return this.#state;
  }

  connect(): Promise<void> {
    if (!this.#reading) {
      this.#reading = true;
      this.#read().catch((err: unknown) => this.onDisconnect?.(err as Error));
    }
    this.#transition(TransportState.Connected);
    this.onConnect?.();
    return Promise.resolve();
  }

  disconnect(): Promise<void> {
    this.#transition(TransportState.Disconnected);
    this.onDisconnect?.();
    return Promise.resolve();
  }

  async dispose(): Promise<void> {
    await this.disconnect();
  }

  isConnected(): boolean {
    return this.#state === TransportState.Connected;
  }

  async send(message: string): Promise<void> {
    this.#options.trace.push({ dir: 'sent', text: message });
    await this.#options.socket.send(Buffer.from(message, 'utf8'), this.#options.port, HOST);
  }

  /** Until the socket closes: each datagram is one SIP message. */
  async #read(): Promise<void> {
    for await (const { msg } of this.#options.socket) {
      const text = msg.toString('utf8');
      this.#options.trace.push({ dir: 'received', text });
      this.onMessage?.(text);
    }
  }

  #transition(s: TransportState): void {
    if (s !== this.#state) {
      this.#state = s;
      this.#emitter.emit(s);
    }
  }
}

/** Where the answer says to send RTP, and with which payload type. */
export interface RtpTarget {
  address: string;
  port: number;
  payloadType: number;
}

/** An audio-only G.711 offer (PCMU, PCMA) on `rtpPort`; reads the answer's address, port and codec. */
class G711Description implements SessionDescriptionHandler {
  answer: RtpTarget | null = null;
  readonly #rtpPort: number;

  constructor(rtpPort: number) {
    this.#rtpPort = rtpPort;
  }

  getDescription(): Promise<{ body: string; contentType: string }> {
    const body = [
      'v=0',
      `o=sipjs 1 1 IN IP4 ${HOST}`,
      's=SIP.js caller',
      `c=IN IP4 ${HOST}`,
      't=0 0',
      `m=audio ${this.#rtpPort} RTP/AVP 0 8`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=ptime:20',
      'a=sendrecv',
      '',
    ].join('\r\n');
    return Promise.resolve({ body, contentType: 'application/sdp' });
  }

  hasDescription(contentType: string): boolean {
    return contentType === 'application/sdp';
  }

  setDescription(sdp: string): Promise<void> {
    const c = /^c=IN IP4 (\S+)/m.exec(sdp);
    const m = /^m=audio (\d+) RTP\/AVP (\d+)/m.exec(sdp);
    if (!c || !m) {
      return Promise.reject(new Error(`no audio in the answer:\n${sdp}`));
    }
    this.answer = { address: c[1]!, port: Number(m[1]), payloadType: Number(m[2]) };
    return Promise.resolve();
  }

  sendDtmf(): boolean {
    return false;
  }

  close(): void {}
}

/** A 12-byte RTP header (RFC 3550 §5.1, version 2, no CSRC) and 160 bytes of payload. */
function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (seq === 0 ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  b.set(payload, 12);
  return b;
}

export interface SipjsCallResult {
  /** Status codes of the responses to the INVITE, in order. */
  inviteResponses: number[];
  /** The answer's RTP target. */
  rtp: RtpTarget;
  /** RTP packets sent. */
  packetsSent: number;
  /** Status code of the response to our BYE. */
  byeStatus: number;
  trace: SipTraceEntry[];
}

/**
 * Calls `target` (a SIP URI on loopback, port `sipPort`) from SIP.js, offering PCMU and PCMA;
 * once the call is established, streams the file for the answered codec (raw G.711 at 8 kHz:
 * `audio.pcmu` µ-law, `audio.pcma` A-law) at 20 ms pace, then hangs up.
 */
export async function sipjsCall(
  target: string,
  sipPort: number,
  audio: { pcmu: string; pcma: string },
): Promise<SipjsCallResult> {
  const sip = DgramAsPromised.createSocket('udp4');
  const rtp = DgramAsPromised.createSocket('udp4');
  await sip.bind(0, HOST);
  const rtpPort = (await rtp.bind(0, HOST)).port;
  const trace: SipTraceEntry[] = [];
  let description: G711Description | null = null;
  const ua = new UserAgent({
    uri: UserAgent.makeURI(`sip:sipjs@${HOST}`),
    viaHost: HOST,
    // RFC 3581: answer to the source port (SIP.js writes no port in Via).
    forceRport: true,
    contactName: 'sipjs',
    contactParams: { transport: 'udp' },
    transportConstructor: UdpTransport,
    transportOptions: { socket: sip, port: sipPort, trace } satisfies UdpTransportOptions,
    sessionDescriptionHandlerFactory: () => (description = new G711Description(rtpPort)),
    logBuiltinEnabled: false,
    logLevel: 'error',
  });
  const inviteResponses: number[] = [];
  try {
    await ua.start();
    const targetUri = UserAgent.makeURI(target);
    if (!targetUri) {
      throw new Error(`not a SIP URI: ${target}`);
    }
    const inviter = new Inviter(ua, targetUri);
    const established = new Promise<void>((resolve, reject) => {
      inviter.stateChange.addListener((s) => {
        if (s === SessionState.Established) {
          resolve();
        } else if (s === SessionState.Terminated) {
          reject(new Error(`call not established: responses ${inviteResponses.join(', ')}`));
        }
      });
    });
    const record = (r: Core.IncomingResponse): void => {
      inviteResponses.push(r.message.statusCode ?? 0);
    };
    await inviter.invite({
      requestDelegate: { onAccept: record, onProgress: record, onReject: record, onTrying: record },
    });
    await established;
    const answer = (description as G711Description | null)?.answer;
    if (!answer) {
      throw new Error('established without an SDP answer');
    }
    const g711 = readFileSync(answer.payloadType === 8 ? audio.pcma : audio.pcmu);
    // Paced by the wall clock, like a phone: packet k at t0 + 20 k ms.
    const t0 = performance.now();
    const ssrc = 0x5195;
    let packetsSent = 0;
    for (let k = 0; (k + 1) * 160 <= g711.length; k++) {
      const wait = t0 + k * 20 - performance.now();
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, wait));
      }
      const payload = g711.subarray(k * 160, (k + 1) * 160);
      await rtp.send(rtpPacket(answer.payloadType, k, k * 160, ssrc, payload), answer.port, answer.address);
      packetsSent++;
    }
    const byeStatus = await new Promise<number>((resolve, reject) => {
      inviter
        .bye({
          requestDelegate: {
            onAccept: (r) => resolve(r.message.statusCode ?? 0),
            onReject: (r) => resolve(r.message.statusCode ?? 0),
          },
        })
        .catch(reject);
    });
    return { inviteResponses, rtp: answer, packetsSent, byeStatus, trace };
  } finally {
    await ua.stop();
    await sip.close();
    await rtp.close();
  }
}
