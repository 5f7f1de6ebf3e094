/**
 * Readiness probes of remote HTTP services, polled in the background so `/ready` answers at once.
 * `sttProbe` checks that at least one moshi-server answers `GET /api/build_info` (it has no
 * `/health` route; build_info answers once its models are loaded).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../logger.js';
import type { ClientTlsOptions } from '../tls/credentials.js';
import type { ReadinessCheck } from './health.js';

/** Sends a GET; resolves to the HTTP status, rejects on network errors and abort. */
type HttpGet = (url: string, signal: AbortSignal, tls?: ClientTlsOptions) => Promise<number>;

/**
 * One connection per probe (no agent, `Connection: close`): no idle keep-alive socket to the probed
 * server outlives the probe, so nothing is left open after `stop()`.
 */
const nodeGet: HttpGet = (url, signal, tls) =>
  new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', agent: false, headers: { connection: 'close' }, signal, ...tls },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });

/** The moshi-server health URL for an STT WebSocket URL (`ws://h:8080/api/asr-streaming` → `http://h:8080/api/build_info`). */
export function sttHealthUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}/api/build_info`;
}

interface HttpProbeOptions {
  name: string;
  urls: readonly string[];
  clock: Clock;
  logger: Logger;
  /** Between rounds (default 10 000 ms). */
  intervalMs?: number;
  /** Per request (default 3000 ms). */
  timeoutMs?: number;
  get?: HttpGet;
  /** What to trust for an https:// URL (default: the system store, verified). */
  tlsFor?: (url: string) => ClientTlsOptions | undefined;
}

/** Ready when at least one URL answered 2xx in the latest round. */
export class HttpProbe implements ReadinessCheck {
  readonly name: string;
  readonly #opts: HttpProbeOptions;
  readonly #up = new Map<string, boolean>();
  #timer: TimerHandle | null = null;
  #stopped = false;
  #round: Promise<void> | null = null;
  /** Requests in flight (aborted by `stop()`). */
  readonly #inFlight = new Set<AbortController>();

  constructor(opts: HttpProbeOptions) {
    this.name = opts.name;
    this.#opts = opts;
  }

  /** Runs a first round now and then one every `intervalMs`. */
  start(): void {
    this.#stopped = false;
    this.#run();
  }

  stop(): void {
    this.#stopped = true;
    for (const ac of this.#inFlight) {
      ac.abort();
    }
    if (this.#timer !== null) {
      this.#opts.clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  check(): boolean {
    return [...this.#up.values()].some(Boolean);
  }

  /** The latest result per URL. */
  status(): Record<string, boolean> {
    return Object.fromEntries(this.#up);
  }

  /** Resolves when the round in progress (if any) has finished. */
  async settled(): Promise<void> {
    await this.#round;
  }

  #run(): void {
    this.#round = Promise.all(this.#opts.urls.map((u) => this.#probe(u))).then(() => {
      this.#round = null;
      if (!this.#stopped) {
        this.#timer = this.#opts.clock.setTimeout(() => this.#run(), this.#opts.intervalMs ?? 10_000);
      }
    });
  }

  async #probe(url: string): Promise<void> {
    const { clock } = this.#opts;
    const ac = new AbortController();
    this.#inFlight.add(ac);
    const t = clock.setTimeout(() => ac.abort(), this.#opts.timeoutMs ?? 3000);
    let ok: boolean;
    try {
      const status = await (this.#opts.get ?? nodeGet)(url, ac.signal, this.#opts.tlsFor?.(url));
      ok = status >= 200 && status < 300;
    } catch {
      ok = false;
    } finally {
      clock.clearTimeout(t);
      this.#inFlight.delete(ac);
    }
    if (this.#stopped) {
      return;
    }
    if (this.#up.get(url) !== ok) {
      this.#opts.logger[ok ? 'info' : 'warn'](
        { probe: this.name, url, up: ok },
        ok ? 'probe up' : 'probe down',
      );
    }
    this.#up.set(url, ok);
  }
}
