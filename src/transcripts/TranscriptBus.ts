/**
 * The transcript bus: one ordered stream of events per call, fanned out to every sink.
 *
 * - `seq` starts at 1 and increases by one per event within a call.
 * - Each sink has its own queue and receives the events in publish order, one at a time (the next
 *   event waits until the sink's promise for the previous one settles). A slow sink therefore only
 *   delays itself; a failing sink's error is logged and counted and the next event goes on.
 * - `publish` is synchronous and never throws because of a sink: sinks run after it returns.
 * - The events of calls still open are kept, so a live client that connects mid-call can be sent
 *   everything so far (`activeEvents()`), except the words an utterance of their channel has since
 *   covered (the utterance carries them).
 */
import { interleave } from './formats.js';
import type { Clock } from '../../lib/clock.js';
import type { CallEvent, CallMeta, EndReason, EventBody, TranscriptUtterance } from '../events.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Something that receives every event of every call. */
export interface TranscriptSink {
  /** Short name for logs and metrics (`console`, `storage`, `webhooks`, `live`). */
  readonly name: string;
  /** Handles one event. May return a promise; the sink's next event waits for it. */
  handle(event: CallEvent): void | Promise<void>;
  /**
   * Writes out what the sink buffers (a sink that batches its writes); `TranscriptBus.flush()` calls
   * it after the sink's queue drained.
   */
  flush?(): void | Promise<void>;
  /** Releases the sink's resources; called once by `TranscriptBus.close()` after the queues drain. */
  close?(): void | Promise<void>;
}

/** Counters the bus reports to (the metrics registry implements this). */
export interface BusCounters {
  sinkFailed(sink: string): void;
  sinkDropped(sink: string): void;
}

interface TranscriptBusOptions {
  logger: Logger;
  clock: Clock;
  /** Events a sink may have waiting before new ones are dropped for it (default 10 000). */
  maxQueue?: number;
  counters?: BusCounters;
}

/** Delivery figures of one sink. */
interface SinkStats {
  delivered: number;
  failed: number;
  dropped: number;
  queued: number;
}

interface OpenCall {
  meta: CallMeta;
  seq: number;
  answeredAt: number | null;
  events: CallEvent[];
  utterances: TranscriptUtterance[];
}

class SinkLane {
  readonly sink: TranscriptSink;
  readonly stats: SinkStats = { delivered: 0, failed: 0, dropped: 0, queued: 0 };
  #queue: CallEvent[] = [];
  #running = false;
  #idle: (() => void)[] = [];
  readonly #bus: { logger: Logger; maxQueue: number; counters: BusCounters | undefined };

  constructor(sink: TranscriptSink, bus: { logger: Logger; maxQueue: number; counters?: BusCounters }) {
    this.sink = sink;
    this.#bus = { logger: bus.logger, maxQueue: bus.maxQueue, counters: bus.counters };
  }

  push(event: CallEvent): void {
    if (this.#queue.length >= this.#bus.maxQueue) {
      this.stats.dropped++;
      this.#bus.counters?.sinkDropped(this.sink.name);
      if (this.stats.dropped === 1 || this.stats.dropped % 1000 === 0) {
        this.#bus.logger.warn(
          { sink: this.sink.name, dropped: this.stats.dropped, callId: event.callId },
          'transcript sink is too slow; dropping events for it',
        );
      }
      return;
    }
    this.#queue.push(event);
    this.stats.queued = this.#queue.length;
    if (!this.#running) {
      this.#running = true;
      void this.#run();
    }
  }

  async #run(): Promise<void> {
    // NOTE: start on a microtask so that publish() returns before any sink code runs.
    await Promise.resolve();
    for (let event = this.#queue.shift(); event; event = this.#queue.shift()) {
      this.stats.queued = this.#queue.length;
      try {
        await this.sink.handle(event);
        this.stats.delivered++;
      } catch (err) {
        this.stats.failed++;
        this.#bus.counters?.sinkFailed(this.sink.name);
        if (this.stats.failed <= 10 || this.stats.failed % 100 === 0) {
          this.#bus.logger.warn(
            { err, sink: this.sink.name, callId: event.callId, seq: event.seq, failed: this.stats.failed },
            'transcript sink failed',
          );
        }
      }
    }
    this.stats.queued = 0;
    this.#running = false;
    for (const resolve of this.#idle.splice(0)) {
      resolve();
    }
  }

  async idle(): Promise<void> {
    if (!this.#running) {
      return;
    }
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }
}

/** Thrown when publishing to a call the bus does not know (never opened or already ended). */
export class UnknownCallError extends AppError {
  constructor(callId: string) {
    super('BUS_ERR_UNKNOWN_CALL', `no open transcript stream for call ${callId}`);
  }
}

