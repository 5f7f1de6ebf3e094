import type {
  LocalContact,
  OutgoingRegister,
  RegisterResponse,
  RegistrationTransport,
} from '../../../sip/registration/types.js';
import type { TransportProtocol } from '../../../sip/index.js';

/** A REGISTER the fake saw, with helpers to read its headers. */
export interface SeenRequest {
  readonly request: OutgoingRegister;
  header(name: string): string | undefined;
  all(name: string): string[];
}

/** A response to script: status, reason, headers (a header may have several values). */
export interface Scripted {
  status: number;
  reason?: string;
  headers?: Record<string, string | string[]>;
}

function response(s: Scripted): RegisterResponse {
  const map = new Map<string, string[]>();
  for (const [k, v] of Object.entries(s.headers ?? {})) {
    map.set(k.toLowerCase(), Array.isArray(v) ? v : [v]);
  }

  return {
    status: s.status,
    reason: s.reason ?? 'Reason',
    get: (n) => map.get(n.toLowerCase())?.[0],
    getAll: (n) => map.get(n.toLowerCase()) ?? [],
  };
}

/**
 * An in-memory transport: every REGISTER waits until the test answers it with `reply()` or
 * `fail()`. Keep-alives and flow closure are recorded / triggered by the test.
 */
export class FakeRegistrar implements RegistrationTransport {
  readonly seen: SeenRequest[] = [];
  readonly keepAlives: string[] = [];
  keepAliveFails = false;
  readonly #pending: { resolve: (r: RegisterResponse) => void; reject: (e: unknown) => void }[] = [];
  readonly #flowListeners = new Set<() => void>();

  constructor(readonly local: LocalContact = { host: '127.0.0.1', port: 5062, transport: 'udp' }) {}

  sendRegister(request: OutgoingRegister): Promise<RegisterResponse> {
    const find = (name: string): string[] =>
      request.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
    this.seen.push({ request, header: (n) => find(n)[0], all: find });

    return new Promise((resolve, reject) => this.#pending.push({ resolve, reject }));
  }

  localContact(_target: string, transport: TransportProtocol): LocalContact {
    return { ...this.local, transport };
  }

  keepAlive(target: string): Promise<void> {
    this.keepAlives.push(target);

    return this.keepAliveFails ? Promise.reject(new Error('gone')) : Promise.resolve();
  }

  onFlowClosed(_target: string, _t: TransportProtocol, listener: () => void): () => void {
    this.#flowListeners.add(listener);

    return () => this.#flowListeners.delete(listener);
  }

  /** Closes the flow (calls the listeners once). */
  closeFlow(): void {
    const listeners = [...this.#flowListeners];
    this.#flowListeners.clear();
    listeners.forEach((l) => l());
  }

  get flowListeners(): number {
    return this.#flowListeners.size;
  }

  get pending(): number {
    return this.#pending.length;
  }

  /** The last REGISTER sent. */
  get last(): SeenRequest {
    const r = this.seen.at(-1);
    if (r === undefined) {
      throw new Error('no REGISTER was sent');
    }

    return r;
  }

  /** Answers the oldest pending REGISTER and lets the client react. */
  async reply(s: Scripted): Promise<void> {
    const p = this.#pending.shift();
    if (p === undefined) {
      throw new Error(`no pending REGISTER to answer with ${s.status}`);
    }
    p.resolve(response(s));
    await settle();
  }

  /** Fails the oldest pending REGISTER with an error carrying `code`. */
  async fail(code: string, message = code): Promise<void> {
    const p = this.#pending.shift();
    if (p === undefined) {
      throw new Error(`no pending REGISTER to fail with ${code}`);
    }
    p.reject(Object.assign(new Error(message), { code }));
    await settle();
  }
}

/** Lets promise callbacks run (no timers involved). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((r) => setImmediate(r));
  }
}
