import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Debian's Chromium, headless, driven by playwright-core. The flags keep it from reaching out to
 * the network at start (this machine has none) and let it run as root.
 */
export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * A new page of `browser` at `url` (the phone-or-desktop `viewport`), collecting the page's script
 * errors in `errors`: tests end with `expect(errors).toEqual([])`.
 */
export async function openPage(
  browser: Browser,
  url: string,
  viewport = { width: 1200, height: 800 },
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors };
}
