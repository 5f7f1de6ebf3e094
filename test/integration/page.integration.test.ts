// The live page in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
// events fed through the bus appear as words on the page, ended calls move to the past calls
// with their transcript.
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { stopAll } from '../helpers/processes.js';
import { endCall, playCall, startApp, type App } from './appHarness.js';

let browser: Browser;
const apps: App[] = [];
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  for (const a of apps) {
    await a.endpoint.stop();
  }
  await stopAll();
});

describe('live page', () => {
  it('shows live words as they arrive and past calls with their transcripts', async () => {
    const app = await startApp('page', { http: { token: 'page-token-page-token' } });
    apps.push(app);
    const { bus } = app.endpoint;
    const past = playCall(app.endpoint, ['this call is already over'], {
      meta: { from: '"Bob" <sip:bob@127.0.0.1>' },
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${app.base}/#token=page-token-page-token`);
    await page.locator('#status.online').waitFor();
    // The token moved from the address into the tab's session storage.
    expect(new URL(page.url()).hash).toBe('');

    // A past call is listed; clicking it shows its transcript.
    const row = page.locator(`#past tbody tr[data-call-id="${past}"]`);
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).toBe('Bob');
    await row.click();
    await page.locator('#detail-lines .utterance').first().waitFor();
    expect(await page.locator('#detail-lines .text').allTextContents()).toEqual([
      'this call is already over',
    ]);
    expect(await page.locator('#dl-srt').getAttribute('href')).toBe(
      `/api/calls/${past}/transcript?format=srt&access_token=page-token-page-token`,
    );

    // A live call: words appear one by one, then the utterance replaces them.
    const id = playCall(app.endpoint, [], { end: false });
    const card = page.locator(`.call[data-call-id="${id}"]`);
    await card.waitFor();
    expect(await card.locator('.caller').textContent()).toBe('Alice');
    const words = ['the', 'quick', 'brown', 'fox'];
    for (const [i, w] of words.entries()) {
      bus.publish(id, { type: 'transcript.word', text: w, startMs: 100 + i * 300, channel: 'caller' });
      await card.locator('.pending .word', { hasText: w }).waitFor();
    }
    expect(await card.locator('.pending .word').allTextContents()).toEqual(words);
    bus.publish(id, {
      type: 'transcript.utterance',
      text: 'The quick brown fox',
      startMs: 100,
      endMs: 1300,
      words: words.map((text, i) => ({ text, startMs: 100 + i * 300, endMs: 380 + i * 300 })),
      channel: 'caller',
      final: true,
    });
    bus.publish(id, { type: 'transcript.word', text: 'jumps', startMs: 1400, channel: 'caller' });
    await card.locator('.utterance .text', { hasText: 'The quick brown fox' }).waitFor();
    await card.locator('.pending .word', { hasText: 'jumps' }).waitFor();
    expect(await card.locator('.pending .word').allTextContents()).toEqual(['jumps']);
    expect(await page.locator('#live-count').textContent()).toBe('1');
    await page.screenshot({ path: join(app.dir, 'page-live.png') });

    // A second browser tab opened mid-call gets the call so far (replay).
    const late = await browser.newPage();
    await late.goto(`${app.base}/#token=page-token-page-token`);
    await late
      .locator(`.call[data-call-id="${id}"] .utterance .text`, { hasText: 'The quick brown fox' })
      .waitFor();
    await late.close();

    // The call ends: it leaves the live list and shows up in the past calls.
    endCall(app.endpoint, id);
    await card.waitFor({ state: 'detached' });
    await page.locator(`#past tbody tr[data-call-id="${id}"]`).waitFor();
    expect(await page.locator('#live-count').textContent()).toBe('0');
    await page.locator(`#past tbody tr[data-call-id="${id}"]`).click();
    await page.locator('#detail-lines .text', { hasText: 'The quick brown fox' }).waitFor();
    await page.screenshot({ path: join(app.dir, 'page-past.png') });
    expect(errors).toEqual([]);
  });

  it('names names safely: markup in a caller name or a word is shown as text', async () => {
    const app = await startApp('page-xss');
    apps.push(app);
    const page = await browser.newPage();
    await page.goto(app.base);
    await page.locator('#status.online').waitFor();
    const id = playCall(app.endpoint, [], {
      end: false,
      meta: { from: '"<img src=x onerror=alert(1)>" <sip:evil@127.0.0.1>' },
    });
    app.endpoint.bus.publish(id, {
      type: 'transcript.word',
      text: '<b>bold</b>',
      startMs: 1,
      channel: 'caller',
    });
    const card = page.locator(`.call[data-call-id="${id}"]`);
    await card.locator('.pending .word', { hasText: '<b>bold</b>' }).waitFor();
    expect(await card.locator('.caller').textContent()).toBe('<img src=x onerror=alert(1)>');
    expect(await card.locator('img, b').count()).toBe(0);
  });
});
