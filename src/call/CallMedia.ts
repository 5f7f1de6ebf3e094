/**
 * One call's RTP session as the call sees it: ports opened from the `rtp` configuration, media
 * started at the answer, remote updates (re-INVITE/UPDATE, hold) applied, figures into the
 * metrics while it runs (`RtpStatsReporter`) and once more when it closes at the end of the call.
 */
import type { Clock } from '../../lib/clock.js';
import {
  RtpSession,
  type MediaThreads,
  type RemoteRtpSession,
  type RemoteMedia,
  type RtpSessionDelegate,
  type SocketFactory,
} from '../../rtp/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { RtpStatsReporter } from './RtpStatsReporter.js';

interface CallMediaDeps {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly socketFactory?: SocketFactory;
  /** Media threads (`rtp.threads`): sessions run there instead of on the main thread. */
  readonly mediaThreads?: MediaThreads;
}

export class CallMedia {
  readonly #rtp: RtpSession | RemoteRtpSession;
  readonly #stats: RtpStatsReporter;
  readonly #log: Logger;
  readonly #sendBack: Config['rtp']['sendBack'];
  #closed = false;

  private constructor(
    rtp: RtpSession | RemoteRtpSession,
    stats: RtpStatsReporter,
    log: Logger,
    sendBack: Config['rtp']['sendBack'],
  ) {
    this.#rtp = rtp;
    this.#stats = stats;
    this.#log = log;
    this.#sendBack = sendBack;
  }

  /**
   * Opens the RTP ports (`rtp.host`, `portMin`…`portMax`).
   * @throws when no port pair is free (the caller answers 503).
   */
  static async open(d: CallMediaDeps, log: Logger, delegate: RtpSessionDelegate): Promise<CallMedia> {
    const { rtp } = d.config;
    const options = {
      host: rtp.host,
      portMin: rtp.portMin,
      portMax: rtp.portMax,
      jitter: rtp.jitter,
      timeoutMs: rtp.timeoutMs,
      sendBack: rtp.sendBack,
      keepaliveMs: rtp.keepaliveMs,
    };
    const session = d.mediaThreads
      ? await d.mediaThreads.open(options, log, delegate)
      : await RtpSession.open(
          {
            ...options,
            clock: d.clock,
            logger: log,
            ...(d.socketFactory ? { socketFactory: d.socketFactory } : {}),
          },
          delegate,
        );
    return new CallMedia(session, new RtpStatsReporter(d.metrics, d.clock, log), log, rtp.sendBack);
  }

  /** Our RTP port (for the SDP answer). */
  get localPort(): number {
    return this.#rtp.localPort;
  }

  /**
   * Where we receive RTP at `address`, for the SDP answer: `recvonly` at most when we send no RTP
   * (`rtp.sendBack: "none"`).
   */
  local(address: string): { address: string; port: number; direction?: 'recvonly' } {
    const port = this.#rtp.localPort;
    return this.#sendBack === 'none' ? { address, port, direction: 'recvonly' } : { address, port };
  }

  /** Starts media towards the answered `remote`; figures go to the metrics while `live()`. */
  start(remote: RemoteMedia, live: () => boolean): void {
    this.#rtp.start(remote);
    this.#stats.start(() => (!this.#closed && live() ? this.#rtp.getStats() : null));
  }

  /**
   * The peer changed the media (re-INVITE/UPDATE, hold).
   * @throws when the session cannot apply it.
   */
  update(desc: RemoteMedia): void {
    this.#log.info(
      {
        direction: desc.direction,
        codec: desc.codec,
        remote: `${desc.address}:${desc.port}`,
        srtp: desc.srtp?.suite ?? null,
      },
      'media updated',
    );
    this.#rtp.update(desc);
  }

  /** The end of an answered call: last figures into the metrics and the log, sockets closed. */
  end(): void {
    const rtp = this.#rtp;
    if (rtp instanceof RtpSession) {
      this.#stats.final(rtp.getStats());
      this.close();
      return;
    }
    // On a media thread the last figures come with its answer to the close.
    this.close();
    void rtp.closed.then((stats) => this.#stats.final(stats));
  }

  /** Closes the sockets (setup abandoned: nothing to count). */
  close(): void {
    this.#closed = true;
    this.#rtp.close();
  }
}
