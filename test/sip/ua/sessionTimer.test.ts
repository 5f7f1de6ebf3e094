/**
 * Session timers against hostile values (RFC 4028): an interval is clamped to
 * MAX_SESSION_INTERVAL (a UAS may lower it in its 2xx, §9), values the grammar forbids are refused
 * with 400, and Min-SE is honoured up to the same maximum.
 */
import { describe, expect, it } from 'vitest';
import type { SipRequest } from '../../../sip/message/SipMessage.js';
import { MAX_SESSION_INTERVAL, parseSessionExpires } from '../../../sip/ua/sessionTimer.js';
import { callerRequest, memoryStack, SIPP_OFFER } from '../support/memoryStack.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function confirmed(headers: string[]) {
  const ms = memoryStack((call) => void call.answer({ address: '127.0.0.1', port: 20000 }));
  ms.send(callerRequest({ body: SIPP_OFFER, headers }));
  const ok = ms.responses().find((r) => r.status === 200);
  ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok?.toTag }));
  const ended: string[] = [];
  ms.calls[0]?.on('ended', (r) => ended.push(r));
  return { ms, ok, ended };
}

describe('parseSessionExpires (RFC 4028 §4 grammar)', () => {
  it.each([
    ['1800', { interval: 1800, refresher: undefined }],
    ['1800;refresher=uas', { interval: 1800, refresher: 'uas' }],
    [' 90 ; foo=bar ; refresher=UAC', { interval: 90, refresher: 'uac' }],
    ['4294967295', { interval: 4294967295, refresher: undefined }],
  ])('%j → %j', (value, se) => {
    expect(parseSessionExpires(value)).toEqual(se);
  });

  it.each(['', 'x', '-5', '4294967296', '99999999999', '1800;refresher=both', '1800;refresher', '18 00'])(
    '%j is refused',
    (value) => {
      expect(parseSessionExpires(value)).toBeUndefined();
    },
  );
});

describe('session timer with an absurd interval', () => {
  it('the maximum is 2 hours', () => {
    expect(MAX_SESSION_INTERVAL).toBe(7200);
  });

  it('Session-Expires: 4294968;refresher=uas → 2xx lowers it to the maximum; one refresh per half', async () => {
    const c = confirmed(['Session-Expires: 4294968;refresher=uas', 'Allow: INVITE, ACK, BYE, UPDATE']);
    expect(c.ok?.get('session-expires')).toBe(`${MAX_SESSION_INTERVAL};refresher=uas`);
    c.ms.take();
    c.ms.clock.advance((MAX_SESSION_INTERVAL / 2) * 1000 - 1);
    await flush();
    expect(c.ms.take()).toEqual([]);
    c.ms.clock.advance(1);
    await flush();
    const sent = c.ms.take() as SipRequest[];
    expect(sent.map((m) => m.method)).toEqual(['UPDATE']);
    expect(sent[0]?.get('session-expires')).toBe(`${MAX_SESSION_INTERVAL};refresher=uas`);
  });

  it('Session-Expires: 4294968;refresher=uac → lowered; the call lasts until that interval expires', () => {
    const c = confirmed(['Session-Expires: 4294968;refresher=uac', 'Supported: timer']);
    expect(c.ok?.get('session-expires')).toBe(`${MAX_SESSION_INTERVAL};refresher=uac`);
    c.ms.clock.advance((MAX_SESSION_INTERVAL - 32) * 1000 - 1);
    expect(c.ended).toEqual([]);
    c.ms.clock.advance(1);
    expect(c.ended).toEqual(['session-expired']);
  });

  it.each([
    ['Session-Expires: 4294967296', 'Bad Session-Expires'],
    ['Session-Expires: 1800;refresher=both', 'Bad Session-Expires'],
    ['Min-SE: 4294968', 'Bad Min-SE'],
    ['Min-SE: soon', 'Bad Min-SE'],
  ])('INVITE with %j → 400 %s', (header, reason) => {
    const ms = memoryStack();
    ms.send(callerRequest({ body: SIPP_OFFER, headers: [header] }));
    const r = ms.responses()[0];
    expect([r?.status, r?.reason]).toEqual([400, reason]);
    expect(ms.calls).toHaveLength(0);
  });

  it('the interval in the 2xx is never below the caller’s Min-SE (§9), never above 7200 s', () => {
    const c = confirmed(['Session-Expires: 600;refresher=uac', 'Min-SE: 300', 'Supported: timer']);
    expect(c.ok?.get('session-expires')).toBe('600;refresher=uac');
    const d = confirmed(['Session-Expires: 99999;refresher=uac', 'Min-SE: 7000', 'Supported: timer']);
    expect(d.ok?.get('session-expires')).toBe('7200;refresher=uac');
    const e = confirmed(['Session-Expires: 100;refresher=uac', 'Min-SE: 300', 'Supported: timer']);
    expect(e.ok?.get('session-expires')).toBe('300;refresher=uac');
  });

  it('a re-INVITE with Session-Expires: 4294968 is lowered too; a malformed one → 400', () => {
    const c = confirmed(['Session-Expires: 120;refresher=uac', 'Supported: timer']);
    c.ms.take();
    c.ms.send(
      callerRequest({
        method: 'UPDATE',
        cseq: 2,
        toTag: c.ok?.toTag,
        headers: ['Session-Expires: 4294968;refresher=uac', 'Supported: timer'],
      }),
    );
    expect(c.ms.responses()[0]?.get('session-expires')).toBe(`${MAX_SESSION_INTERVAL};refresher=uac`);
    c.ms.send(
      callerRequest({
        method: 'UPDATE',
        cseq: 3,
        toTag: c.ok?.toTag,
        headers: ['Session-Expires: lots;refresher=uac'],
      }),
    );
    const r = c.ms.responses()[0];
    expect([r?.status, r?.reason]).toEqual([400, 'Bad Session-Expires']);
  });
});
