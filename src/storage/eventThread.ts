/**
 * The worker thread that writes SQLite event batches (`SqliteEventWriter` starts it): its own
 * connection to the database in `storage.dir`, the same statements as the main thread's
 * (`CallStore.saveEvents`, `Outbox.enqueueAll`), one transaction per batch. It gets each batch's
 * events as the JSON the storage sink already made (stored as it is, parsed here for the columns
 * of the words and utterances tables) and answers every batch, done or failed, by its id.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CallEvent } from '../events.js';
import { Outbox } from '../webhooks/Outbox.js';
import { CallStore } from './CallStore.js';
import { openDatabase } from './database.js';
import type { BatchRequest, BatchReply } from './SqliteEventWriter.js';

const port = parentPort;
if (!port) {
  throw new Error('eventThread runs as a worker thread');
}
const db = openDatabase((workerData as { dir: string }).dir);
const store = new CallStore(db);
const outbox = new Outbox(db);

port.on('message', (m: BatchRequest | 'close') => {
  if (m === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: BatchReply;
  try {
    const events = m.json.map((j) => JSON.parse(j) as CallEvent);
    db.transaction(() => {
      store.saveEvents(events, m.json);
      m.webhooks?.urls.forEach((urls, i) => outbox.enqueueAll(urls, events[i]!, m.webhooks!.now, m.json[i]));
    })();
    reply = { id: m.id };
  } catch (err) {
    reply = { id: m.id, error: (err as Error).message };
  }
  port.postMessage(reply);
});
