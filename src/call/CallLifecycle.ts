/**
 * The lifecycle every session of a call composes (`CallSession`, `RecordingSession`,
 * `IngressCall`): its phase read from the call's one state machine, the CallRegistry
 * (callStates.ts; `PHASES`: `setup` while `offered` or `ringing`, `live` while `answered` or
 * `streaming`, `ending`, `done` once terminal), and each way out taken exactly once: the rejection
 * before the answer, the release of what setup took, and the end through `ending`. The STT slot
 * is taken at the ACK (`confirmed`), once.
 *
 * The session's own end is its terminal step: once it released everything (`done` resolved) its
 * phase is `done` whatever the registry says. That is the parked call, whose deferred
 * transcription the shutdown cut: the registry keeps it `ending` (its audio is pending, the next
 * start ends it) while the session is over; and the setup a failed answer left behind.
 *
 * It also builds what every session builds alike: a channel's {@link ChannelTranscriber} (whose
 * given-up failover ends the live call), a deferred channel's recording, and the end of a deferred
 * call whose pending audio budget (`storage.pendingMaxBytes`) is spent.
 */
import type { EndReason as SipEndReason } from '../../sip/index.js';
import type { EndReason } from '../events.js';
import type { Logger } from '../logger.js';
import type { Channel } from '../transcripts/channelEvents.js';
import type { CallRegistry } from './CallRegistry.js';
import type { CallSessionDeps, SessionCall } from './CallSession.js';
import type { CallState } from './callStates.js';
import { ChannelTranscriber } from './ChannelTranscriber.js';
import { DeferredCall } from './DeferredCall.js';
import { appEndReason } from './endReason.js';

/** What the lifecycle needs of the running endpoint (every session's deps offer it). */
type LifecycleDeps = Omit<CallSessionDeps, 'recorder' | 'socketFactory' | 'mediaThreads'>;

/** What the lifecycle needs of a SIP call. */
type LifecycleCall = Pick<SessionCall, 'state' | 'endReason' | 'reject' | 'hangup' | 'on'>;

type Phase = 'setup' | 'live' | 'ending' | 'done';

/** The phase of each registry state. */
const PHASES: Readonly<Record<CallState, Phase>> = {
  offered: 'setup',
  ringing: 'setup',
  answered: 'live',
  streaming: 'live',
  ending: 'ending',
  ended: 'done',
  rejected: 'done',
  cancelled: 'done',
};

/** How a call's `ending` came out: ended, or parked with its audio pending. */
export interface EndOutcome {
  /** The transcript is pending on disk: the registry keeps the call `ending` (`park`). */
  readonly parked?: boolean;
  /** For `ended`: the call's duration when it is not "answer until now" (deferred audio). */
  readonly durationMs?: number;
  /** Runs once the call is ended or parked (e.g. the deferred file's removal). */
  readonly after?: () => void;
}

/** What the lifecycle asks of its session. */
interface LifecycleHost {
  /** Frees what setup took (the call was never answered). */
  releaseSetup(): void;
  /** The work of `ending` (the registry is there, the BYE sent): media closed, STT flushed. */
  ending(reason: EndReason): Promise<EndOutcome>;
  /** Closes everything at once (the shutdown's deadline, or `ending` failed). */
  abort(): void;
  /** Takes the STT slot(s) and opens the stream(s) at the ACK (a SIP call's session). */
  openStt?(): Promise<void>;
}

