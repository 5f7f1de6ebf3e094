/**
 * Our UAC (`SipStack.dial`, for `sipscribe dial`) against a real callee (SIPp `uas.xml`: 100,
 * 180, rings 1 s, 200, streams, answers BYE) over UDP and TCP; CANCEL while ringing (SIPp answers
 * 200 + 487); a rejection from our own UAS surfaces as CallRejectedError.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CallRejectedError, SipStack } from '../../sip/index.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { sippServer, type SipTransport } from '../helpers/sipp.js';
import { startAnswerer, type Answerer } from '../sip/support/answerer.js';

const stacks: SipStack[] = [];
let uas: Answerer | undefined;

afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.stop()));
  await uas?.stop();
  uas = undefined;
});
afterAll(async () => {
  await stopAll();
});

async function caller(): Promise<SipStack> {
  const port = await freePort();
  const s = new SipStack({
    listen: [
      { transport: 'udp', host: '127.0.0.1', port },
      { transport: 'tcp', host: '127.0.0.1', port },
    ],
  });
  await s.start();
  stacks.push(s);
  return s;
}

describe.each<SipTransport>(['udp', 'tcp'])('sipscribe UAC → SIPp UAS over %s', (transport) => {
  it('INVITE with our offer, 180, 200, ACK; our BYE completes the SIPp scenario', async () => {
    const sipp = await sippServer('uas.xml', { transport, calls: 1 });
    const uac = await caller();
    // Our media port: SIPp streams to it once it has taken the ACK.
    const media = createSocket('udp4');
    await new Promise<void>((r) => media.bind(0, '127.0.0.1', r));
    const firstRtp = once(media, 'message');
    const call = uac.dial({
      to: `sip:sipp@127.0.0.1:${sipp.port};transport=${transport}`,
      local: { address: '127.0.0.1', port: media.address().port },
    });
    const remote = await call.answered;
    expect(remote).toMatchObject({
      address: '127.0.0.1',
      port: sipp.mediaPort,
      codec: 'PCMU',
      payloadType: 0,
    });
    // uas.xml aborts ("unexpected BYE") on a BYE that arrives before it has taken the ACK: its
    // first RTP packet says it has.
    await firstRtp;
    media.close();
    await call.hangup();
    expect(call.endReason).toBe('bye-local');
    const r = await sipp.done(15_000);
    expect(r.code, r.output).toBe(0);
    expect(r.messages).toMatch(/^ACK sip:/m);
    expect(r.messages).toMatch(/^BYE sip:/m);
  });

  it('CANCEL while ringing: SIPp answers 200 + 487 and the call ends as cancelled', async () => {
    const sipp = await sippServer('uas.xml', { transport, calls: 1 });
    const uac = await caller();
    const call = uac.dial({
      to: `sip:sipp@127.0.0.1:${sipp.port};transport=${transport}`,
      local: { address: '127.0.0.1', port: 41000 },
    });
    // SIPp rings for 1 s after its 180: CANCEL then.
    await expect.poll(() => call.state, { interval: 5 }).toBe('early');
    call.cancel();
    await expect(call.answered).rejects.toMatchObject({ status: 487 });
    expect(call.endReason).toBe('cancel');
    const r = await sipp.done(15_000);
    expect(r.messages).toMatch(/^CANCEL sip:/m);
  });
});

it('a rejection (486) surfaces as CallRejectedError and ends the call as rejected', async () => {
  uas = await startAnswerer({ rejectWith: 486 });
  const uac = await caller();
  const call = uac.dial({
    to: `sip:alice@127.0.0.1:${uas.port}`,
    local: { address: '127.0.0.1', port: 41000 },
  });
  const err = await call.answered.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CallRejectedError);
  expect((err as CallRejectedError).status).toBe(486);
  expect(call.endReason).toBe('rejected');
});
