/**
 * The `sipscribe` command run in this process (`main(args)` of src/cli.ts), its stdout captured:
 * for commands that end by themselves (`dial`), with their peers in the same test.
 */
import { vi } from 'vitest';
import { main } from '../../src/cli.js';

/** Runs the CLI in process; returns its exit code and what it wrote to stdout. */
export async function cliInProcess(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    return { code: await main(args), out };
  } finally {
    spy.mockRestore();
  }
}
