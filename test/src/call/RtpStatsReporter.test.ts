import { describe, expect, it } from 'vitest';
import type { RtpSessionStats } from '../../../rtp/index.js';
import { RtpStatsReporter, STATS_INTERVAL_MS } from '../../../src/call/RtpStatsReporter.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { FakeClock } from '../../helpers/FakeClock.js';

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as never;

function stats(over: Partial<RtpSessionStats>): RtpSessionStats {
  return {
    datagrams: 0,
    received: 0,
    lost: 0,
    late: 0,
    duplicated: 0,
    reordered: 0,
    concealed: 0,
    adjusted: 0,
    currentDelayMs: 0,
    targetDelayMs: 0,
    jitterMs: 0,
    cumulativeLost: 0,
    malformed: {},
    srtp: null,
    srtpAuthFailed: 0,
    srtpReplayed: 0,
    rejectedSource: 0,
    unknownPayloadType: 0,
    invalidSequence: 0,
    ssrcChanges: 0,
    dtmfEvents: 0,
    frames: 0,
    packetsSent: 0,
    rtcpSent: 0,
    rtcpReceived: 0,
    onHold: false,
    ...over,
  };
}

/** What Prometheus would scrape, by metric and label. */
async function scrape(m: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  out['received'] = (await m.rtpPackets.get()).values[0]?.value ?? 0;
  out['lost'] = (await m.rtpPacketsLost.get()).values[0]?.value ?? 0;
  for (const v of (await m.rtpDropped.get()).values) {
    out[`dropped:${String(v.labels.reason)}`] = v.value;
  }
  const jitter = (await m.rtpJitter.get()).values.find(
    (v) => v.metricName === 'sipscribe_rtp_jitter_seconds_count',
  );
  out['jitterSamples'] = jitter?.value ?? 0;
  return out;
}

describe('RtpStatsReporter', () => {
  it('adds only what is new at each tick and at the end, and stops when the call is no longer live', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics({ processMetrics: false });
    const rep = new RtpStatsReporter(metrics, clock, quiet);
    // The session's cumulative counters as three samples would see them.
    const samples: (RtpSessionStats | null)[] = [
      stats({ received: 250, lost: 2, late: 1, malformed: { RTP_ERR_TRUNCATED: 1 } }),
      stats({ received: 500, lost: 3, late: 1, rejectedSource: 4, malformed: { RTP_ERR_TRUNCATED: 1 } }),
    ];
    rep.start(() => samples.shift() ?? null);
    clock.advance(STATS_INTERVAL_MS - 1);
    expect((await scrape(metrics))['received']).toBe(0);
    clock.advance(1);
    expect(await scrape(metrics)).toEqual({
      received: 250,
      lost: 2,
      'dropped:late': 1,
      'dropped:malformed:RTP_ERR_TRUNCATED': 1,
      jitterSamples: 1,
    });
    clock.advance(STATS_INTERVAL_MS);
    expect(await scrape(metrics)).toEqual({
      received: 500,
      lost: 3,
      'dropped:late': 1,
      'dropped:malformed:RTP_ERR_TRUNCATED': 1,
      'dropped:rejected-source': 4,
      jitterSamples: 2,
    });
    // Final figures at the hangup: 80 more packets, one duplicate, one more truncated datagram,
    // three SRTP packets failing authentication and one replay.
    rep.final(
      stats({
        received: 580,
        lost: 3,
        late: 1,
        duplicated: 1,
        rejectedSource: 4,
        malformed: { RTP_ERR_TRUNCATED: 2 },
        srtpAuthFailed: 3,
        srtpReplayed: 1,
      }),
    );
    expect(await scrape(metrics)).toEqual({
      received: 580,
      lost: 3,
      'dropped:late': 1,
      'dropped:duplicated': 1,
      'dropped:malformed:RTP_ERR_TRUNCATED': 2,
      'dropped:rejected-source': 4,
      'dropped:srtp-auth': 3,
      'dropped:srtp-replay': 1,
      jitterSamples: 3,
    });
    expect(clock.pending).toBe(0);
  });

  it('a sample of null (call over) ends the ticks; final() clears a pending tick', () => {
    const clock = new FakeClock();
    const metrics = createMetrics({ processMetrics: false });
    const stopped = new RtpStatsReporter(metrics, clock, quiet);
    stopped.start(() => null);
    clock.advance(STATS_INTERVAL_MS);
    expect(clock.pending).toBe(0);
    const ended = new RtpStatsReporter(metrics, clock, quiet);
    ended.start(() => stats({}));
    expect(clock.pending).toBe(1);
    ended.final(stats({}));
    expect(clock.pending).toBe(0);
  });

  it('two calls add up in the shared counters', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics({ processMetrics: false });
    new RtpStatsReporter(metrics, clock, quiet).final(stats({ received: 100, lost: 1 }));
    new RtpStatsReporter(metrics, clock, quiet).final(stats({ received: 40, lost: 0 }));
    const s = await scrape(metrics);
    expect([s['received'], s['lost']]).toEqual([140, 1]);
  });
});
