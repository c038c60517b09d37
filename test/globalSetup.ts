/**
 * Once per test run: finds or starts the PostgreSQL server the PostgreSQL tests use
 * (test/helpers/postgresServer.ts) and hands its URL to them through provide/inject.
 * With PARLEY_REQUIRE_POSTGRES=1 (.ci/run), having none fails the run instead of skipping them.
 */
import type { TestProject } from 'vitest/node';
import { provisionPostgres } from './helpers/postgresServer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the test PostgreSQL server, or null when there is none. */
    postgresUrl: string | null;
    /** Why there is none. */
    postgresSkipReason: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const required = process.env.PARLEY_REQUIRE_POSTGRES === '1';
  let provision;
  try {
    provision = await provisionPostgres(process.env);
  } catch (error) {
    if (required) throw error;
    provision = {
      url: null,
      reason: `PostgreSQL failed to start: ${(error as Error).message}`,
      stop: () => undefined,
    };
  }
  if (provision.url === null) {
    if (required) {
      throw new Error(`PARLEY_REQUIRE_POSTGRES=1 but there is ${provision.reason}`);
    }
    process.stderr.write(`\n[parley] SKIPPING the PostgreSQL tests: ${provision.reason}\n\n`);
  }
  project.provide('postgresUrl', provision.url);
  project.provide('postgresSkipReason', provision.url === null ? provision.reason : '');
  return provision.stop;
}
