import { afterAll, afterEach } from 'vitest';
import { SttPool, type SttPoolOptions } from '../../src/stt/SttPool.js';
import { FakeMoshiServer } from './fakeMoshiServer.js';

/**
 * Fake moshi-servers and STT pools for a test file: pools stop after each test, fakes after the
 * file. Call once at the top level of the file.
 */
export function useSttTestbed(): {
  fake: (opts?: Parameters<typeof FakeMoshiServer.start>[0]) => Promise<FakeMoshiServer>;
  pool: (opts: SttPoolOptions) => SttPool;
} {
  const fakes: FakeMoshiServer[] = [];
  const pools: SttPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.stop()));
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
  };
}
