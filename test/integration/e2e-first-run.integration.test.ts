// The first run, as a newcomer meets it (issue 12 item 9): sipscribe on its defaults with no
// speech server reachable. A softphone call (SIPp) is answered, not refused; its audio is kept in
// `storage.dir/pending/`; the live page shows the call as waiting for the speech server; once a
// server is configured (the next start), the call is transcribed and completed. With the pending
// disk budget spent (`storage.pendingMaxBytes`), the next caller gets 503.
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appliance } from '../../src/appliance.js';
import type { CallEvent } from '../../src/events.js';
import { pendingPath } from '../../src/recording/PendingRecording.js';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { dbRows, jsonlEvents, startAgain, startE2e, until, wordsSentBy, type E2e } from './e2eHarness.js';

let browser: Browser;
const envs: E2e[] = [];
const apps: Appliance[] = [];
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  for (const a of apps) {
    await a.stop(1000);
  }
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

describe('first run: no speech server reachable', () => {
  it('answers and keeps the audio, the page says it waits, the next start with a server transcribes it', async () => {
    const deadPort = await freePort();
    // stt.whenFull and storage.pendingMaxBytes on their defaults.
    const e2e = await startE2e(
      'e2e-first-run',
      { stt: { servers: [{ url: `ws://127.0.0.1:${deadPort}/api/asr-streaming` }] } },
      { webhook: false },
    );
    envs.push(e2e);
    const { page, errors } = await openPage(browser, e2e.base);
    await page.locator('#status.online').waitFor();

    const call = sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_call_pcmu.xml', { durationMs: 4000 });
    const card = page.locator('.call[data-call-id]');
    await card.locator('.waiting').waitFor();
    expect(await card.locator('.waiting').textContent()).toMatch(/waiting for the speech server/);
    const result = await call;
    expect(result.code, result.output).toBe(0); // answered, not 503

    const started = e2e.live.find((ev) => ev.type === 'call.started');
    expect(started).toMatchObject({ type: 'call.started', deferred: true });
    const id = started!.callId;
    const file = pendingPath(e2e.storageDir, id);
    await until(
      () =>
        dbRows<{ state: string }>(e2e.storageDir, 'SELECT state FROM calls WHERE id = ?', id)[0]?.state ===
        'ending',
      'the call to wait in ending',
    );
    expect(existsSync(file)).toBe(true);
    // Hung up, still waiting: the card stays, saying so.
    expect(await card.locator('.waiting').count()).toBe(1);
    expect(errors).toEqual([]);

    await e2e.app.stop(300);
    expect(existsSync(file)).toBe(true);

    const restart = async (
      name: string,
      stt: Record<string, unknown>,
      storage: Record<string, unknown> = {},
    ): Promise<{ app: Appliance; sipPort: number }> => {
      const started = await startAgain(e2e, name, { stt, storage });
      apps.push(started.app);
      return started;
    };

    // Still no server, and a budget the pending file already spends: the next caller gets 503.
    const full = await restart(
      'full',
      { servers: [{ url: `ws://127.0.0.1:${deadPort}/api/asr-streaming` }] },
      { pendingMaxBytes: 1 },
    );
    const refused = await sippCall(`127.0.0.1:${full.sipPort}`, 'uac_call_pcmu.xml', { durationMs: 1000 });
    expect(refused.code).not.toBe(0);
    expect(
      dbRows<{ reason: string; status: number }>(
        e2e.storageDir,
        'SELECT reason, status FROM refused WHERE reason = ?',
        'pending-full',
      ),
    ).toMatchObject([{ reason: 'pending-full', status: 503 }]);
    await full.app.stop(300);

    // A speech server configured: the pending call is transcribed and completed.
    const { app } = await restart('with-server', { servers: [{ url: e2e.fake.url }] });
    await app.pending.settled();
    expect(app.pending.completed).toEqual([id]);
    await app.endpoint.bus.flush();
    const ended = jsonlEvents(e2e.storageDir, id).filter(
      (e): e is Extract<CallEvent, { type: 'call.ended' }> => e.type === 'call.ended',
    );
    expect(ended).toHaveLength(1);
    const expected = wordsSentBy(e2e.fake.admitted.at(-1)!);
    expect(expected.length).toBeGreaterThan(0);
    expect(ended[0]!.transcript.map((u) => u.text).join(' ')).toBe(expected.join(' '));
    await until(() => !existsSync(file), 'the pending file to be deleted');
  });
});
