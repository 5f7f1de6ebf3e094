/**
 * HTTP probes of a moshi-server: `GET /api/build_info` (health: moshi-server has no `/health`;
 * Unmute and its Docker HEALTHCHECK use this route) and `GET /api/modules_info` (slots: a JSON
 * list, per batched ASR module, with `used_slots`/`total_slots` as *strings*).
 */
import { setIoTimeout, type Clock } from '../../lib/clock.js';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ClientTlsOptions } from '../tls/credentials.js';

/** A GET returning status and body; injected in unit tests. */
export type HttpGet = (
  url: string,
  timeoutMs: number,
  tls?: ClientTlsOptions,
) => Promise<{ status: number; body: string }>;

/** The HTTP base (`http://host:port`) of a `ws(s)://host:port/path` URL. */
export function httpBaseOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
}

/** A GET with a clock-driven timeout, over node:http(s). */
export function nodeHttpGet(clock: Clock): HttpGet {
  return (url, timeoutMs, tls) =>
    new Promise((resolve, reject) => {
      const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(
        url,
        // One connection per probe, closed after the answer: no idle keep-alive socket is left to
        // the server when the pool stops.
        { method: 'GET', agent: false, headers: { connection: 'close' }, ...tls },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (body.length < 1_000_000) {
              body += chunk;
            }
          });
          res.on('end', () => {
            clock.clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body });
          });
          res.on('error', (err) => {
            clock.clearTimeout(timer);
            reject(err);
          });
        },
      );
      // A probe answered during a stall is an answer, not a timeout (see setIoTimeout).
      const timer = setIoTimeout(
        clock,
        () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      req.on('error', (err) => {
        clock.clearTimeout(timer);
        reject(err);
      });
      req.end();
    });
}

/** Slots of the ASR module serving `path`. */
interface SlotInfo {
  readonly used: number;
  readonly total: number;
}

/**
 * Reads `/api/modules_info` JSON: the `batched_asr` module whose `path` is `path` (or the only
 * one). Values are strings in moshi-server (`"used_slots": "3"`); numbers are accepted too.
 * @returns null when the body has no usable entry.
 */
export function parseModulesInfo(body: string, path: string): SlotInfo | null {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return null;
  }
  if (!Array.isArray(data)) {
    return null;
  }
  const asr = data.filter(
    (m): m is Record<string, unknown> =>
      m !== null && typeof m === 'object' && (m as Record<string, unknown>)['type'] === 'batched_asr',
  );
  const entry = asr.find((m) => m['path'] === path) ?? (asr.length === 1 ? asr[0] : undefined);
  if (!entry) {
    return null;
  }
  const int = (v: unknown): number =>
    typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  const used = int(entry['used_slots']);
  const total = int(entry['total_slots']);

  return Number.isFinite(used) && Number.isFinite(total) ? { used, total } : null;
}
