import { defineConfig } from 'vitest/config';

// Integration and end-to-end tests: real peers (SIPp, Kamailio, baresip) on loopback.
// One file at a time: the peers are real processes and the machine has 2 cores.
export default defineConfig({
  test: {
    include: ['test/**/*.integration.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
