// The live page in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
// events fed through the bus appear as words on the page, ended calls move to the past calls
// with their transcript.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { stopAll } from '../helpers/processes.js';
import { FakeClock } from '../helpers/FakeClock.js';
import { endCall, playCall, startApp, type App } from './appHarness.js';

/** The DOM members the checks below read (the project's TypeScript has no DOM library). */
interface Box {
  scrollWidth: number;
  clientWidth: number;
  scrollHeight: number;
  clientHeight: number;
}
interface Cell {
  className: string;
  textContent: string | null;
  querySelector(selector: string): Cell | null;
  dataset: Record<string, string | undefined>;
  getClientRects(): { length: number };
  getBoundingClientRect(): { right: number };
  closest(selector: string): Cell | null;
}

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
    const { page, errors } = await openPage(browser, `${app.base}/#token=page-token-page-token`);
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
    // Download links never carry the token: a click fetches a short-lived signed link.
    expect(await page.locator('#dl-srt').getAttribute('href')).toBe(
      `/api/calls/${past}/transcript?format=srt`,
    );
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-srt').click()]);
    expect(download.url()).toMatch(
      new RegExp(`/api/calls/${past}/transcript\\?format=srt&expires=\\d+&sig=`),
    );
    expect(download.url()).not.toContain('page-token');
    expect(download.suggestedFilename()).toBe(`${past}.srt`);

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

  it('a call with both sides: every line labelled and in spoken order, live, past and downloaded', async () => {
    const app = await startApp('page-two-channels');
    apps.push(app);
    const { bus } = app.endpoint;
    const { page, errors } = await openPage(browser, app.base);
    await page.locator('#status.online').waitFor();
    // A Twilio both_tracks call: each side's words come from its own STT stream, in its own time.
    const id = playCall(app.endpoint, [], {
      end: false,
      meta: { from: '+15551230000', to: '+15559870000', ingress: 'twilio', codec: 'PCMU/8000' },
    });
    const card = page.locator(`.call[data-call-id="${id}"]`);
    const word = (channel: string, text: string, startMs: number): void => {
      bus.publish(id, { type: 'transcript.word', text, startMs, channel });
    };
    const utterance = (channel: string, text: string, startMs: number, endMs: number): void => {
      bus.publish(id, {
        type: 'transcript.utterance',
        text,
        startMs,
        endMs,
        words: [],
        channel,
        final: true,
      });
    };

    // One side heard so far: no labels (as for a SIP call).
    word('caller', 'hello', 200);
    await card.locator('.pending .word', { hasText: 'hello' }).waitFor();
    expect(await card.locator('.channel').count()).toBe(0);
    // The other side speaks: from now on every line, the caller's too, says who spoke.
    word('callee', 'hi', 900);
    await card.locator('.pending-line[data-channel="callee"] .word', { hasText: 'hi' }).waitFor();
    const pendingLines = await card
      .locator('.pending-line')
      .evaluateAll((ls: Cell[]) => ls.map((l) => [l.dataset['channel'], l.textContent]));
    expect(pendingLines).toEqual([
      ['caller', 'callerhello '],
      ['callee', 'calleehi '],
    ]);

    // Utterances arrive per side, not in the order they were spoken: the caller's two first.
    utterance('caller', 'Hello there', 200, 1500);
    utterance('caller', 'How are you', 2500, 3500);
    utterance('callee', 'Hi', 900, 1200);
    utterance('callee', 'Fine thanks', 3800, 4600);
    const spoken = [
      ['00:00', 'caller', 'Hello there'],
      ['00:00', 'callee', 'Hi'],
      ['00:02', 'caller', 'How are you'],
      ['00:03', 'callee', 'Fine thanks'],
    ];
    const rows = (lines: typeof card): Promise<(string | null)[][]> =>
      lines.evaluateAll((ls: Cell[]) =>
        ls.map((l) =>
          ['.offset', '.channel', '.text'].map((sel) => l.querySelector(sel)?.textContent ?? null),
        ),
      );
    await card.locator('.utterance').nth(3).waitFor();
    expect(await rows(card.locator('.utterance'))).toEqual(spoken);
    // Each utterance took its own side's words away.
    expect(await card.locator('.pending .word').count()).toBe(0);
    await page.screenshot({ path: join(app.dir, 'page-two-channels-live.png') });

    // After the call: the same conversation in the past call's transcript.
    endCall(app.endpoint, id);
    await card.waitFor({ state: 'detached' });
    const row = page.locator(`#past tbody tr[data-call-id="${id}"]`);
    await row.waitFor();
    expect(await row.locator('.via').textContent()).toBe('via twilio');
    await row.click();
    await page.locator('#detail-lines .utterance').nth(3).waitFor();
    expect(await rows(page.locator('#detail-lines .utterance'))).toEqual(spoken);
    await page.screenshot({ path: join(app.dir, 'page-two-channels-past.png') });
    // And in the text transcript the page links to.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-txt').click()]);
    expect(readFileSync(await download.path(), 'utf8')).toBe(
      '[00:00:00] caller: Hello there\n' +
        '[00:00:00] callee: Hi\n' +
        '[00:00:02] caller: How are you\n' +
        '[00:00:03] callee: Fine thanks\n',
    );
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

  it('asks for the token when it has none, says how to pass it, and keeps it for the tab', async () => {
    const token = 'page-token-page-token';
    const app = await startApp('page-login', { http: { token } });
    apps.push(app);
    const { page, errors } = await openPage(browser, app.base, { width: 390, height: 844 });
    const login = page.locator('#login');
    await login.waitFor({ timeout: 10_000 });
    expect(await page.locator('#status').textContent()).toBe('token needed');
    const text = (await login.textContent()) ?? '';
    expect(text).toContain('http.token');
    expect(text).toContain('#token=');
    const body = (await page.locator('body').textContent()) ?? '';
    expect(body).not.toContain('HTTP 401');
    expect(body).not.toContain('reconnecting');
    await page.screenshot({ path: join(app.dir, 'page-login-390.png') });

    await page.locator('#login-token').fill('wrong-token-wrong-token');
    await page.locator('#login button').click();
    await page.locator('#login-error', { hasText: 'refused' }).waitFor();
    expect(await page.locator('#status').textContent()).toBe('token needed');

    await page.locator('#login-token').fill(token);
    await page.locator('#login button').click();
    await page.locator('#status.online').waitFor();
    await login.waitFor({ state: 'hidden' });
    expect(await page.evaluate<string | null>("sessionStorage.getItem('sipscribe-token')")).toBe(token);
    await page.reload();
    await page.locator('#status.online').waitFor();
    expect(await login.isHidden()).toBe(true);
    expect(errors).toEqual([]);
  });

  for (const width of [1280, 390]) {
    it(`fits ${width} px: no sideways scrolling, the whole route on the call card, past calls readable`, async () => {
      const app = await startApp(`page-${width}`);
      apps.push(app);
      const from = '"Alice Longname-Smith" <sip:alice.with.a.rather.long.name@pbx.example.com>';
      const to = 'sip:transcription-service-0044123456789@sipscribe.example.com';
      const past = playCall(app.endpoint, ['an earlier call that was rather long in its words'], {
        meta: { from, to },
      });
      const page = await browser.newPage({ viewport: { width, height: 844 } });
      await page.goto(app.base);
      await page.locator('#status.online').waitFor();
      const id = playCall(app.endpoint, [], { end: false, meta: { from, to } });
      app.endpoint.bus.publish(id, {
        type: 'transcript.utterance',
        text: 'a sentence long enough to wrap on a phone screen, as real speech often is',
        startMs: 0,
        endMs: 4000,
        words: [],
        channel: 'caller',
        final: true,
      });
      const card = page.locator(`.call[data-call-id="${id}"]`);
      await card.locator('.utterance').waitFor();
      const route = card.locator('.route');
      expect(await route.textContent()).toBe(`${from} → ${to}`);
      // Not cut off: the route's box holds all of its text.
      const clipped = await route.evaluate(
        (e: Box) => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight,
      );
      expect(clipped).toBe(false);
      await page.locator(`#past tbody tr[data-call-id="${past}"]`).click();
      await page.locator('#detail-lines .utterance').waitFor();
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
      // Each past call's start and caller are visible, not cut off by the table.
      const cells = page.locator(`#past tbody tr[data-call-id="${past}"] td`);
      for (const i of [0, 1]) {
        const cut = await cells.nth(i).evaluate((e: Box) => e.scrollWidth > e.clientWidth);
        expect([i, cut]).toEqual([i, false]);
      }
      // Every column shown lies inside the list (none hidden behind a sideways scroll).
      const outside = await cells.evaluateAll((tds: Cell[]) => {
        const box = tds[0]?.closest('.past-list')?.getBoundingClientRect();
        return tds
          .filter((td) => td.getClientRects().length > 0)
          .filter((td) => !box || td.getBoundingClientRect().right > box.right + 0.5)
          .map((td) => td.className);
      });
      expect(outside).toEqual([]);
      await page.screenshot({ path: join(app.dir, `page-${width}.png`), fullPage: true });
    });
  }

  it('pages through past calls with a "more" control', async () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 6, 6, 0, 0));
    const app = await startApp('page-more', {}, { clock });
    apps.push(app);
    const ids: string[] = [];
    for (let i = 0; i < 57; i++) {
      ids.push(playCall(app.endpoint, [], { meta: { from: `"Caller ${i}" <sip:c${i}@127.0.0.1>` } }));
      if (i % 2 === 0) {
        clock.advance(1000); // pairs of calls share a millisecond: the pages must not skip either
      }
    }
    const page = await browser.newPage({ viewport: { width: 1280, height: 844 } });
    await page.goto(app.base);
    await page.locator('#status.online').waitFor();
    const rows = page.locator('#past tbody tr');
    await rows.nth(49).waitFor();
    expect(await rows.count()).toBe(50);
    const more = page.locator('#past-more');
    expect(await more.isVisible()).toBe(true);
    await more.click();
    await rows.nth(56).waitFor();
    expect(await rows.count()).toBe(57);
    await more.waitFor({ state: 'hidden' });
    const shown = await rows.evaluateAll((trs: Cell[]) => trs.map((tr) => tr.dataset['callId']));
    expect(shown).toEqual([...ids].reverse());
    // A call that ends now is added at the top; the older pages stay.
    const late = playCall(app.endpoint, [], { meta: { from: '"Late" <sip:late@127.0.0.1>' } });
    await page.locator(`#past tbody tr[data-call-id="${late}"]`).waitFor();
    expect(await rows.count()).toBe(58);
    expect(await rows.first().getAttribute('data-call-id')).toBe(late);
  });
});
