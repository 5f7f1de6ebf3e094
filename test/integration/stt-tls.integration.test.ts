// `wss://` STT servers behind a private CA (stt.servers[].tls): the fake moshi-server served over
// HTTPS with the test CA's certificate. With `caFile` the pool connects and transcribes; without it
// (or with another CA) every probe and connection fails with an error naming the server, logged
// once and counted, and the server is treated as down; `verify: false` connects, warned at start.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { systemClock } from '../../lib/clock.js';
import { STT_ERR, SttError } from '../../src/stt/errors.js';
import { SttConnection } from '../../src/stt/SttConnection.js';
import type { SttWord } from '../../src/stt/types.js';
import { silentLogger } from '../../lib/logger.js';
import { testCerts, type TestCerts } from '../helpers/certs.js';
import { synthesizeSpeech, type FakeMoshiServer } from '../helpers/fakeMoshiServer.js';
import { runDir } from '../helpers/paths.js';
import { useSttTestbed } from '../helpers/sttTestbed.js';
import { logSink } from '../src/logSink.js';
import { wordsSentBy } from './e2eHarness.js';

const { fake, pool, links } = useSttTestbed();

let certs: TestCerts;
let otherCa: TestCerts;
let server: FakeMoshiServer;

beforeAll(async () => {
  certs = await testCerts();
  otherCa = await testCerts(runDir('stt-tls-other-ca'));
  server = await fake({
    tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
  });
}, 60_000);

const records = (r: Record<string, unknown>[], level: number, text: string): Record<string, unknown>[] =>
  r.filter((x) => x['level'] === level && String(x['msg']).includes(text));

describe('STT over wss:// with a private CA', () => {
  it('is served as wss:// by the fake', () => {
    expect(server.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/api\/asr-streaming$/);
  });

  // The second time with the socket on a link thread (rtp.threads > 0): the CA crosses the port.
  for (const onThread of [false, true]) {
    it(`with tls.caFile: probes, connects and transcribes${onThread ? ' (the socket on a link thread)' : ''}`, async () => {
      const p = pool({
        servers: [{ url: server.url, tls: { caFile: certs.caCert } }],
        ...(onThread ? { connect: links().links.connect } : {}),
      });
      await p.start();
      expect(p.status()[0]?.healthy).toBe(true);
      const r = await p.reserve();
      expect(r).not.toBeNull();
      const words: SttWord[] = [];
      const stream = p.open(r!, { callId: 'tls-1' }, { onWord: (w) => words.push(w) });
      const frames = synthesizeSpeech([{ silence: 2 }, { word: 'hello' }, { silence: 2 }, { word: 'alice' }]);
      for (const f of frames) {
        stream.pushFrame(f);
      }
      const final = await stream.flush();
      expect(final.complete).toBe(true);
      const sent = server.streams.find((s) => s.admitted && s.frames.length > 0);
      expect(sent).toBeDefined();
      expect(wordsSentBy(sent!)).toEqual(['hello', 'alice']);
      expect(final.words.map((w) => w.text)).toEqual(['hello', 'alice']);
      expect(p.stats.tlsFailures).toBe(0);
    });
  }

  for (const variant of ['without caFile', 'with another CA'] as const) {
    it(`${variant}: the error names the server, is logged once and counted, and the server counts as down`, async () => {
      const { logger, records: log } = logSink();
      const tls = variant === 'without caFile' ? undefined : { caFile: otherCa.caCert };
      const p = pool({ servers: [{ url: server.url, ...(tls ? { tls } : {}) }], logger });
      await p.start();
      await p.probe();
      await p.probe();
      expect(p.status()[0]?.healthy).toBe(false);
      expect(p.status()[0]?.lastError).toBe(STT_ERR.TLS);
      // Three probe rounds, each with its retry of a once-healthy server or one attempt.
      expect(p.stats.tlsFailures).toBeGreaterThanOrEqual(3);
      const errors = records(log, 50, 'failed verification');
      expect(errors).toHaveLength(1);
      expect(errors[0]?.['server']).toBe(server.url);
      expect(String(errors[0]?.['msg'])).toContain(server.url);
      expect(String(errors[0]?.['msg'])).toContain('tls.caFile');
      expect(await p.reserve()).toBeNull();

      // A direct connection attempt fails the same way, naming the server.
      const err = await SttConnection.connect(
        { url: server.url },
        {
          clock: systemClock,
          logger: silentLogger,
          readyTimeoutMs: 5000,
          ...(tls ? { tls: { ca: readFileSync(tls.caFile), rejectUnauthorized: true } } : {}),
        },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SttError);
      expect((err as SttError).code).toBe(STT_ERR.TLS);
      expect((err as SttError).message).toContain(server.url);
      expect((err as SttError).message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      // And from a link thread (rtp.threads > 0): the same error, its code and words across the port.
      const fromThread = await links()
        .links.connect(
          { url: server.url },
          {
            clock: systemClock,
            logger: silentLogger,
            readyTimeoutMs: 5000,
            tls: tls ? { ca: readFileSync(tls.caFile), rejectUnauthorized: true } : undefined,
          },
        )
        .catch((e: unknown) => e);
      expect(fromThread).toBeInstanceOf(SttError);
      expect((fromThread as SttError).code).toBe(STT_ERR.TLS);
      expect((fromThread as SttError).message).toBe((err as SttError).message);
    });
  }

  it('verify: false connects (a warning at start)', async () => {
    const { logger, records: log } = logSink();
    const p = pool({ servers: [{ url: server.url, tls: { verify: false } }], logger });
    expect(records(log, 40, 'verification is off')).toHaveLength(1);
    await p.start();
    expect(p.status()[0]?.healthy).toBe(true);
    const r = await p.reserve();
    expect(r).not.toBeNull();
    r!.release();
    expect(p.stats.tlsFailures).toBe(0);
  });
});
