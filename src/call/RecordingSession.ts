/**
 * One SIPREC recording session (RFC 7866) from the INVITE to `call.ended`: a call whose streams
 * are the recorded parties. Each labelled stream (at most two, in m-line order) gets its own RTP
 * session ({@link CallMedia}) and its own {@link ChannelTranscriber}: the first stream is the
 * `caller` channel, the second the `callee` one, and the call's metadata says who each is
 * (`CallMeta.recording`: participant aor and name from the `rs-metadata`, RFC 7865).
 *
 * The streams are answered `a=recvonly` at once (no ringing: a recording client does not wait for
 * a person); their STT slots are taken at the ACK. With `stt.whenFull: "defer"` a session admitted
 * without a free slot for every stream is deferred as a whole: each channel's audio is recorded
 * ({@link DeferredCall}, `pending/<callId>.wav` and `pending/<callId>.callee.wav`) and transcribed
 * after the hangup when a slot frees up, its words labelled with the channel as a live one's. A
 * channel whose slot went to another call between the INVITE and the ACK is deferred alone (the
 * others stream); with `reject` it ends the session (reason `error`).
 *
 * A re-INVITE/UPDATE is applied stream by stream: `a=inactive` pauses a channel (no audio is
 * expected; RTP times out only sendrecv streams, so a recording session never ends on an RTP
 * timeout: it ends with the client's BYE or the session timer), and new metadata updates
 * `CallMeta.recording` and is logged with who joined, left, paused, resumed.
 */
import type { IncomingCall, OfferedStream, RecordingUpdate } from '../../sip/index.js';
import type { EndReason, RecordingMeta, RecordingParty } from '../events.js';
import type { Logger } from '../logger.js';
import type { FinalTranscript } from '../stt/index.js';
import {
  applyMetadata,
  diffMetadata,
  parseMetadata,
  senderOf,
  sipSessionId,
  type RecordingMetadata,
} from '../siprec/metadata.js';
import { CHANNELS, type Channel } from '../transcripts/channelEvents.js';
import { CallLifecycle, type EndOutcome } from './CallLifecycle.js';
import { CallMedia } from './CallMedia.js';
import type { CallSessionDeps, SessionCall } from './CallSession.js';
import { flushChannels, type ChannelTranscriber } from './ChannelTranscriber.js';
import { channelFileId, type DeferredCall } from './DeferredCall.js';
import { sdpAddress } from './sdpAddress.js';

/** One recorded stream: its m-line, RTP session and channel. */
interface Lane {
  /** The stream's m-line index in the offer. */
  readonly index: number;
  readonly label: string | undefined;
  readonly stt: ChannelTranscriber;
  media: CallMedia | null;
  paused: boolean;
  /** The channel's recording when its transcription is deferred (null: streamed live). */
  deferred: DeferredCall | null;
  /** Its deferred transcription was cancelled by the shutdown (the audio stays pending). */
  cancelled: boolean;
  /**
   * Who sends the stream, as the metadata last said (kept while nobody sends it: a participant on
   * hold is still the one this channel records).
   */
  sender: { readonly aor: string | undefined; readonly name: string | undefined } | undefined;
}

/** What a recording session needs of its SIP call: a session's, answered with `answerRecording`. */
type RecordingCall = Omit<SessionCall, 'answer' | 'ring'> & Pick<IncomingCall, 'answerRecording'>;

/** The channels a recording session can have (one per stream, in m-line order). */
export const MAX_RECORDED_STREAMS = CHANNELS.length;

export class RecordingSession {
  readonly id: string;
  readonly call: RecordingCall;
  readonly log: Logger;
  readonly #d: CallSessionDeps;
  readonly #lanes: Lane[];
  #metadata: RecordingMetadata;
  /** Its phase (from the registry's state), rejection and end, each once. */
  readonly #life: CallLifecycle;
  /** Admitted without an STT slot for every stream (`stt.whenFull: "defer"`): every channel recorded. */
  #deferFromStart = false;
  /** Resolves when the session reached a terminal state and released everything. */
  readonly done: Promise<void>;

