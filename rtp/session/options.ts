import type { Clock } from '../../lib/clock.js';
import { RtpConfigError } from '../errors.js';
import { JITTER_DEFAULTS } from '../jitter/JitterBuffer.js';
import { KEEPALIVE_DEFAULT_MS } from './RtpSender.js';
import { udpSocketFactory } from './socket.js';
import type { RtpSessionOptions } from './types.js';

/** Session options with their defaults resolved (clock, logger and concealer are taken apart). */
export type ResolvedOptions = Required<
  Omit<RtpSessionOptions, 'jitter' | 'logger' | 'clock' | 'concealer'>
> & {
  jitter: { minDelayMs: number; maxDelayMs: number; shrinkPercent: number };
};

/**
 * The defaults of {@link RtpSessionOptions}, in one place: jitter 60–500 ms shrinking at 10 %
 * ({@link JITTER_DEFAULTS}), `timeoutMs` 30000,
 * `strictSource` false, node:dgram sockets, CNAME `sipscribe@<host>`, `Math.random`, wall time
 * from the injected clock, comfort noise payload type 13 (RFC 3551 §6), silence sent back
 * (keep-alive interval 1000 ms when `keepalive` is chosen).
 * @param clock the session's clock (the default wall clock is `performance.timeOrigin + clock.now()`)
 * @throws {RtpConfigError} on an invalid port range (not integers, outside 1–65535, fewer than 2 ports),
 *   jitter settings out of range (delays 0–10000 ms, `shrinkPercent` 1–50), or a `keepaliveMs`
 *   outside 20–60000
 */
export function resolveOptions(options: RtpSessionOptions, clock: Clock): ResolvedOptions {
  if (
    !Number.isInteger(options.portMin) ||
    !Number.isInteger(options.portMax) ||
    options.portMin < 1 ||
    options.portMax > 65535 ||
    options.portMax - options.portMin < 1
  ) {
    throw new RtpConfigError(`invalid RTP port range ${options.portMin}–${options.portMax}`);
  }
  const j = options.jitter ?? {};
  const bad = (v: number | undefined, lo: number, hi: number) => v !== undefined && !(v >= lo && v <= hi);
  if (bad(j.minDelayMs, 0, 10_000) || bad(j.maxDelayMs, 0, 10_000) || bad(j.shrinkPercent, 1, 50)) {
    throw new RtpConfigError(
      `invalid jitter settings ${JSON.stringify(j)}: delays 0–10000 ms, shrinkPercent 1–50`,
    );
  }
  const keepaliveMs = options.keepaliveMs ?? KEEPALIVE_DEFAULT_MS;
  if (!(keepaliveMs >= 20 && keepaliveMs <= 60_000)) {
    throw new RtpConfigError(`invalid keepaliveMs ${keepaliveMs}: 20–60000`);
  }
  return {
    host: options.host,
    portMin: options.portMin,
    portMax: options.portMax,
    jitter: {
      minDelayMs: options.jitter?.minDelayMs ?? JITTER_DEFAULTS.minDelayMs,
      maxDelayMs: options.jitter?.maxDelayMs ?? JITTER_DEFAULTS.maxDelayMs,
      shrinkPercent: options.jitter?.shrinkPercent ?? JITTER_DEFAULTS.shrinkPercent,
    },
    timeoutMs: options.timeoutMs ?? 30_000,
    strictSource: options.strictSource ?? false,
    socketFactory: options.socketFactory ?? udpSocketFactory,
    cname: options.cname ?? `sipscribe@${options.host}`,
    random: options.random ?? Math.random,
    // Wall time from the injected clock (exact with the system clock, whose now() is performance.now()).
    wallClockMs: options.wallClockMs ?? (() => performance.timeOrigin + clock.now()),
    comfortNoisePayloadType: options.comfortNoisePayloadType ?? 13,
    sendBack: options.sendBack ?? 'silence',
    keepaliveMs,
  };
}
