/**
 * INFO application/dtmf-relay bodies: the de-facto `Signal=…` / `Duration=…` format, read line by
 * line in linear time, and a body too large for it refused (413) before it is read.
 */
import { describe, expect, it } from 'vitest';
import { DTMF_RELAY_MAX_BODY, parseDtmfRelay } from '../../../sip/ua/dtmf.js';
import { callerRequest, memoryStack, SIPP_OFFER } from '../support/memoryStack.js';

describe('parseDtmfRelay', () => {
  it.each([
    ['Signal=5\r\nDuration=160\r\n', { digit: '5', durationMs: 160 }],
    ['  signal = #\nduration = 100', { digit: '#', durationMs: 100 }],
    ['Signal=11\r\n', { digit: '#', durationMs: 250 }],
    ['Signal=16\r\nDuration=80', { digit: 'flash', durationMs: 80 }],
    ['Signal=d', { digit: 'D', durationMs: 250 }],
  ])('%j → %j', (body, event) => {
    expect(parseDtmfRelay(body)).toEqual(event);
  });

  it.each(['', 'Duration=160', 'Signal=17', 'Signal=5 5', 'Signal=5\r\nDuration=1x', 'Signal5'])(
    '%j → undefined',
    (body) => {
      expect(parseDtmfRelay(body)).toBeUndefined();
    },
  );

  it('reads a body of blank lines up to the cap (the one at the end still counts)', () => {
    const blank = '\n'.repeat(DTMF_RELAY_MAX_BODY - 'Signal=7'.length);
    expect(parseDtmfRelay(`${blank}Signal=7`)).toEqual({ digit: '7', durationMs: 250 });
  });
});

describe('INFO with a hostile dtmf-relay body', () => {
  function confirmed() {
    const ms = memoryStack((call) => void call.answer({ address: '127.0.0.1', port: 20000 }));
    ms.send(callerRequest({ body: SIPP_OFFER }));
    const ok = ms.responses().find((r) => r.status === 200)!;
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok.toTag }));
    const digits: string[] = [];
    ms.calls[0]!.on('dtmf', (d) => digits.push(d.digit));
    return { ms, tag: ok.toTag, digits };
  }

  it('60,000 line feeds → 413, no digit, without reading the body', () => {
    const c = confirmed();
    c.ms.send(
      callerRequest({
        method: 'INFO',
        cseq: 2,
        toTag: c.tag,
        body: `${'\n'.repeat(60_000)}Signal=5`,
        contentType: 'application/dtmf-relay',
      }),
    );
    const [res] = c.ms.responses();
    expect(res?.status).toBe(413);
    expect(c.digits).toEqual([]);
  });
});
