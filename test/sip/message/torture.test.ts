/**
 * RFC 4475 torture messages, table-driven. The expectation of each row is what the RFC's section
 * says a conforming element does with the message (see test/fixtures/sip/rfc4475/README.md):
 * valid messages parse; invalid requests are answered (400, or 505 for §3.1.2.16); invalid
 * responses are dropped. What the UAS then answers to the valid ones is tested in
 * test/sip/ua/torture-uas.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../../../sip/errors.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { requestProblem, responseProblem, hasResponseEssentials } from '../../../sip/message/validate.js';
import { TORTURE, tortureBytes, type Expect } from './torture-table.js';

/** What the message layer decides: 'valid', an answer status, or 'drop'. */
function classify(data: Buffer): Expect {
  try {
    const msg = parseMessage(data, { datagram: true });
    if (msg.kind === 'request') {
      return requestProblem(msg) === undefined ? 'valid' : 400;
    }
    return responseProblem(msg) === undefined ? 'valid' : 'drop';
  } catch (err) {
    if (!(err instanceof SipParseError)) {
      throw err;
    }
    return err.isRequest && err.headers && hasResponseEssentials(err.headers)
      ? (err.status as Expect)
      : 'drop';
  }
}

describe('RFC 4475 torture messages (message layer)', () => {
  it('covers all 49 messages', () => {
    expect(TORTURE).toHaveLength(49);
  });
  it.each(TORTURE)('%s (RFC 4475 §%s) → %s', (file, _section, expected) => {
    expect(classify(tortureBytes(file))).toBe(expected);
  });
});
