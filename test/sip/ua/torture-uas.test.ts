/**
 * RFC 4475 torture messages through the whole stack (transport → transaction → UAS) as a UAS
 * that is not a registrar or proxy: what each one gets back. 'invite' means `100 Trying` and the
 * call handed to the application; 'none' means dropped (responses with no transaction, invalid
 * responses). Expectations per RFC 4475 §3 (and RFC 3261 §8.2 for the method handling).
 */
import { describe, expect, it } from 'vitest';
import { TORTURE, tortureBytes } from '../message/torture-table.js';
import { memoryStack } from '../support/memoryStack.js';

const UAS: Readonly<Record<string, number | 'invite' | 'none'>> = {
  // Its To carries a tag: a mid-dialog request for a dialog we do not have (RFC 3261 §12.2.2).
  wsinv: 481,
  intmeth: 501, // unknown method
  esc01: 'invite',
  escnull: 405, // REGISTER: not a registrar
  esc02: 501, // RE%47IST%45R is a different (unknown) method, §3.1.1.5
  lwsdisp: 200,
  longreq: 'invite',
  dblreq: 405,
  semiuri: 200,
  transports: 200,
  mpart01: 405, // MESSAGE
  unreason: 'none',
  noreason: 'none',
  baddate: 'invite',
  badbranch: 200,
  unkscm: 416,
  novelsc: 416,
  unksm2: 405,
  bext01: 420,
  invut: 415,
  regescrt: 405,
  bcast: 'none',
  // §3.3.11: an endpoint processes Max-Forwards: 0 as if it were positive (483 is for proxies).
  zeromf: 200,
  cparam01: 405,
  cparam02: 405,
  regaut01: 405,
  sdp01: 406,
  inv2543: 'invite',
};

describe('RFC 4475 torture messages at the UAS', () => {
  it.each(TORTURE)('%s (§%s)', (file, _section, parse) => {
    const ms = memoryStack();
    ms.udp.deliver(tortureBytes(file), { address: '192.0.2.200', port: 5060 });
    const statuses = ms.responses().map((r) => r.status);
    const expected = parse === 'valid' ? UAS[file] : parse;
    if (expected === 'invite') {
      expect(statuses).toEqual([100]);
      expect(ms.calls).toHaveLength(1);
    } else if (expected === 'none' || expected === 'drop') {
      expect(statuses).toEqual([]);
    } else {
      expect(statuses).toEqual([expected]);
      expect(ms.calls).toHaveLength(0);
    }
  });
});