export class CallLifecycle {
  readonly #id: string;
  readonly #d: LifecycleDeps;
  readonly #log: Logger;
  /** The SIP call (none for a stream from another system: it has no setup). */
  readonly #call: LifecycleCall | null;
  readonly #host: LifecycleHost;
  /** Names the session in its failure lines ("call setup failed", "ending the call failed"). */
  readonly #what: string;
  #over = false;
  #ending: Promise<void> | null = null;
  /** The status we rejected with ourselves (else the SIP end reason's). */
  #rejectStatus: number | null = null;
  /** The STT being opened (from the ACK until it streams, is deferred or given up). */
  #sttOpening: Promise<void> | null = null;
  /** When the call was answered: monotonic and wall clock (ms). */
  answeredAt = 0;
  answeredWallMs = 0;
  #resolveDone!: () => void;
  #resolveSipGone!: () => void;
  /** Resolves when the SIP side of the call ended. */
  readonly sipGone = new Promise<void>((resolve) => (this.#resolveSipGone = resolve));
  /** Resolves once the session is over and released everything. */
  readonly done = new Promise<void>((resolve) => (this.#resolveDone = resolve));

  constructor(
    id: string,
    deps: LifecycleDeps,
    log: Logger,
    call: LifecycleCall | null,
    what: string,
    host: LifecycleHost,
  ) {
    this.#id = id;
    this.#d = deps;
    this.#log = log;
    this.#call = call;
    this.#what = what;
    this.#host = host;
    call?.on('ended', (r) => this.#onSipEnded(r));
    call?.on('confirmed', () => {
      if (this.phase === 'live') {
        void this.openStt();
      }
    });
  }

  /** Opens the STT once (at the ACK, or after the answer when the ACK came first); one promise. */
  openStt(): Promise<void> {
    this.#sttOpening ??= (this.#host.openStt?.() ?? Promise.resolve()).catch((err: unknown) => {
      this.#log.error({ err }, 'opening the STT stream failed');
    });
    return this.#sttOpening;
  }

  /** Resolves once the STT opened at the ACK streams, is deferred or given up (none: at once). */
  get sttOpened(): Promise<void> {
    return this.#sttOpening ?? Promise.resolve();
  }

  /** A channel's transcriber; its failover given up ends the live call (`error`). */
  transcriber(channel: Channel, source?: 'paced' | 'bursty'): ChannelTranscriber {
    const d = this.#d;
    return new ChannelTranscriber({
      callId: this.#id,
      channel,
      log: this.#log,
      bus: d.bus,
      metrics: d.metrics,
      pool: d.pool,
      clock: d.clock,
      wallClock: d.wallClock,
      earlyAudioMs: d.config.stt.earlyAudioMs,
      ...(source ? { source } : {}),
      onFailoverGivenUp: () => {
        if (this.phase === 'live') {
          void this.end('error');
        }
      },
    });
  }

  /** Registry state of the call (`ended` once it left the registry). */
  get state(): CallState {
    return this.#d.calls.get(this.#id)?.state ?? 'ended';
  }

  get phase(): Phase {
    return this.#over ? 'done' : PHASES[this.state];
  }

  /** The call went (CANCEL, BYE, failure) while setup waited: what it took is freed (true). */
  abandoned(): boolean {
    if (this.phase === 'setup' && this.#call?.state !== 'ended') {
      return false;
    }
    this.#releaseSetup();
    return true;
  }

  /** Setup is over without an answer: what it took is freed (once the call is over). */
  #releaseSetup(): void {
    this.#host.releaseSetup();
    const phase = this.phase;
    if (phase === 'setup' || phase === 'done') {
      this.#finish();
    }
  }

  /**
   * Rejects the call before the answer (its `ended` records the status), or hangs it up when the
   * SIP side answered already; records the rejection at once when the SIP side is over.
   */
  reject(status: number, opts: { retryAfter?: number; reason?: string } = {}): void {
    this.#rejectStatus = status;
    const sipState = this.#call?.state ?? 'ended';
    if (sipState === 'offered' || sipState === 'ringing') {
      this.#call?.reject(status, opts); // 'ended' → #onSipEnded records it
    } else if (sipState !== 'ended') {
      // Answered at the SIP level but setup failed after that: hang up ('ended' follows).
      this.#call?.hangup().catch((err: unknown) => this.#log.warn({ err }, 'hangup failed'));
    } else {
      this.#onSipEnded('rejected');
    }
  }

  /**
   * Runs the setup; never rejects: a failure rejects the call (500) before the answer, ends it
   * after. A call whose SIP side ended as the answer settled (BYE raced it) is ended.
   */
  async setup(run: () => Promise<void>): Promise<void> {
    try {
      await run();
      if (this.phase === 'live' && this.#call?.state === 'ended') {
        void this.end(appEndReason(this.#call.endReason ?? 'error'));
      }
    } catch (err) {
      this.#log.error({ err }, `${this.#what} setup failed`);
      if (this.phase === 'setup') {
        this.reject(500);
      } else {
        void this.end('error');
      }
    }
  }

  /**
   * Sends the SIP answer; its result, or null when it failed (the SIP stack sent 488, the call's
   * `ended` records it) or the call went meanwhile (setup released).
   */
  async answer<T>(send: () => Promise<T>): Promise<T | null> {
    let answer: T;
    try {
      answer = await send();
    } catch (err) {
      this.#log.info({ err }, 'answer failed');
      this.#rejectStatus ??= 488;
      this.#releaseSetup();
      return null;
    }
    return this.phase === 'setup' ? answer : null;
  }

  /** Records the answer (`answered`, `call.started`) and its time. */
  answered(details: Parameters<CallRegistry['transition']>[2]): void {
    this.answeredAt = this.#d.clock.now();
    this.answeredWallMs = this.#d.wallClock();
    this.#d.calls.transition(this.#id, 'answered', details);
  }

  /**
   * Records a channel whose transcription is deferred (`pending/<channelFileId>.wav`, its lines
   * logged with the channel), first the audio its transcriber kept while a slot was sought.
   */
  defer(stt: ChannelTranscriber): DeferredCall {
    const { config, pendingBudget } = this.#d;
    const log = this.#log.child({ channel: stt.channel });
    const deferred = DeferredCall.record(
      config.storage.dir,
      this.#id,
      log,
      pendingBudget ?? null,
      stt.channel,
    );
    for (const frame of stt.takeEarly()) {
      deferred.push(frame);
    }
    return deferred;
  }

  /** A deferred call's pending audio budget is spent: counted (`pending-full`), the call ended. */
  pendingFull(what: string): void {
    const budget = this.#d.pendingBudget;
    this.#log.warn(
      { pendingMaxBytes: budget?.maxBytes, pendingBytes: budget?.usedBytes },
      `pending audio budget spent (storage.pendingMaxBytes): ${what}`,
    );
    this.#d.metrics.admissionRefused.inc({ reason: 'pending-full' });
    void this.end('error');
  }

  /** An STT stream is open: `streaming` (once), unless the call is already on its way out. */
  streaming(): void {
    if (this.phase === 'live' && this.state === 'answered') {
      this.#d.calls.transition(this.#id, 'streaming');
    }
  }

  /** The SIP side ended: before the answer the call is rejected or cancelled, after it ended. */
  #onSipEnded(reason: SipEndReason): void {
    this.#log.debug({ reason, phase: this.phase }, 'sip call ended');
    this.#resolveSipGone();
    const phase = this.phase;
    if (phase === 'setup') {
      this.#over = true;
      if (reason === 'cancel') {
        this.#d.calls.transition(this.#id, 'cancelled');
      } else {
        this.#d.calls.transition(this.#id, 'rejected', {
          status: this.#rejectStatus ?? (reason === 'rejected' ? 488 : 503),
        });
      }
      this.#releaseSetup();
    } else if (phase === 'live') {
      void this.end(appEndReason(reason));
    }
  }

