/**
 * The calls of every ingress adapter: admission of a new stream (draining, `ingress.maxStreams`,
 * an STT slot for each of its channels, else deferred under `stt.whenFull: "defer"` while the
 * pending budget has room), the call record, the per-source metrics
 * (`sipscribe_ingress_streams_total{source}`, `sipscribe_ingress_streams{source}`,
 * `sipscribe_ingress_refused_total{source,reason}`), the refusal log (once per source and reason at
 * warn, then at debug), the drain (the streams in progress end by themselves) and the end of every
 * stream at shutdown, through the STT flush.
 */
import type { Admission } from '../call/Admission.js';
import type { IngressKind } from '../events.js';
import type { Logger } from '../logger.js';
import { IngressCall, type IngressDeps, type IngressStreamInfo, type SourceFlow } from './IngressCall.js';

/** Why a stream or connection was refused or cut. */
export type IngressRefusal =
  | 'auth'
  | 'not-allowed'
  | 'shutting-down'
  | 'limit'
  | 'stt-full'
  | 'pending-full'
  | 'malformed'
  | 'too-large'
  | 'unsupported';

interface IngressCallsOptions extends IngressDeps {
  readonly admission: Pick<Admission, 'draining'>;
  readonly logger: Logger;
}

export class IngressCalls {
  readonly #o: IngressCallsOptions;
  readonly #calls = new Map<string, IngressCall>();
  /** `source/reason` pairs already logged at warn. */
  readonly #logged = new Set<string>();

  constructor(options: IngressCallsOptions) {
    this.#o = options;
  }

  /** Streams in progress (until their flush is over). */
  get size(): number {
    return this.#calls.size;
  }

  list(): IngressCall[] {
    return [...this.#calls.values()];
  }

  /** Whether new streams are refused (drain or shutdown): the adapters refuse them before they start. */
  get draining(): boolean {
    return this.#o.admission.draining;
  }

  /**
   * Admits a new stream and starts its call (answered, STT streams opening), or says why not (the
   * refusal is counted and logged; the adapter closes the connection with a clear reason).
   */
  begin(info: IngressStreamInfo, flow: SourceFlow): IngressCall | IngressRefusal {
    const { admission, config, pool, calls, metrics } = this.#o;
    const source = info.ingress;
    let refusal: IngressRefusal | null = null;
    let deferred = false;
    if (admission.draining) {
      refusal = 'shutting-down';
    } else if (this.#calls.size >= config.ingress.maxStreams) {
      refusal = 'limit';
    } else if (!pool.canAdmit() || (pool.freeSlots() ?? Infinity) < info.channels.length) {
      // One STT slot per channel; without them, recorded for later as a SIP call is (`defer`).
      if (config.stt.whenFull !== 'defer') {
        refusal = 'stt-full';
      } else if (this.#o.pendingBudget?.hasRoom() === false) {
        refusal = 'pending-full';
      } else {
        deferred = true;
      }
    }
    if (refusal !== null) {
      this.refused(source, refusal, { key: info.key, remote: info.remote });
      return refusal;
    }
    const record = calls.create({
      sipCallId: info.key,
      from: info.from,
      to: info.to,
      account: null,
      transport: info.transport,
      codec: null,
      source: info.remote,
      ingress: source,
    });
    const log = calls.logger(record.id);
    log.info(
      { ingress: source, key: info.key, remote: info.remote, channels: info.channels, codec: info.codec },
      'incoming stream',
    );
    const call = new IngressCall(record.id, info, log, this.#o, flow);
    this.#calls.set(record.id, call);
    metrics.ingressStreams.inc({ source });
    metrics.ingressActive.inc({ source });
    void call.done.then(() => {
      this.#calls.delete(record.id);
      metrics.ingressActive.dec({ source });
    });
    call.start({ deferred });
    return call;
  }

  /** Counts and logs a refused or cut connection (once per source and reason at warn). */
  refused(
    source: Exclude<IngressKind, 'sip'>,
    reason: IngressRefusal,
    fields: Record<string, unknown> = {},
  ): void {
    this.#o.metrics.ingressRefused.inc({ source, reason });
    const key = `${source}/${reason}`;
    const first = !this.#logged.has(key);
    if (first && this.#logged.size < 1000) {
      this.#logged.add(key);
    }
    this.#o.logger[first ? 'warn' : 'debug'](
      { ingress: source, reason, ...fields },
      'ingress stream refused',
    );
  }

  /**
   * Drain: waits until every stream in progress has ended by itself (its source's hangup, close or
   * idle timeout) and its transcript is flushed (a deferred one transcribed), at most `timeoutMs`.
   * New streams must already be refused (`Admission.stopAccepting`). Resolves true when none is
   * left; `cut` resolving ends the wait early (a second SIGTERM).
   */
  async drained(timeoutMs: number, cut?: Promise<void>): Promise<boolean> {
    const all = this.list();
    if (all.length === 0) {
      return true;
    }
    if (timeoutMs <= 0) {
      return false;
    }
    const { clock, logger } = this.#o;
    logger.info({ streams: all.length, timeoutMs }, 'draining: waiting for the ingress streams in progress');
    const done = Promise.all(all.map((c) => c.done));
    let timer: ReturnType<typeof clock.setTimeout> | undefined;
    await Promise.race([
      done,
      ...(cut ? [cut] : []),
      new Promise<void>((r) => (timer = clock.setTimeout(r, timeoutMs))),
    ]);
    if (timer !== undefined) {
      clock.clearTimeout(timer);
    }
    if (this.size > 0) {
      logger.warn({ streams: this.size }, 'drain ended: ending the ingress streams left');
      return false;
    }
    return true;
  }

  /**
   * Ends every stream through the STT flush (reason `shutdown`), waiting at most `deadlineMs`;
   * streams still flushing then are cut.
   */
  async shutdown(deadlineMs: number): Promise<void> {
    const all = this.list();
    if (all.length === 0) {
      return;
    }
    const { clock, logger } = this.#o;
    logger.info({ streams: all.length, deadlineMs }, 'ending ingress streams');
    const ended = Promise.all(all.map((c) => c.end('shutdown')));
    let timer: ReturnType<typeof clock.setTimeout> | undefined;
    const late = await Promise.race([
      ended.then(() => false),
      new Promise<boolean>((r) => (timer = clock.setTimeout(() => r(true), deadlineMs))),
    ]);
    if (timer !== undefined) {
      clock.clearTimeout(timer);
    }
    if (late) {
      logger.warn({ streams: this.size }, 'shutdown deadline passed: cutting the ingress STT flush');
      for (const c of this.list()) {
        c.abort();
      }
      await ended;
    }
  }
}