  /**
   * @param streams the offered streams to record (at most {@link MAX_RECORDED_STREAMS})
   * @param metadata the INVITE's metadata, already read
   */
  constructor(
    id: string,
    call: RecordingCall,
    log: Logger,
    deps: CallSessionDeps,
    streams: readonly OfferedStream[],
    metadata: RecordingMetadata,
  ) {
    this.id = id;
    this.call = call;
    this.log = log;
    this.#d = deps;
    this.#metadata = metadata;
    this.#life = new CallLifecycle(id, deps, log, call, 'recording session', {
      releaseSetup: () => {
        for (const lane of this.#lanes) {
          lane.media?.close();
          lane.media = null;
          lane.stt.abort();
        }
      },
      ending: (reason) => this.#ending(reason),
      abort: () => this.abort(),
      openStt: () => (this.#deferFromStart ? Promise.resolve() : this.#openStt()),
    });
    this.done = this.#life.done;
    this.#lanes = streams.slice(0, MAX_RECORDED_STREAMS).map((s, i) => ({
      index: s.index,
      label: s.label,
      paused: s.media.direction === 'inactive',
      media: null,
      deferred: null,
      cancelled: false,
      sender: s.label === undefined ? undefined : senderOf(metadata, s.label),
      stt: this.#life.transcriber(CHANNELS[i] as Channel),
    }));
    call.on('recordingUpdated', (u) => this.#onUpdate(u));
  }

  /** Registry state of the call (terminal states once over). */
  get state(): string {
    return this.#life.state;
  }

  /** `CallMeta.recording` as the metadata says now. */
  get meta(): RecordingMeta {
    return {
      sipSessionId: sipSessionId(this.#metadata) ?? null,
      participants: this.#lanes.map((l) => ({
        channel: l.stt.channel,
        label: l.label ?? null,
        aor: l.sender?.aor ?? null,
        name: l.sender?.name ?? null,
      })),
    };
  }

  /**
   * Runs the setup (RTP ports, answer, media); never rejects: a failure rejects or ends the call.
   * @param opts.deferred no STT slot for every stream at the INVITE (`stt.whenFull: "defer"`):
   *   every channel recorded from the answer, transcribed after the hangup
   */
  async start(opts: { deferred?: boolean } = {}): Promise<void> {
    this.#deferFromStart = opts.deferred === true;
    await this.#life.setup(() => this.#setup());
  }

  async #setup(): Promise<void> {
    const { config } = this.#d;
    try {
      for (const lane of this.#lanes) {
        lane.media = await CallMedia.open(this.#d, this.log.child({ channel: lane.stt.channel }), {
          onFrame: (frame) => this.#onFrame(lane, frame),
          onTimeout: () => void this.end('rtp-timeout'),
          onFailed: (err) => {
            this.log.error({ err }, 'media lost: ending the recording session');
            void this.end('error');
          },
        });
      }
    } catch (err) {
      this.log.error({ err }, 'no RTP port: 503');
      this.#life.reject(503, { reason: 'No Media Port' });
      return;
    }
    const address = await sdpAddress(config, this.call.source.address);
    if (this.#life.abandoned()) {
      return;
    }
    const answered = await this.#life.answer(() =>
      this.call.answerRecording(
        this.#lanes.map((l) => ({ address, port: l.media!.localPort, direction: 'recvonly' as const })),
      ),
    );
    if (!answered) {
      return;
    }
    const first = answered[0];
    this.#life.answered({
      meta: { codec: first?.media.codec ?? null, srtp: null, recording: this.meta },
      deferred: this.#deferFromStart,
    });
    if (this.#deferFromStart) {
      for (const lane of this.#lanes) {
        lane.deferred = this.#life.defer(lane.stt);
      }
    }
    for (const lane of this.#lanes) {
      const s = answered.find((a) => a.index === lane.index);
      if (s && lane.media) {
        lane.media.start(s.media, () => this.#life.phase === 'live');
      }
    }
    this.log.info(
      {
        streams: this.#lanes.map((l) => ({
          channel: l.stt.channel,
          label: l.label,
          local: `${address}:${l.media?.localPort}`,
        })),
        participants: this.meta.participants,
        stt: this.#deferFromStart ? 'deferred' : 'at the ACK',
      },
      'recording session answered',
    );
    if (this.call.state === 'confirmed') {
      await this.#life.openStt();
    }
  }

  /**
   * One STT slot per channel at the ACK. A channel whose slot went to another call since the
   * INVITE is recorded and transcribed after the hangup (`whenFull: "defer"`, room left in
   * `storage.pendingMaxBytes`); otherwise the session ends (reason `error`, counted as `stt-full`).
   */
  async #openStt(): Promise<void> {
    const outcomes = await Promise.all(this.#lanes.map((l) => l.stt.open(this.#life)));
    const late = this.#lanes.filter((_, i) => outcomes[i] === 'defer');
    const deferrable = late.length > 0 && (this.#d.pendingBudget?.hasRoom() ?? true);
    if (outcomes.includes('full') || (late.length > 0 && !deferrable)) {
      this.#d.metrics.admissionRefused.inc({ reason: 'stt-full' });
      this.log.warn({ outcomes }, 'no STT slot for every stream at the ACK: ending the recording session');
      void this.end('error');
      return;
    }
    if (this.#life.phase !== 'live') {
      return;
    }
    for (const lane of late) {
      this.log.info(
        { channel: lane.stt.channel },
        'no STT slot at the ACK: recording, transcription deferred',
      );
      lane.deferred = this.#life.defer(lane.stt);
    }
    if (outcomes.includes('stream')) {
      this.#life.streaming();
    }
  }

  /**
   * One frame of a stream: to its channel's STT stream (or kept until it opens), or to its
   * deferred recording; with `storage.recordAudio` to the channel's file (`recordings/<callId>.wav`
   * for the caller, `recordings/<callId>.callee.wav`: 24 kHz PCM16 mono, from the answer on).
   * The pending budget spent ends the session (reason `error`, counted as `pending-full`).
   */
  #onFrame(lane: Lane, frame: Float32Array): void {
    if (this.#life.phase !== 'live') {
      return;
    }
    this.#d.recorder?.writeFloat24k(channelFileId(this.id, lane.stt.channel), frame);
    if (!lane.deferred) {
      lane.stt.push(frame);
    } else if (!lane.deferred.push(frame)) {
      this.#life.pendingFull('ending the deferred recording session');
    }
  }

  /**
   * A deferred channel's transcription after the hangup: waits for a slot, streams the recording,
   * flushes; its words labelled with the channel. Null when the shutdown cancelled it.
   */
  async #transcribeLater(lane: Lane, deferred: DeferredCall): Promise<FinalTranscript | null> {
    try {
      const final = await lane.stt.transcribeDeferred(deferred, this.#life.answeredWallMs);
      lane.cancelled = final === null;
      return final;
    } finally {
      lane.stt.countOn(null);
    }
  }

  /**
   * A re-INVITE/UPDATE: each stream's media updated (`a=inactive` pauses its channel), new metadata
   * applied; what changed goes out as `recording.updated` with the new `call.recording`.
   */
  #onUpdate(u: RecordingUpdate): void {
    if (this.#life.phase !== 'live') {
      return;
    }
    const paused: string[] = [];
    const resumed: string[] = [];
    if (u.streamsChanged) {
      for (const lane of this.#lanes) {
        const s = u.streams.find((x) => x.index === lane.index);
        if (!s || !lane.media) {
          continue;
        }
        const nowPaused = s.media.direction === 'inactive';
        if (nowPaused !== lane.paused) {
          lane.paused = nowPaused;
          (nowPaused ? paused : resumed).push(lane.stt.channel);
          this.log.info(
            { channel: lane.stt.channel, label: lane.label },
            nowPaused ? 'stream paused' : 'stream resumed',
          );
        }
        try {
          lane.media.update(s.media);
        } catch (err) {
          this.log.warn({ err, channel: lane.stt.channel }, 'media update failed');
        }
      }
    }
    const change = u.metadataChanged && u.metadataXml !== undefined ? this.#onMetadata(u.metadataXml) : null;
    if (!change && paused.length === 0 && resumed.length === 0) {
      return;
    }
    const party = (p: { aor: string | undefined; name: string | undefined }): RecordingParty => ({
      aor: p.aor ?? null,
      name: p.name ?? null,
    });
    if (change) {
      this.#d.calls.updateMeta(this.id, { recording: this.meta });
    }
    if (this.#d.bus.isOpen(this.id)) {
      this.#d.bus.publish(this.id, {
        type: 'recording.updated',
        joined: change?.joined.map(party) ?? [],
        left: change?.left.map(party) ?? [],
        paused,
        resumed,
      });
    }
  }

  /** New metadata (already answered 200 by the stack): applied and logged; what it changed. */
  #onMetadata(xml: string): ReturnType<typeof diffMetadata> | null {
    let update: RecordingMetadata;
    try {
      update = parseMetadata(xml);
    } catch (err) {
      this.log.warn({ err }, 'recording metadata update ignored');
      return null;
    }
    const before = this.#metadata;
    this.#metadata = applyMetadata(before, update);
    const change = diffMetadata(before, this.#metadata);
    for (const lane of this.#lanes) {
      lane.sender =
        (lane.label === undefined ? undefined : senderOf(this.#metadata, lane.label)) ?? lane.sender;
    }
    const who = (ps: readonly { aor: string | undefined; name: string | undefined }[]): string[] =>
      ps.map((p) => p.name ?? p.aor ?? '?');
    this.log.info(
      {
        joined: who(change.joined),
        left: who(change.left),
        paused: change.paused,
        resumed: change.resumed,
      },
      'recording metadata updated',
    );
    return change;
  }

  /** Ends through `ending`: BYE unless the client sent it, RTP closed, every channel flushed. */
  end(reason: EndReason): Promise<void> {
    return this.#life.end(reason);
  }

  /** The work of `ending`: every stream's RTP closed, every channel flushed or transcribed. */
  async #ending(reason: EndReason): Promise<EndOutcome> {
    this.log.info({ reason }, 'call ending');
    for (const lane of this.#lanes) {
      lane.media?.end();
      lane.media = null;
      this.#d.recorder?.stop(channelFileId(this.id, lane.stt.channel));
    }
    await this.#life.sttOpened;
    const lanes = this.#lanes;
    const finals = await flushChannels(
      lanes.map((l) => l.stt),
      this.log,
      (stt) => {
        const lane = lanes.find((l) => l.stt === stt);
        return lane?.deferred ? this.#transcribeLater(lane, lane.deferred) : stt.flush();
      },
    );
    const deferred = lanes.flatMap((l) => (l.deferred ? [l.deferred] : []));
    // Parked: the next start transcribes the files (every channel's: what a channel already
    // published is skipped) and ends the call.
    const parked = lanes.some((l) => l.cancelled && l.deferred?.onDisk);
    return {
      parked,
      // The recorded audio's length, not the wait for a slot.
      ...(deferred.length > 0 ? { durationMs: Math.max(...deferred.map((d) => d.durationMs)) } : {}),
      after: () =>
        lanes.forEach((lane, i) => {
          if (lane.deferred && finals[i] && !parked) {
            // The file goes once the sinks have the channel's transcript (after a failure it stays).
            lane.deferred.removeAfter(() => this.#d.bus.flush());
          }
        }),
    };
  }

  /**
   * Ends at once (shutdown past its deadline): streams closed without their flush, deferred
   * transcriptions cancelled (their audio left pending on disk).
   */
  abort(): void {
    for (const lane of this.#lanes) {
      lane.stt.abort();
      lane.deferred?.cancel();
    }
  }
}
