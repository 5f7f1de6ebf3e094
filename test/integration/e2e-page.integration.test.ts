// README "Call it from a softphone", what you see on the page: a real SIPp call to the product, the
// live page open in headless Chromium. The call appears under the active calls with its caller,
// the STT's words show up while it talks, and after the hangup it is listed among the past calls
// with the transcript (expected words: what the fake STT sent).
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';

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
