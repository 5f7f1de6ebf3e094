/**
 * One SIPREC recording session (RFC 7866) from the INVITE to `call.ended`: a call whose streams
 * are the recorded parties. Each labelled stream (at most two, in m-line order) gets its own RTP
 * session ({@link CallMedia}) and its own {@link ChannelTranscriber}: the first stream is the
 * `caller` channel, the second the `callee` one, and the call's metadata says who each is
 * (`CallMeta.recording`: participant aor and name from the `rs-metadata`, RFC 7865).
 *
 * The streams are answered `a=recvonly` at once (no ringing: a recording client does not wait for
 * a person); their STT slots are taken at the ACK, every stream's or none (a channel without one
 * ends the session, reason `error`). A re-INVITE/UPDATE is applied stream by stream: `a=inactive`
 * pauses a channel (no audio is expected; RTP times out only sendrecv streams, so a recording
 * session never ends on an RTP timeout: it ends with the client's BYE or the session timer), and
 * new metadata updates `CallMeta.recording` and is logged with who joined, left, paused, resumed.
 */
import type {
  EndReason as SipEndReason,
  IncomingCall,
  OfferedStream,
  RecordingUpdate,
} from '../../sip/index.js';
import type { EndReason, RecordingMeta, RecordingParty } from '../events.js';
import type { Logger } from '../logger.js';
import {
  applyMetadata,
  diffMetadata,
  parseMetadata,
  senderOf,
  sipSessionId,
  type RecordingMetadata,
} from '../siprec/metadata.js';
import { CHANNELS, type Channel } from '../transcripts/channelEvents.js';
import { CallMedia } from './CallMedia.js';
import type { CallSessionDeps } from './CallSession.js';
import { ChannelTranscriber, flushChannels } from './ChannelTranscriber.js';
import { appEndReason } from './endReason.js';
import { sdpAddress } from './sdpAddress.js';

type Phase = 'setup' | 'live' | 'ending' | 'done';

/** One recorded stream: its m-line, RTP session and channel. */
interface Lane {
  /** The stream's m-line index in the offer. */
  readonly index: number;
  readonly label: string | undefined;
  readonly stt: ChannelTranscriber;
  media: CallMedia | null;
  paused: boolean;
  /**
   * Who sends the stream, as the metadata last said (kept while nobody sends it: a participant on
   * hold is still the one this channel records).
   */
  sender: { readonly aor: string | undefined; readonly name: string | undefined } | undefined;
}

/** The channels a recording session can have (one per stream, in m-line order). */
export const MAX_RECORDED_STREAMS = CHANNELS.length;

