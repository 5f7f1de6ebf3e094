import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, afterEach } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import { serve } from '../../src/stt/linkThread.js';
import { SttLinkThreads } from '../../src/stt/SttLinkThreads.js';
import { SttPool, type SttPoolOptions } from '../../src/stt/SttPool.js';
import { FakeMoshiServer } from './fakeMoshiServer.js';

/**
 * Fake moshi-servers, STT pools and link threads for a test file: pools stop after each test, then
 * the link threads' ports close; fakes stop after the file. Call once at the top level of the file.
 */
export function useSttTestbed(): {
  fake: (opts?: Parameters<typeof FakeMoshiServer.start>[0]) => Promise<FakeMoshiServer>;
  pool: (opts: SttPoolOptions) => SttPool;
  /**
   * Connections opened through `SttLinkThreads` with the thread side (`linkThread.ts`) served in
   * this thread over a real MessageChannel: every message crosses as it would to a media thread.
   * `port` is the main thread's end (closing it ends the "thread").
   */
  links: () => { links: SttLinkThreads; port: MessagePort };
} {
  const fakes: FakeMoshiServer[] = [];
  const pools: SttPool[] = [];
  const ports: MessagePort[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.stop()));
    ports.splice(0).forEach((p) => p.close());
  });
  afterAll(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
  });
  return {
    fake: async (opts = {}) => {
      const f = await FakeMoshiServer.start(opts);
      fakes.push(f);
      return f;
    },
    pool: (opts) => {
      const p = new SttPool({ readyTimeoutMs: 3000, ...opts });
      pools.push(p);
      return p;
    },
    links: () => {
      const links = new SttLinkThreads(silentLogger);
      const { port1, port2 } = new MessageChannel();
      serve(port2, 'info');
      links.extension.attach(port1, 0);
      ports.push(port1);
      return { links, port: port1 };
    },
  };
}
