import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/logger.js';

/** A pino logger whose records are parsed into `records` so tests can assert on them. */
export function logSink(level = 'debug'): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) {
          records.push(JSON.parse(line) as Record<string, unknown>);
        }
      }
      cb();
    },
  });
  return { logger: pino({ level }, stream), records };
}
