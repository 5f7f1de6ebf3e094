import type { Clock } from '../../lib/clock.js';
import type { CallEvent, EventType } from '../events.js';
import type { WebhookQueue } from '../storage/backend.js';
import type { WebhookDispatcher } from '../webhooks/WebhookDispatcher.js';
import type { TranscriptSink } from './TranscriptBus.js';

/** Which events a webhook receives (config `webhooks[].events`). */
interface WebhookSubscription {
  url: string;
  events: readonly EventType[];
}

/**
 * Puts each event into the durable outbox once per webhook subscribed to its type, then wakes the
 * dispatcher. Delivery happens later, in order per call and URL (see Outbox).
 */
export class WebhookSink implements TranscriptSink {
  readonly name = 'webhooks';
  readonly #outbox: Pick<WebhookQueue, 'enqueueAll'>;
  readonly #subs: readonly WebhookSubscription[];
  readonly #dispatcher: WebhookDispatcher;
  readonly #clock: Clock;

  constructor(
    outbox: Pick<WebhookQueue, 'enqueueAll'>,
    subs: readonly WebhookSubscription[],
    dispatcher: WebhookDispatcher,
    clock: Clock,
  ) {
    this.#outbox = outbox;
    this.#subs = subs;
    this.#dispatcher = dispatcher;
    this.#clock = clock;
  }

  /**
   * A PostgreSQL outbox answers with a promise: the bus waits for it before the next event, so a
   * call's rows are numbered in order.
   */
  handle(event: CallEvent): void | Promise<void> {
    const urls = this.#subs.filter((s) => s.events.includes(event.type)).map((s) => s.url);
    if (urls.length === 0) {
      return;
    }
    const queued = this.#outbox.enqueueAll(urls, event, this.#clock.now());
    if (queued instanceof Promise) {
      return queued.then(() => this.#dispatcher.notify());
    }
    this.#dispatcher.notify();
  }
}