  /**
   * Ends the call through `ending`: BYE (unless the peer already ended it), the session's work
   * (media closed, STT flushed), then `ended` (or parked). Once: before the answer it rejects
   * (503), while ending or over it returns that end.
   */
  end(reason: EndReason): Promise<void> {
    const phase = this.phase;
    if (phase === 'setup') {
      this.reject(503);
      return this.done;
    }
    if (phase !== 'live') {
      // Ending already (also from within its own first steps) or over.
      return this.#ending ?? this.done;
    }
    this.#ending ??= this.#end(reason).catch((err: unknown) => {
      // Never an unhandled rejection: the call is over either way.
      this.#log.error({ err }, `ending the ${this.#what} failed`);
      this.#host.abort();
      this.#finish();
    });
    return this.#ending;
  }

  async #end(reason: EndReason): Promise<void> {
    const { calls } = this.#d;
    calls.transition(this.#id, 'ending', { reason });
    if (this.#call && this.#call.state !== 'ended') {
      this.#call.hangup().catch((err: unknown) => this.#log.warn({ err }, 'hangup failed'));
    }
    const outcome = await this.#host.ending(reason);
    this.#over = true;
    if (outcome.parked) {
      // The row stays `ending`; the next start transcribes the pending audio and ends the call.
      calls.park(this.#id);
    } else if (calls.active().some((r) => r.id === this.#id)) {
      // (At shutdown past the deadline the registry may already have ended it.)
      calls.transition(
        this.#id,
        'ended',
        outcome.durationMs === undefined ? {} : { durationMs: outcome.durationMs },
      );
    }
    outcome.after?.();
    this.#finish();
  }

  #finish(): void {
    this.#over = true;
    this.#resolveDone();
  }
}