export class TranscriptBus {
  readonly #lanes: SinkLane[] = [];
  readonly #calls = new Map<string, OpenCall>();
  readonly #opts: Required<Pick<TranscriptBusOptions, 'logger' | 'clock' | 'maxQueue'>> & {
    counters?: BusCounters;
  };
  #closed = false;

  constructor(opts: TranscriptBusOptions) {
    this.#opts = { maxQueue: 10_000, ...opts };
  }

  /** Adds a sink; it receives every event published from now on. */
  addSink(sink: TranscriptSink): void {
    this.#lanes.push(new SinkLane(sink, this.#opts));
  }

  /**
   * Opens the event stream of a call. Publishing `call.started` is up to the caller.
   * `resume` reopens the stream of a call a previous run left unfinished (a deferred transcription
   * completed at the next start): `seq` goes on after `lastSeq` and the `call.ended` transcript
   * starts with the `utterances` already published.
   */
  openCall(
    callId: string,
    meta: CallMeta,
    resume?: { lastSeq: number; utterances: readonly TranscriptUtterance[] },
  ): void {
    if (this.#calls.has(callId)) {
      throw new AppError('BUS_ERR_DUPLICATE_CALL', `call ${callId} is already open`);
    }
    this.#calls.set(callId, {
      meta,
      seq: resume?.lastSeq ?? 0,
      answeredAt: null,
      events: [],
      utterances: [...(resume?.utterances ?? [])],
    });
  }

  /** Closes a call's stream without `call.ended` (its end was published by an earlier run). */
  closeCall(callId: string): void {
    this.#calls.delete(callId);
  }

  /** Whether the call's stream is open. */
  isOpen(callId: string): boolean {
    return this.#calls.has(callId);
  }

  /** Changes call metadata (the codec is known only after the offer/answer) for later events. */
  updateMeta(callId: string, patch: Partial<CallMeta>): void {
    const call = this.#get(callId);
    call.meta = Object.assign({}, call.meta, patch);
  }

  /** Sets the answer time that `offsetMs` counts from (wall-clock ms; default now). */
  markAnswered(callId: string, at: number = this.#opts.clock.now()): void {
    this.#get(callId).answeredAt = at;
  }

  /**
   * Publishes one event of a call: adds the common fields, remembers it for late live clients and
   * queues it for every sink. `call.ended` closes the call's stream.
   * @throws UnknownCallError when the call is not open.
   */
  publish(callId: string, body: EventBody): CallEvent {
    const call = this.#get(callId);
    const now = this.#opts.clock.now();
    // Object.assign, not a spread: `{ ...body, seq, … }` gives every event a hidden class (V8 Map
    // and descriptor array, ~300 bytes) of its own, and the events of open calls are kept. The
    // fields in the same order either way: the body's, then these.
    const event: CallEvent = Object.assign({}, body, {
      seq: ++call.seq,
      callId,
      at: new Date(now).toISOString(),
      offsetMs: call.answeredAt === null ? 0 : Math.max(0, Math.round(now - call.answeredAt)),
      call: call.meta,
    });
    if (event.type === 'transcript.utterance') {
      call.utterances.push({
        text: event.text,
        startMs: event.startMs,
        endMs: event.endMs,
        words: event.words,
        channel: event.channel,
      });
      // Its words are in it: a client that connects later gets the utterance, not them again
      // (what is kept of a call grows with its utterances, not with every word said).
      const { channel, endMs } = event;
      call.events = call.events.filter(
        (e) => !(e.type === 'transcript.word' && e.channel === channel && e.startMs <= endMs),
      );
    }
    if (event.type === 'call.ended') {
      this.#calls.delete(callId);
    } else {
      call.events.push(event);
    }
    if (!this.#closed) {
      for (const lane of this.#lanes) {
        lane.push(event);
      }
    }
    return event;
  }

  /**
   * Publishes `call.ended` with the transcript collected from this call's utterances and the
   * duration since answer (or `durationMs` when known otherwise), then closes the stream.
   */
  endCall(callId: string, reason: EndReason, durationMs?: number): CallEvent {
    const call = this.#get(callId);
    durationMs ??=
      call.answeredAt === null ? 0 : Math.max(0, Math.round(this.#opts.clock.now() - call.answeredAt));
    return this.publish(callId, {
      type: 'call.ended',
      reason,
      durationMs,
      transcript: interleave(call.utterances),
    });
  }

  /** Every event so far of every call still open, each call's in seq order. */
  activeEvents(): CallEvent[] {
    return [...this.#calls.values()].flatMap((c) => c.events);
  }

  /** Ids of the calls whose stream is open. */
  openCallIds(): string[] {
    return [...this.#calls.keys()];
  }

  /** Delivery figures per sink name. */
  stats(): Record<string, SinkStats> {
    return Object.fromEntries(this.#lanes.map((l) => [l.sink.name, { ...l.stats }]));
  }

  /** Resolves when every sink has handled every event published so far (and written what it buffers). */
  async flush(): Promise<void> {
    await Promise.all(
      this.#lanes.map(async (l) => {
        await l.idle();
        await l.sink.flush?.();
      }),
    );
  }

  /** Stops fan-out, waits for the queues to drain, then closes every sink. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    for (const lane of this.#lanes) {
      try {
        await lane.sink.close?.();
      } catch (err) {
        this.#opts.logger.warn({ err, sink: lane.sink.name }, 'closing transcript sink failed');
      }
    }
  }

  #get(callId: string): OpenCall {
    const call = this.#calls.get(callId);
    if (!call) {
      throw new UnknownCallError(callId);
    }
    return call;
  }
}