export class RecordingSession {
  readonly id: string;
  readonly call: IncomingCall;
  readonly log: Logger;
  readonly #d: CallSessionDeps;
  readonly #lanes: Lane[];
  #metadata: RecordingMetadata;
  #phase: Phase = 'setup';
  #answeredAt = 0;
  #answeredWall = 0;
  #sttOpening: Promise<void> | null = null;
  #ending: Promise<void> | null = null;
  #rejectStatus: number | null = null;
  #resolveDone!: () => void;
  /** Resolves when the session reached a terminal state and released everything. */
  readonly done = new Promise<void>((resolve) => (this.#resolveDone = resolve));

  /**
   * @param streams the offered streams to record (at most {@link MAX_RECORDED_STREAMS})
   * @param metadata the INVITE's metadata, already read
   */
  constructor(
    id: string,
    call: IncomingCall,
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
    this.#lanes = streams.slice(0, MAX_RECORDED_STREAMS).map((s, i) => ({
      index: s.index,
      label: s.label,
      paused: s.media.direction === 'inactive',
      media: null,
      sender: s.label === undefined ? undefined : senderOf(metadata, s.label),
      stt: new ChannelTranscriber({
        callId: id,
        channel: CHANNELS[i] as Channel,
        log,
        bus: deps.bus,
        metrics: deps.metrics,
        pool: deps.pool,
        clock: deps.clock,
        wallClock: deps.wallClock,
        earlyAudioMs: deps.config.stt.earlyAudioMs,
        onFailoverGivenUp: () => void this.end('error'),
      }),
    }));
    call.on('ended', (r) => this.#onSipEnded(r));
    call.on('confirmed', () => {
      if (this.#phase === 'live') {
        void this.#startStt();
      }
    });
    call.on('recordingUpdated', (u) => this.#onUpdate(u));
  }

  /** Registry state of the call (terminal states once over). */
  get state(): string {
    return this.#d.calls.get(this.id)?.state ?? 'ended';
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

  /** Runs the setup (RTP ports, answer, media); never rejects: a failure rejects or ends the call. */
  async start(): Promise<void> {
    try {
      await this.#setup();
    } catch (err) {
      this.log.error({ err }, 'recording session setup failed');
      if (this.#phase === 'setup') {
        this.#reject(500);
      } else {
        void this.end('error');
      }
    }
  }

  async #setup(): Promise<void> {
    const { calls, config } = this.#d;
    try {
      for (const lane of this.#lanes) {
        lane.media = await CallMedia.open(this.#d, this.log.child({ channel: lane.stt.channel }), {
          onFrame: (frame) => {
            if (this.#phase === 'live') {
              lane.stt.push(frame);
            }
          },
          onTimeout: () => void this.end('rtp-timeout'),
        });
      }
    } catch (err) {
      this.log.error({ err }, 'no RTP port: 503');
      this.#reject(503, { reason: 'No Media Port' });
      return;
    }
    const address = await sdpAddress(config, this.call.source.address);
    if (this.#gone()) {
      this.#releaseSetup();
      return;
    }
    let answered: OfferedStream[];
    try {
      answered = await this.call.answerRecording(
        this.#lanes.map((l) => ({ address, port: l.media!.localPort, direction: 'recvonly' as const })),
      );
    } catch (err) {
      this.log.info({ err }, 'answer failed');
      this.#rejectStatus ??= 488;
      this.#releaseSetup();
      return;
    }
    if (this.#phase !== 'setup') {
      return;
    }
    this.#phase = 'live';
    this.#answeredAt = this.#d.clock.now();
    this.#answeredWall = this.#d.wallClock();
    const first = answered[0];
    calls.transition(this.id, 'answered', {
      meta: { codec: first?.media.codec ?? null, srtp: null, recording: this.meta },
    });
    for (const lane of this.#lanes) {
      const s = answered.find((a) => a.index === lane.index);
      if (s && lane.media) {
        lane.media.start(s.media, () => this.#phase === 'live');
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
      },
      'recording session answered',
    );
    if (this.call.state === 'confirmed') {
      await this.#startStt();
    }
    if (this.call.state === 'ended') {
      void this.end(appEndReason(this.call.endReason ?? 'error'));
    }
  }

  #startStt(): Promise<void> {
    this.#sttOpening ??= this.#openStt().catch((err: unknown) => {
      this.log.error({ err }, 'opening the STT streams failed');
    });
    return this.#sttOpening;
  }

  /** One STT slot per channel, all or none (`whenFull: "defer"` is not done for recordings). */
  async #openStt(): Promise<void> {
    const at = { answeredAt: this.#answeredAt, answeredWallMs: this.#answeredWall };
    const outcomes = await Promise.all(this.#lanes.map((l) => l.stt.open(at)));
    if (outcomes.every((o) => o === 'stream')) {
      if (this.#phase === 'live') {
        this.#d.calls.transition(this.id, 'streaming');
      }
      return;
    }
    if (outcomes.some((o) => o === 'defer' || o === 'full')) {
      this.#d.metrics.admissionRefused.inc({ reason: 'stt-full' });
      this.log.warn({ outcomes }, 'no STT slot for every stream at the ACK: ending the recording session');
      void this.end('error');
    }
  }

  /**
   * A re-INVITE/UPDATE: each stream's media updated (`a=inactive` pauses its channel), new metadata
   * applied; what changed goes out as `recording.updated` with the new `call.recording`.
   */
  #onUpdate(u: RecordingUpdate): void {
    if (this.#phase !== 'live') {
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

  #gone(): boolean {
    return this.#phase !== 'setup' || this.call.state === 'ended';
  }

  #onSipEnded(reason: SipEndReason): void {
    if (this.#phase === 'setup') {
      this.#phase = 'done';
      const state = this.state;
      if (state === 'offered' || state === 'ringing') {
        this.#d.calls.transition(
          this.id,
          reason === 'cancel' ? 'cancelled' : 'rejected',
          reason === 'cancel' ? {} : { status: this.#rejectStatus ?? (reason === 'rejected' ? 488 : 503) },
        );
      }
      this.#releaseSetup();
      return;
    }
    if (this.#phase === 'live') {
      void this.end(appEndReason(reason));
    }
  }

  #reject(status: number, opts: { reason?: string } = {}): void {
    this.#rejectStatus = status;
    if (this.call.state === 'offered' || this.call.state === 'ringing') {
      this.call.reject(status, opts); // 'ended' → #onSipEnded records it
    } else if (this.call.state !== 'ended') {
      this.call.hangup().catch((err: unknown) => this.log.warn({ err }, 'hangup failed'));
    } else {
      this.#onSipEnded('rejected');
    }
  }

  #releaseSetup(): void {
    for (const lane of this.#lanes) {
      lane.media?.close();
      lane.media = null;
      lane.stt.abort();
    }
    if (this.#phase === 'setup') {
      this.#phase = 'done';
    }
    if (this.#phase === 'done') {
      this.#resolveDone();
    }
  }

  /** Ends through `ending`: BYE unless the client sent it, RTP closed, every channel flushed. */
  end(reason: EndReason): Promise<void> {
    if (this.#phase === 'setup') {
      this.#reject(503);
      return this.done;
    }
    if (this.#phase === 'done') {
      return this.done;
    }
    this.#ending ??= this.#end(reason).catch((err: unknown) => {
      this.log.error({ err }, 'ending the recording session failed');
      this.abort();
      this.#phase = 'done';
      this.#resolveDone();
    });
    return this.#ending;
  }

  async #end(reason: EndReason): Promise<void> {
    const { calls } = this.#d;
    this.#phase = 'ending';
    calls.transition(this.id, 'ending', { reason });
    this.log.info({ reason }, 'call ending');
    if (this.call.state !== 'ended') {
      this.call.hangup().catch((err: unknown) => this.log.warn({ err }, 'hangup failed'));
    }
    for (const lane of this.#lanes) {
      lane.media?.end();
      lane.media = null;
    }
    await this.#sttOpening;
    await flushChannels(
      this.#lanes.map((l) => l.stt),
      this.log,
    );
    this.#phase = 'done';
    if (calls.active().some((r) => r.id === this.id)) {
      calls.transition(this.id, 'ended');
    }
    this.#resolveDone();
  }

  /** Ends at once (shutdown past its deadline): streams closed without their flush. */
  abort(): void {
    for (const lane of this.#lanes) {
      lane.stt.abort();
    }
  }
}
