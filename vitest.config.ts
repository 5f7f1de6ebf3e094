import { defineConfig } from 'vitest/config';

// Unit tests: in memory, no ports, no child processes, fake clocks. Fast on a slow 2-core machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/**/*.integration.test.ts', 'node_modules/**'],
    testTimeout: 20_000,
  },
});
