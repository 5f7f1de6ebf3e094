/**
 * What a call does with one channel's STT stream output: words and utterances onto the
 * TranscriptBus (labelled with the channel, `caller` or `callee`), the word latency and reconnects into the metrics, and the call's place in
 * the `sipscribe_stt_streams{server}` gauge, which follows the stream across failovers.
 */
import type { SttError, SttStreamDelegate } from '../stt/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { channelUtterance, channelWord, type Channel } from '../transcripts/channelEvents.js';
import type { TranscriptBus } from '../transcripts/TranscriptBus.js';

/**
 * One call's count in `sipscribe_stt_streams`: on at most one server label at a time, moved on a
 * failover and given back exactly once.
 */
export class StreamGauge {
  readonly #gauge: Metrics['sttStreams'];
  /** The server label the call is counted under (null while not counted). */
  #server: string | null = null;

  constructor(gauge: Metrics['sttStreams']) {
    this.#gauge = gauge;
  }

  /** Moves this call's count to `server` (null: no longer counted). */
  set(server: string | null): void {
    if (this.#server !== null) {
      this.#gauge.dec({ server: this.#server });
    }
    this.#server = server;
    if (server !== null) {
      this.#gauge.inc({ server });
    }
  }
}

/** What `callSttDelegate` needs from the call. */
interface CallSttContext {
  readonly callId: string;
  /** The side of the call the stream transcribes. */
  readonly channel: Channel;
  readonly log: Logger;
  readonly bus: TranscriptBus;
  readonly metrics: Pick<Metrics, 'sttLatency' | 'sttReconnects'>;
  /** Wall clock (epoch ms): a word's latency is arrival − its `wallMs`. */
  readonly wallClock: () => number;
  readonly gauge: StreamGauge;
  /** The stream gave up its failover (`STT_ERR_FAILOVER`): it is on no server any more. */
  readonly onFailoverGivenUp: (err: SttError) => void;
}

/** The STT stream delegate of one call's channel (live stream and deferred transcription alike). */
export function callSttDelegate(c: CallSttContext): SttStreamDelegate {
  const { bus, metrics, callId, channel } = c;
  return {
    onWord: (w) => {
      metrics.sttLatency.observe(Math.max(0, c.wallClock() - w.wallMs) / 1000);
      if (bus.isOpen(callId)) {
        bus.publish(callId, channelWord(channel, w));
      }
    },
    onUtterance: (u) => {
      if (bus.isOpen(callId)) {
        bus.publish(callId, channelUtterance(channel, u));
      }
    },
    onError: (err) => {
      c.log.warn({ err, code: err.code, channel }, 'stt error');
      if (err.code === 'STT_ERR_FAILOVER') {
        c.gauge.set(null);
        c.onFailoverGivenUp(err);
      }
    },
    onReconnect: (info) => {
      metrics.sttReconnects.inc({ server: info.to });
      c.gauge.set(info.to);
      c.log.warn({ ...info, channel }, 'stt failover');
    },
  };
}
