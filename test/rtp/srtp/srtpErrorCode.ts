import { SrtpError } from '../../../rtp/errors.js';

/** The SrtpError code `fn` throws, undefined when it does not throw. */
export function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SrtpError ? err.code : `not an SrtpError: ${String(err)}`;
  }
  return undefined;
}
