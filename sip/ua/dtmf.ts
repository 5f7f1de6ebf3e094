/**
 * `application/dtmf-relay` INFO bodies (the de-facto format: `Signal=5\r\nDuration=160`;
 * Duration in milliseconds).
 */
import type { DtmfEvent } from './types.js';

/** Parses a dtmf-relay body; undefined when it carries no valid Signal. */
export function parseDtmfRelay(body: string): DtmfEvent | undefined {
  const signal = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(body)?.[1];
  if (signal === undefined || !/^([0-9*#A-Da-d]|1[0-6])$/.test(signal)) {
    return undefined;
  }
  const digit = /^1[0-6]$/.test(signal)
    ? (['*', '#', 'A', 'B', 'C', 'D', 'flash'][Number(signal) - 10] ?? signal)
    : signal.toUpperCase();
  const duration = /^\s*duration\s*=\s*([0-9]+)\s*$/im.exec(body)?.[1];
  return { digit, durationMs: duration === undefined ? 250 : Number(duration) };
}
