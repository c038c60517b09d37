import { defineConfig } from 'vitest/config';

/**
 * Browser tests: the built app served by a real server, driven through Debian's Chromium with a
 * fake camera and microphone. Run with `npm run test:e2e` (inside a loopback-only namespace).
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/e2e/globalSetup.ts'],
    testTimeout: 45_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The default summary, then one plain `vitest: N passed, N failed, N skipped` line.
    reporters: ['default', './test/summaryReporter.ts'],
    // Two cores: one file (one Chromium) at a time keeps media timing honest.
    fileParallelism: false,
  },
});
