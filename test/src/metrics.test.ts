// Counters read at scrape time from the SIP stack and the STT pool: the exposition text is checked
// as Prometheus prints it (hand-written lines), camelCase counter names as snake_case labels.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';

describe('metrics read at scrape time', () => {
  it('sipscribe_stt_events_total{event} follows the STT pool counters (tls_failures among them)', async () => {
    const m = createMetrics({ processMetrics: false });
    const stats = { tlsFailures: 0, authFailures: 0 };
    m.setSttCountersSource(() => stats);
    stats.tlsFailures = 3;
    stats.authFailures = 1;
    const text = await m.registry.metrics();
    expect(text).toContain('sipscribe_stt_events_total{event="tls_failures"} 3\n');
    expect(text).toContain('sipscribe_stt_events_total{event="auth_failures"} 1\n');
    stats.tlsFailures = 5;
    expect(await m.registry.metrics()).toContain('sipscribe_stt_events_total{event="tls_failures"} 5\n');
  });

  it('sipscribe_sip_events_total{event} follows the SIP stack counters', async () => {
    const m = createMetrics({ processMetrics: false });
    m.setSipCountersSource(() => ({ malformedDropped: 2 }));
    expect(await m.registry.metrics()).toContain('sipscribe_sip_events_total{event="malformed_dropped"} 2\n');
  });
});
