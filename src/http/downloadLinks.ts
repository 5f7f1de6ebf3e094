/**
 * Short-lived signed download links: `<path>?<query>&expires=<unix s>&sig=<HMAC-SHA256, base64url>`.
 * The page asks for them (with the token in a header) at the moment a download starts, so the
 * long-lived `http.token` never sits in a page URL, the browser history or a proxy's log. The key
 * is random per process: a restart voids every link.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a link works: long enough to start a download, short enough to be worthless later. */
const DOWNLOAD_LINK_TTL_MS = 120_000;

export class DownloadSigner {
  readonly #key: Buffer;
  readonly #ttlMs: number;

  constructor(opts: { key?: Buffer; ttlMs?: number } = {}) {
    this.#key = opts.key ?? randomBytes(32);
    this.#ttlMs = opts.ttlMs ?? DOWNLOAD_LINK_TTL_MS;
  }

  /**
   * Signs `path` (with its query, if any) for `ttlMs` from `nowMs`.
   * @returns the link and when it expires (epoch ms, rounded down to the second).
   */
  sign(path: string, nowMs: number): { url: string; expiresMs: number } {
    const expires = Math.floor((nowMs + this.#ttlMs) / 1000);
    const u = new URL(path, 'http://localhost');
    u.searchParams.delete('sig');
    u.searchParams.set('expires', String(expires));
    const signed = `${u.pathname}?${u.searchParams.toString()}`;
    return { url: `${signed}&sig=${this.#mac(signed)}`, expiresMs: expires * 1000 };
  }

  /** Whether `url` carries a valid signature over its path and every other query parameter. */
  verify(url: URL, nowMs: number): boolean {
    const sig = url.searchParams.get('sig');
    const expires = Number(url.searchParams.get('expires'));
    if (!sig || !Number.isSafeInteger(expires) || expires * 1000 <= nowMs) {
      return false;
    }
    const params = new URLSearchParams(url.searchParams);
    params.delete('sig');
    const want = Buffer.from(this.#mac(`${url.pathname}?${params.toString()}`));
    const given = Buffer.from(sig);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#key).update(text).digest('base64url');
  }
}
