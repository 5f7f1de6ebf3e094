/**
 * Asterisk AudioSocket on TCP (`ingress.audiosocket`): one connection per call, as Asterisk's
 * `AudioSocket(uuid,host:port)` dialplan application or its AudioSocket channel opens it.
 *
 * Every message is a 3-byte header (kind, payload length as 16-bit big-endian) and the payload:
 * `0x01` the call's 16-byte UUID (first, once: the call key), `0x10` signed-linear 16-bit mono
 * audio at 8 kHz, little-endian (`0x11`–`0x18`: 12, 16, 24, 32, 44.1, 48, 96, 192 kHz from newer
 * Asterisk), `0x03` one DTMF digit in ASCII, `0x00` hangup (a close is one too), `0xff` an error
 * on Asterisk's side. We only listen: nothing is ever written back (Asterisk would play audio we
 * sent, and must not see a hangup, DTMF or error from us).
 *
 * Only addresses in `allowFrom` may connect; anything malformed (audio before the UUID, an odd or
 * empty audio payload, a second UUID, a change of rate, an unknown kind, a message over
 * `ingress.maxFrameBytes`) is logged, counted and the connection closed, ending the call through
 * the flush.
 *
 * @see https://docs.asterisk.org/Configuration/Channel-Drivers/AudioSocket/ (protocol definition)
 */
import { isIP, type BlockList, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { parseAllowList } from '../call/Admission.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { IngressCall } from './IngressCall.js';
import type { IngressCalls, IngressRefusal } from './IngressCalls.js';

const AUDIOSOCKET_KIND = {
  HANGUP: 0x00,
  UUID: 0x01,
  DTMF: 0x03,
  SLIN: 0x10,
  ERROR: 0xff,
} as const;

/** Sample rate of each audio kind (0x10 is 8 kHz; 0x11–0x18 came with Asterisk 22). */
const AUDIO_RATES: ReadonlyMap<number, number> = new Map([
  [0x10, 8000],
  [0x11, 12_000],
  [0x12, 16_000],
  [0x13, 24_000],
  [0x14, 32_000],
  [0x15, 44_100],
  [0x16, 48_000],
  [0x17, 96_000],
  [0x18, 192_000],
]);

const HEADER = 3;

/** The UUID's 16 bytes in the canonical 8-4-4-4-12 form. */
function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) as `192.0.2.1`. */
export function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

class AudioSocketConnection {
  readonly #socket: Socket;
  readonly #calls: IngressCalls;
  readonly #log: Logger;
  readonly #maxPayload: number;
  readonly #remote: string;
  #buf: Buffer = Buffer.alloc(0);
  #uuid: string | null = null;
  #rate = 0;
  #call: IngressCall | null = null;
  #paused = false;
  #over = false;

