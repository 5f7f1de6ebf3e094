/**
 * Transcript delivery throughput: events per second through the bus into SQLite + JSONL (the
 * storage sink) and into the webhook outbox, for 50 concurrent calls. A busy call produces about
 * 3 words per second, so 200 calls need roughly 600 word events/s plus utterances.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { wallClock } from '../lib/clock.js';
import type { CallMeta } from '../src/events.js';
import { CallStore } from '../src/storage/CallStore.js';
import { JsonlFiles } from '../src/storage/JsonlFiles.js';
import { openDatabase } from '../src/storage/database.js';
import { StorageSink } from '../src/transcripts/StorageSink.js';
import { TranscriptBus } from '../src/transcripts/TranscriptBus.js';
import { WebhookSink } from '../src/transcripts/WebhookSink.js';
import { Outbox } from '../src/webhooks/Outbox.js';
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
  const db = openDatabase(dir);
  const logger = pino({ level: 'silent' });
  const bus = new TranscriptBus({ logger, clock: wallClock, maxQueue: 1_000_000 });
  bus.addSink(new StorageSink(new CallStore(db), new JsonlFiles(dir)));
  if (withWebhooks) {
    const outbox = new Outbox(db);
    // A dispatcher with no targets: rows are written, never sent (measures the enqueue side).
    const dispatcher = new WebhookDispatcher({ outbox, targets: [], clock: wallClock, logger });
    bus.addSink(
      new WebhookSink(
        outbox,
        [{ url: 'http://127.0.0.1:9/hook', events: ['transcript.word', 'transcript.utterance'] }],
        dispatcher,
        wallClock,
      ),
    );
  }
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
  db.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `${label}: ${events} events for ${calls} calls in ${ms.toFixed(0)} ms = ${Math.round((events / ms) * 1000)} events/s`,
  );
}

export async function run(): Promise<void> {
  await measure('bus → SQLite + JSONL', false, 50, 200);
  await measure('bus → SQLite + JSONL + webhook outbox', true, 50, 200);
}
