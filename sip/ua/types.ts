/**
 * Types shared by the user-agent classes: call events, end reasons, and what a call needs from
 * the stack that owns it.
 */
import type { Clock } from '../../lib/clock.js';
import type { SipCounters } from '../counters.js';
import type { Dialog } from '../dialog/Dialog.js';
import type { Logger } from '../../lib/logger.js';
import type { HeaderField, SipRequest, SipResponse } from '../message/SipMessage.js';
import type { SrtpPolicy, SrtpSuiteInfo } from '../sdp/crypto.js';
import type { Codec, MediaDescription } from '../sdp/media.js';
import type { ServerTransaction } from '../transaction/ServerTransaction.js';
import type { TransactionLayer } from '../transaction/TransactionLayer.js';
import type { Flow, HostPort, Target } from '../transport/types.js';
import type { InviteSummary } from './IncomingCall.js';
import type { RecordingUpdate } from './recording.js';

/** Why a call ended. */
export type EndReason =
  | 'bye-remote'
  | 'bye-local'
  | 'cancel'
  | 'rejected'
  | 'session-expired'
  | 'ack-timeout'
  | 'timeout'
  | 'transport-error'
  | 'shutdown'
  | 'error';

/** A DTMF digit received in an INFO (application/dtmf-relay). */
export interface DtmfEvent {
  digit: string;
  durationMs: number;
}

/** Events of a call; register with `call.on(name, listener)`. */
interface CallEventMap {
  /** Once, when the ACK for our 2xx arrived (the call is `confirmed`; RFC 3261 §13.3.1.4). */
  confirmed: () => void;
  /** Once, when the call is over (after BYE, CANCEL, rejection, timeouts, shutdown). */
  ended: (reason: EndReason) => void;
  /** The remote media changed (re-INVITE/UPDATE: hold, unhold, new address, codec). */
  mediaUpdated: (desc: MediaDescription) => void;
  dtmf: (event: DtmfEvent) => void;
  /** A re-INVITE/UPDATE of a recording session changed its streams or brought new metadata. */
  recordingUpdated: (update: RecordingUpdate) => void;
}

/** Minimal typed emitter for call events. */
export class CallEvents {
  readonly #listeners: { [K in keyof CallEventMap]: CallEventMap[K][] } = {
    confirmed: [],
    ended: [],
    mediaUpdated: [],
    dtmf: [],
    recordingUpdated: [],
  };

  on<K extends keyof CallEventMap>(name: K, listener: CallEventMap[K]): this {
    this.#listeners[name].push(listener);
    return this;
  }

  protected emit<K extends keyof CallEventMap>(name: K, ...args: Parameters<CallEventMap[K]>): void {
    for (const l of [...this.#listeners[name]]) {
      (l as (...a: Parameters<CallEventMap[K]>) => void)(...args);
    }
  }
}

/** Session timer settings (RFC 4028). */
export interface SessionTimerOptions {
  /** Our Min-SE in seconds (default 90, the RFC's minimum). */
  minSE: number;
}

/**
 * What a call sends through: the part of the transaction layer a dialog uses, plus the three
 * transport operations it needs (a flow to a target, our sent-by on it, a 2xx retransmission).
 * Calls see only this, never the layers behind it.
 */
export interface CallSignalling extends Pick<
  TransactionLayer,
  'timers' | 'createClient' | 'request' | 'sendStateless' | 'findInviteFor'
> {
  flowFor(target: Target): Promise<Flow>;
  sentBy(flow: Flow): HostPort;
  sendResponse(res: SipResponse, flow: Flow): void;
}

/** What a call needs from the stack. */
export interface CallHost {
  readonly signalling: CallSignalling;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: SipCounters;
  readonly codecs: readonly Codec[];
  /** The SRTP suites of the media layer, strongest first (none: plain RTP only). */
  readonly srtpSuites: readonly SrtpSuiteInfo[];
  readonly sessionTimer: SessionTimerOptions;
  /** Whether we are a SIPREC recording server (RFC 7866): `siprec`, multipart bodies, `+sip.srs`. */
  readonly siprec: boolean;
  /** The SRTP policy of an incoming call (the application's, `off` without one). */
  srtpPolicy(call: InviteSummary): SrtpPolicy;
  /** The index of the listener a flow came in on (`TransportLayer.listenerOf`). */
  listenerOf(flow: Flow): number | undefined;
  /**
   * Contact value for a flow (`<sip:host:port;transport=tcp>`); `<sips:host:port>` for a secure
   * dialog over TLS (`secureDialog`, RFC 3261 §12.1.1).
   */
  contactFor(flow: Flow, secure?: boolean): string;
  /** Server/User-Agent, Allow, Supported. */
  commonHeaders(kind: 'request' | 'response'): HeaderField[];
  addDialog(dialog: Dialog, call: DialogUser): void;
  removeDialog(dialog: Dialog): void;
}

/** An object that handles requests inside its dialog. */
export interface DialogUser {
  onDialogRequest(req: SipRequest, tx: ServerTransaction | undefined): void;
  /** A retransmitted 2xx to our INVITE after its transaction ended (UAC re-sends the ACK). */
  onRetransmitted2xx?(): void;
}