  constructor(socket: Socket, calls: IngressCalls, log: Logger, maxPayload: number) {
    this.#socket = socket;
    this.#calls = calls;
    this.#log = log;
    this.#maxPayload = maxPayload;
    this.#remote = `${plainAddress(socket.remoteAddress ?? '')}:${socket.remotePort ?? 0}`;
    socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      this.#pump();
    });
    socket.on('error', (err) =>
      this.#log.debug({ err, remote: this.#remote }, 'audiosocket connection error'),
    );
    socket.on('close', () => this.#finish('bye-remote'));
  }

  #pump(): void {
    while (!this.#paused && !this.#over && this.#buf.length >= HEADER) {
      const kind = this.#buf[0] as number;
      const length = this.#buf.readUInt16BE(1);
      if (length > this.#maxPayload) {
        this.#fail('too-large', `message of ${length} bytes over ingress.maxFrameBytes`);
        return;
      }
      if (this.#buf.length < HEADER + length) {
        return;
      }
      const payload = this.#buf.subarray(HEADER, HEADER + length);
      this.#buf = this.#buf.subarray(HEADER + length);
      this.#message(kind, payload);
    }
  }

  #message(kind: number, payload: Buffer): void {
    if (kind === AUDIOSOCKET_KIND.HANGUP) {
      this.#finish('bye-remote');
      this.#socket.end();
      return;
    }
    if (kind === AUDIOSOCKET_KIND.UUID) {
      if (this.#uuid !== null || payload.length !== 16) {
        this.#fail(
          'malformed',
          this.#uuid !== null ? 'a second UUID' : `UUID of ${payload.length} bytes, not 16`,
        );
        return;
      }
      this.#uuid = uuidText(payload);
      return;
    }
    if (this.#uuid === null) {
      this.#fail('malformed', `message kind 0x${kind.toString(16)} before the UUID`);
      return;
    }
    if (kind === AUDIOSOCKET_KIND.DTMF) {
      const digit = payload.toString('latin1');
      if (payload.length !== 1 || !/^[0-9*#A-D]$/.test(digit)) {
        this.#fail('malformed', 'DTMF payload is not one digit');
        return;
      }
      this.#call?.dtmf(digit, 0);
      return;
    }
    if (kind === AUDIOSOCKET_KIND.ERROR) {
      this.#log.warn(
        { uuid: this.#uuid, code: payload.length > 0 ? payload[0] : null },
        'audiosocket: Asterisk reports an error: ending the call',
      );
      this.#finish('error');
      this.#socket.end();
      return;
    }
    const rate = AUDIO_RATES.get(kind);
    if (rate === undefined) {
      this.#fail('unsupported', `unknown message kind 0x${kind.toString(16)}`);
      return;
    }
    if (payload.length === 0 || payload.length % 2 !== 0) {
      this.#fail('malformed', `audio payload of ${payload.length} bytes (16-bit samples)`);
      return;
    }
    if (this.#rate !== 0 && rate !== this.#rate) {
      this.#fail('unsupported', `audio rate changed from ${this.#rate} to ${rate} Hz`);
      return;
    }
    if (!this.#call && !this.#begin(rate)) {
      return;
    }
    // Samples are little-endian; copy into an aligned Int16Array.
    const pcm = new Int16Array(payload.length / 2);
    for (let i = 0; i < pcm.length; i++) {
      pcm[i] = payload.readInt16LE(i * 2);
    }
    this.#call?.push(0, pcm);
  }

  #begin(rate: number): boolean {
    this.#rate = rate;
    const begun = this.#calls.begin(
      {
        ingress: 'audiosocket',
        key: this.#uuid ?? '',
        from: `audiosocket:${this.#uuid ?? ''}`,
        to: 'audiosocket',
        remote: this.#remote,
        transport: 'tcp',
        codec: `L16/${rate}`,
        rate,
        channels: ['caller'],
      },
      {
        pause: () => {
          this.#paused = true;
          this.#socket.pause();
        },
        resume: () => {
          this.#paused = false;
          this.#socket.resume();
          setImmediate(() => this.#pump());
        },
      },
    );
    if (typeof begun === 'string') {
      this.#over = true;
      this.#socket.destroy();
      return false;
    }
    this.#call = begun;
    return true;
  }

  /** Bad input: counted, logged (rate-limited), the connection closed and the call ended. */
  #fail(reason: IngressRefusal, detail: string): void {
    this.#calls.refused('audiosocket', reason, { remote: this.#remote, uuid: this.#uuid, detail });
    this.#finish('error');
    this.#socket.destroy();
  }

  #finish(reason: 'bye-remote' | 'error'): void {
    if (this.#over) {
      return;
    }
    this.#over = true;
    void this.#call?.end(reason);
  }
}

/** The AudioSocket listener. */
export class AudioSocketServer {
  readonly #server: Server;
  readonly #allow: BlockList;
  readonly #sockets = new Set<Socket>();

  /** @throws ConfigError for a bad `ingress.audiosocket.allowFrom` entry. */
  constructor(
    readonly config: Config,
    calls: IngressCalls,
    log: Logger,
  ) {
    this.#allow = parseAllowList(config.ingress.audiosocket.allowFrom, 'ingress.audiosocket.allowFrom');
    this.#server = createServer((socket) => {
      const address = plainAddress(socket.remoteAddress ?? '');
      const family = isIP(address);
      if (family === 0 || !this.#allow.check(address, family === 4 ? 'ipv4' : 'ipv6')) {
        calls.refused('audiosocket', 'not-allowed', { remote: address });
        socket.destroy();
        return;
      }
      if (calls.draining) {
        // Draining: Asterisk sees the connection closed before any call starts.
        calls.refused('audiosocket', 'shutting-down', { remote: address });
        socket.destroy();
        return;
      }
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      new AudioSocketConnection(socket, calls, log, config.ingress.maxFrameBytes);
    });
  }

  /** Starts listening on `ingress.audiosocket` host and port. */
  async listen(): Promise<AddressInfo> {
    const { host, port } = this.config.ingress.audiosocket;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  /** Stops listening and closes every connection (their calls end through the flush first). */
  async close(): Promise<void> {
    for (const s of this.#sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
