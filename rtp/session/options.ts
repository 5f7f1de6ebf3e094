import type { Clock } from '../clock.js';
import { RtpConfigError } from '../errors.js';
import { udpSocketFactory } from './socket.js';
import type { RtpSessionOptions } from './types.js';

/** Session options with their defaults resolved (clock, logger and concealer are taken apart). */
export type ResolvedOptions = Required<
  Omit<RtpSessionOptions, 'jitter' | 'logger' | 'clock' | 'concealer'>
> & {
  jitter: { minDelayMs: number; maxDelayMs: number };
};

/**
 * The defaults of {@link RtpSessionOptions}, in one place: jitter 20–200 ms, `timeoutMs` 30000,
 * `strictSource` false, node:dgram sockets, CNAME `sipscribe@<host>`, `Math.random`, wall time
 * from the injected clock, comfort noise payload type 13 (RFC 3551 §6).
 * @param clock the session's clock (the default wall clock is `performance.timeOrigin + clock.now()`)
 * @throws {RtpConfigError} on an invalid port range (not integers, outside 1–65535, fewer than 2 ports)
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
  return {
    host: options.host,
    portMin: options.portMin,
    portMax: options.portMax,
    jitter: { minDelayMs: options.jitter?.minDelayMs ?? 20, maxDelayMs: options.jitter?.maxDelayMs ?? 200 },
    timeoutMs: options.timeoutMs ?? 30_000,
    strictSource: options.strictSource ?? false,
    socketFactory: options.socketFactory ?? udpSocketFactory,
    cname: options.cname ?? `sipscribe@${options.host}`,
    random: options.random ?? Math.random,
    // Wall time from the injected clock (exact with the system clock, whose now() is performance.now()).
    wallClockMs: options.wallClockMs ?? (() => performance.timeOrigin + clock.now()),
    comfortNoisePayloadType: options.comfortNoisePayloadType ?? 13,
  };
}
