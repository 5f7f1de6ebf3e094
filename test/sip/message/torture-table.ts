/**
 * The 49 RFC 4475 torture messages and what the message layer must decide for each: valid
 * messages parse; invalid requests are answered (400, or 505 for §3.1.2.16); invalid responses
 * are dropped. Expectations come from the RFC sections (test/fixtures/sip/rfc4475/README.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from '../../helpers/paths.js';

export type Expect = 'valid' | 400 | 505 | 'drop';

export const TORTURE: readonly (readonly [file: string, section: string, expect: Expect])[] = [
  ['wsinv', '3.1.1.1', 'valid'],
  ['intmeth', '3.1.1.2', 'valid'],
  ['esc01', '3.1.1.3', 'valid'],
  ['escnull', '3.1.1.4', 'valid'],
  ['esc02', '3.1.1.5', 'valid'],
  ['lwsdisp', '3.1.1.6', 'valid'],
  ['longreq', '3.1.1.7', 'valid'],
  ['dblreq', '3.1.1.8', 'valid'],
  ['semiuri', '3.1.1.9', 'valid'],
  ['transports', '3.1.1.10', 'valid'],
  ['mpart01', '3.1.1.11', 'valid'],
  ['unreason', '3.1.1.12', 'valid'],
  ['noreason', '3.1.1.13', 'valid'],
  ['badinv01', '3.1.2.1', 400],
  ['clerr', '3.1.2.2', 400],
  ['ncl', '3.1.2.3', 400],
  ['scalar02', '3.1.2.4', 400],
  ['scalarlg', '3.1.2.5', 'drop'],
  ['quotbal', '3.1.2.6', 400],
  ['ltgtruri', '3.1.2.7', 400],
  ['lwsruri', '3.1.2.8', 400],
  ['lwsstart', '3.1.2.9', 400],
  ['trws', '3.1.2.10', 400],
  ['escruri', '3.1.2.11', 400],
  // §3.1.2.12: the Date field is not used by this UA; the RFC allows processing the request
  // while ignoring the bad Date instead of rejecting it.
  ['baddate', '3.1.2.12', 'valid'],
  ['regbadct', '3.1.2.13', 400],
  ['badaspec', '3.1.2.14', 400],
  ['baddn', '3.1.2.15', 400],
  ['badvers', '3.1.2.16', 505],
  ['mismatch01', '3.1.2.17', 400],
  ['mismatch02', '3.1.2.18', 400],
  ['bigcode', '3.1.2.19', 'drop'],
  ['badbranch', '3.2.1', 'valid'],
  ['insuf', '3.3.1', 400],
  ['unkscm', '3.3.2', 'valid'],
  ['novelsc', '3.3.3', 'valid'],
  ['unksm2', '3.3.4', 'valid'],
  ['bext01', '3.3.5', 'valid'],
  ['invut', '3.3.6', 'valid'],
  ['regescrt', '3.3.7', 'valid'],
  ['multi01', '3.3.8', 400],
  ['mcl01', '3.3.9', 400],
  ['bcast', '3.3.10', 'valid'],
  ['zeromf', '3.3.11', 'valid'],
  ['cparam01', '3.3.12', 'valid'],
  ['cparam02', '3.3.13', 'valid'],
  ['regaut01', '3.3.14', 'valid'],
  ['sdp01', '3.3.15', 'valid'],
  ['inv2543', '3.4.1', 'valid'],
];

export function tortureBytes(file: string): Buffer {
  return readFileSync(join(FIXTURES, 'sip', 'rfc4475', `${file}.dat`));
}
