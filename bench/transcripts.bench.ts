/**
 * Transcript delivery throughput: events per second through the bus into SQLite + JSONL (the
 * storage sink), and with the webhook outbox rows written in the same batches, for 50 concurrent calls. A busy call produces about
 * 3 words per second, so 200 calls need roughly 600 word events/s plus utterances.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { wallClock } from '../lib/clock.js';
import type { CallMeta } from '../src/events.js';
import { openStorage } from '../src/storage/backend.js';
import { JsonlFiles } from '../src/storage/JsonlFiles.js';
import { StorageSink } from '../src/transcripts/StorageSink.js';
import { TranscriptBus } from '../src/transcripts/TranscriptBus.js';
import { webhookRoute } from '../src/webhooks/Outbox.js';
import { WebhookDispatcher } from '../src/webhooks/WebhookDispatcher.js';

const META: CallMeta = {
  sipCallId: 'bench@127.0.0.1',
  from: 'sip:bench@127.0.0.1',
  to: 'sip:transcribe@127.0.0.1',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '127.0.0.1:5060',
};

async function measure(
  label: string,
  withWebhooks: boolean,
  calls: number,
  wordsPerCall: number,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sipscribe-bench-'));
  const logger = pino({ level: 'silent' });
  const storage = await openStorage({ dir, webhookTimeoutMs: 10_000, clock: wallClock, logger });
  const bus = new TranscriptBus({ logger, clock: wallClock, maxQueue: 1_000_000 });
  // A dispatcher with no targets: rows are written (with their events), never sent.
  const dispatcher = new WebhookDispatcher({ outbox: storage.outbox, targets: [], clock: wallClock, logger });
  const hooks = [
    { url: 'http://127.0.0.1:9/hook', events: ['transcript.word', 'transcript.utterance'] as const },
  ];
  bus.addSink(
    new StorageSink(storage.events, new JsonlFiles(dir), {
      ...(withWebhooks
        ? { webhooks: { route: webhookRoute(hooks), queued: () => dispatcher.notify() } }
        : {}),
    }),
  );
  for (let c = 0; c < calls; c++) {
    bus.openCall(`call-${c}`, META);
  }
  const start = performance.now();
  let events = 0;
  for (let w = 0; w < wordsPerCall; w++) {
    for (let c = 0; c < calls; c++) {
      bus.publish(`call-${c}`, {
        type: 'transcript.word',
        text: `word${w}`,
        startMs: w * 300,
        channel: 'caller',
      });
      events++;
      if (w % 10 === 9) {
        bus.publish(`call-${c}`, {
          type: 'transcript.utterance',
          text: 'ten words of an utterance',
          startMs: (w - 9) * 300,
          endMs: w * 300,
          words: [],
          channel: 'caller',
          final: true,
        });
        events++;
      }
    }
  }
  await bus.flush();
  const ms = performance.now() - start;
  await bus.close();
  await dispatcher.stop();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `${label}: ${events} events for ${calls} calls in ${ms.toFixed(0)} ms = ${Math.round((events / ms) * 1000)} events/s`,
  );
}

export async function run(): Promise<void> {
  await measure('bus → SQLite + JSONL', false, 50, 200);
  await measure('bus → SQLite + JSONL + webhook outbox', true, 50, 200);
}
