/**
 * A bare-bones RegistrationTransport for integration tests, on Node sockets (UDP, TCP, TLS), used
 * to run the registration client (sip/registration) against Kamailio independently of the SIP
 * stack's own transaction layer. Not a SIP transport: one REGISTER at a time per flow, UDP
 * retransmission every 500 ms until `timeoutMs`, responses matched by Via branch, parsed with
 * sip/message's parser. Inbound requests are ignored.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipMessage } from '../../sip/message/SipMessage.js';
import type {
  LocalContact,
  OutgoingRegister,
  RegisterResponse,
  RegistrationTransport,
  SipTransportName,
} from '../../sip/registration/types.js';

function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function hostPort(uri: string, t: SipTransportName): { host: string; port: number } {
  const m = /^sips?:(?:[^@]*@)?([^:;>]+)(?::(\d+))?/.exec(uri);
  if (m?.[1] === undefined) {
    throw coded('SIP_ERR_TRANSPORT', `bad target ${uri}`);
  }

  return { host: m[1], port: m[2] !== undefined ? Number(m[2]) : t === 'tls' ? 5061 : 5060 };
}

interface Waiter {
  branch: string;
  resolve(r: RegisterResponse): void;
}

/** Splits a byte stream into SIP messages by Content-Length (CRLF keep-alives skipped). */
class Framer {
  #buf = Buffer.alloc(0);

  push(chunk: Buffer, out: (m: Buffer) => void): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      while (this.#buf.length >= 2 && this.#buf[0] === 13 && this.#buf[1] === 10) {
        this.#buf = this.#buf.subarray(2);
      }
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) {
        return;
      }
      const head = this.#buf.subarray(0, end).toString('utf8');
      const len = Number(/^(?:content-length|l)\s*:\s*(\d+)/im.exec(head)?.[1] ?? 0);
      const total = end + 4 + len;
      if (this.#buf.length < total) {
        return;
      }
      out(this.#buf.subarray(0, total));
      this.#buf = this.#buf.subarray(total);
    }
  }
}

export class RawRegistrationTransport implements RegistrationTransport {
  readonly #timeoutMs: number;
  readonly #ca: string | undefined;
  #udp: UdpSocket | undefined;
  readonly #streams = new Map<string, Socket>();
  readonly #closeListeners = new Map<string, Set<() => void>>();
  readonly #waiters = new Set<Waiter>();
  /** Every message received (for assertions). */
  readonly received: SipMessage[] = [];
  /** Every REGISTER sent, as text (for assertions). */
  readonly sent: string[] = [];

  constructor(opts: { timeoutMs?: number; caFile?: string } = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 8000;
    this.#ca = opts.caFile !== undefined ? readFileSync(opts.caFile, 'utf8') : undefined;
  }

  #onMessage = (data: Buffer): void => {
    let msg: SipMessage;
    try {
      msg = parseMessage(data);
    } catch {
      return;
    }
    this.received.push(msg);
    if (msg.kind !== 'response' || msg.status < 200) {
      return;
    }
    const branch = msg.via?.branch;
    for (const w of this.#waiters) {
      if (w.branch === branch) {
        this.#waiters.delete(w);
        w.resolve(msg);
      }
    }
  };

  async #udpSocket(): Promise<UdpSocket> {
    if (this.#udp === undefined) {
      const s = createSocket('udp4');
      s.on('message', this.#onMessage);
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      this.#udp = s;
    }

    return this.#udp;
  }

  async #stream(target: string, t: 'tcp' | 'tls'): Promise<Socket> {
    const key = `${t}:${target}`;
    const existing = this.#streams.get(key);
    if (existing !== undefined && !existing.destroyed) {
      return existing;
    }
    const { host, port } = hostPort(target, t);
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s =
        t === 'tcp'
          ? tcpConnect({ host, port }, () => resolve(s))
          : tlsConnect(
              { host, port, ...(this.#ca !== undefined ? { ca: this.#ca } : {}), servername: 'localhost' },
              () => resolve(s),
            );
      s.once('error', (err: Error) =>
        reject(coded('SIP_ERR_TRANSPORT', `${t} connect to ${host}:${port}: ${err.message}`)),
      );
    });
    sock.on('error', () => undefined);
    const framer = new Framer();
    sock.on('data', (chunk: Buffer) => framer.push(chunk, this.#onMessage));
    sock.once('close', () => {
      this.#streams.delete(key);
      const listeners = this.#closeListeners.get(key);
      this.#closeListeners.delete(key);
      listeners?.forEach((l) => l());
    });
    this.#streams.set(key, sock);

    return sock;
  }

  async localContact(target: string, transport: SipTransportName): Promise<LocalContact> {
    if (transport === 'udp') {
      const a = (await this.#udpSocket()).address();

      return { host: a.address, port: a.port, transport };
    }
    const s = await this.#stream(target, transport);

    return { host: s.localAddress ?? '127.0.0.1', port: s.localPort ?? 0, transport };
  }

  async sendRegister(req: OutgoingRegister): Promise<RegisterResponse> {
    const local = await this.localContact(req.target, req.transport);
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const text = [
      `REGISTER ${req.uri} SIP/2.0`,
      `Via: SIP/2.0/${req.transport.toUpperCase()} ${local.host}:${local.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      ...req.headers.map(([n, v]) => `${n}: ${v}`),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.sent.push(text);
    const { host, port } = hostPort(req.target, req.transport);
    let timer: ReturnType<typeof setInterval> | undefined;
    let waiter: Waiter | undefined;
    const answered = new Promise<RegisterResponse>((resolve) => {
      waiter = { branch, resolve };
      this.#waiters.add(waiter);
    });
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(coded('SIP_ERR_TX_TIMEOUT', `no answer to REGISTER in ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      ),
    );
    try {
      if (req.transport === 'udp') {
        const s = await this.#udpSocket();
        const send = (): void => s.send(text, port, host);
        send();
        timer = setInterval(send, 500);
      } else {
        (await this.#stream(req.target, req.transport)).write(text);
      }

      return await Promise.race([answered, timeout]);
    } finally {
      clearInterval(timer);
      if (waiter !== undefined) {
        this.#waiters.delete(waiter);
      }
    }
  }

  async keepAlive(target: string, transport: SipTransportName): Promise<void> {
    const s = this.#streams.get(`${transport}:${target}`);
    if (s === undefined || s.destroyed) {
      throw coded('SIP_ERR_TRANSPORT', 'no connection');
    }
    s.write('\r\n\r\n');
    await Promise.resolve();
  }

  onFlowClosed(target: string, transport: SipTransportName, listener: () => void): () => void {
    const key = `${transport}:${target}`;
    const set = this.#closeListeners.get(key) ?? new Set();
    set.add(listener);
    this.#closeListeners.set(key, set);

    return () => set.delete(listener);
  }

  close(): void {
    this.#udp?.close();
    this.#udp = undefined;
    for (const s of this.#streams.values()) {
      s.destroy();
    }
  }
}
