// README "Call it from a softphone", what you see on the page: a real SIPp call to the product, the
// live page open in headless Chromium. The call appears under the active calls with its caller,
// the STT's words show up while it talks, and after the hangup it is listed among the past calls
// with the transcript (expected words: what the fake STT sent).
//
// Then during a real two-channel call: a FreeSWITCH stereo stream
// (caller on the left, then the callee on the right, as mod_audio_stream/fork send it) through the
// whole product and the fake moshi-server. The card shows the call's source and both sides'
// words labelled while it runs; after the end the past call's transcript reads as a conversation:
// every line labelled, the caller's (who spoke first) before the callee's.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';
import { channelWords, endedIngressCall, le16, script } from './ingressClients.js';
import { WebSocket } from 'ws';

const FS_TOKEN = 'fs-token-0123456789abcdef';
let browser: Browser;
const envs: E2e[] = [];
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

describe('live page during a real call', () => {
  it('shows the call, its words as they come, then the transcript among past calls', async () => {
    const e2e = await startE2e('e2e-page', {}, { webhook: false });
    envs.push(e2e);
    const { page, errors } = await openPage(browser, e2e.base);
    await page.locator('#status.online').waitFor();

    const call = sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_call_pcmu.xml', { durationMs: 5000 });
    const card = page.locator('.call[data-call-id]');
    await card.waitFor();
    expect(await card.locator('.caller').textContent()).toBe('SIPp caller');
    // A word the STT sent shows up on the card while the call is still up.
    const firstWord = await until(() => {
      const stream = e2e.fake.admitted[0];
      return stream ? wordsSentBy(stream)[0] : undefined;
    }, 'a word');
    await card.locator('.word, .utterance .text', { hasText: firstWord }).first().waitFor();
    expect(await page.locator('#live-count').textContent()).toBe('1');

    expect((await call).code).toBe(0);
    const id = await until(() => e2e.live.find((ev) => ev.type === 'call.ended')?.callId, 'call.ended');
    await card.waitFor({ state: 'detached' });
    const row = page.locator(`#past tbody tr[data-call-id="${id}"]`);
    await row.waitFor();
    await row.click();
    await page.locator('#detail-lines .text').first().waitFor();
    const shown = (await page.locator('#detail-lines .text').allTextContents()).join(' ');
    expect(shown).toBe(wordsSentBy(e2e.fake.admitted[0]!).join(' '));
    expect(errors).toEqual([]);
  });
});

describe('live page during a two-channel ingress call', () => {
  it('shows both sides labelled while the stream runs, then the conversation among past calls', async () => {
    const caller = (await script('page-ingress-caller', ['hello', 'alice'])).pcm;
    const callee = (await script('page-ingress-callee', ['thank', 'you'])).pcm;
    const e2e = await startE2e(
      'page-ingress',
      { ingress: { freeswitch: { enabled: true, token: FS_TOKEN } } },
      { webhook: false },
    );
    envs.push(e2e);
    const { page, errors } = await openPage(browser, e2e.base);
    await page.locator('#status.online').waitFor();

    const key = 'fs-page-1';
    const ws = new WebSocket(
      `${e2e.base.replace('http:', 'ws:')}/ingress/freeswitch/${key}?rate=8000&channels=2`,
      {
        headers: { authorization: `Bearer ${FS_TOKEN}` },
      },
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const n = caller.length + callee.length;
    const stereo = new Int16Array(n * 2);
    for (let i = 0; i < n; i++) {
      stereo[2 * i] = i < caller.length ? (caller[i] as number) : 0;
      stereo[2 * i + 1] = i >= caller.length ? (callee[i - caller.length] as number) : 0;
    }
    const bytes = le16(stereo);
    for (let pos = 0; pos < bytes.length; pos += 640) {
      ws.send(bytes.subarray(pos, pos + 640));
    }
    ws.send(Buffer.alloc(0));

    // Live (the STT hears the stream in real time): the card says where the call comes from, and
    // once the callee is heard every line carries its side.
    const card = page.locator('.call[data-call-id]');
    await card.waitFor();
    expect(await card.locator('.call-meta').textContent()).toBe('freeswitch · L16/8000/2');
    await card.locator('.channel-callee').first().waitFor();
    await card.locator('.channel-caller').first().waitFor();
    expect(await page.locator('#live-count').textContent()).toBe('1');

    const call = await endedIngressCall(e2e, key, 60_000);
    await card.waitFor({ state: 'detached' });
    await e2e.app.endpoint.bus.flush();
    const row = page.locator(`#past tbody tr[data-call-id="${call.id}"]`);
    await row.waitFor();
    expect(await row.locator('.via').textContent()).toBe('via freeswitch');
    await row.click();
    await page.locator('#detail-lines .utterance').first().waitFor();
    const lines = await page
      .locator('#detail-lines .utterance')
      .evaluateAll((ls: { querySelector(s: string): { textContent: string | null } | null }[]) =>
        ls.map((l) => [l.querySelector('.channel')?.textContent, l.querySelector('.text')?.textContent]),
      );
    // Every line labelled; the caller spoke first, the callee after: the lines in that order,
    // each side's words those its own STT stream sent.
    const sides = lines.map(([channel]) => channel);
    expect(sides[0]).toBe('caller');
    expect(sides.at(-1)).toBe('callee');
    expect(sides.indexOf('callee')).toBeGreaterThan(sides.lastIndexOf('caller'));
    const said = (side: string): string =>
      lines
        .filter(([c]) => c === side)
        .map(([, t]) => t)
        .join(' ');
    expect(said('caller').split(' ')).toEqual(channelWords(e2e, call.id, 'caller'));
    expect(said('callee').split(' ')).toEqual(channelWords(e2e, call.id, 'callee'));
    expect([...channelWords(e2e, call.id, 'caller'), ...channelWords(e2e, call.id, 'callee')].sort()).toEqual(
      e2e.fake.admitted.flatMap((s) => wordsSentBy(s)).sort(),
    );
    expect(errors).toEqual([]);
  }, 120_000);
});
