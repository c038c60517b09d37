import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Browser tests need a built app and Chromium; they run with vitest.e2e.config.ts.
    exclude: ['test/e2e/**', 'node_modules/**'],
    environment: 'node',
    // Finds or starts the PostgreSQL server of the PostgreSQL tests, once per run.
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // The default summary, then one plain `vitest: N passed, N failed, N skipped` line.
    reporters: ['default', './test/summaryReporter.ts'],
  },
});
