/**
 * PostgreSQL for one test file: a database of its own on the run's server (test/globalSetup.ts,
 * test/helpers/postgresServer.ts), created on first use and dropped when the file is done.
 *
 *   const pgTest = postgresTest();            // at the top of the file
 *   pgTest.describe('PostgresStore', () => { … uses await pgTest.url() … });
 *
 * With no server, pgTest.describe is describe.skip with the reason in its name, so the skip and
 * why show in the report.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, inject } from 'vitest';

export interface PostgresTest {
  /** Whether a server is there. */
  readonly available: boolean;
  readonly skipReason: string;
  /** describe when a server is there, describe.skip (with the reason) when not. */
  describe(name: string, body: () => void): void;
  /** URL of this file's own database, created on first call. */
  url(): Promise<string>;
  /** Empties this file's database: drops and recreates the public schema. */
  reset(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function postgresTest(): PostgresTest {
  const adminUrl = inject('postgresUrl');
  const skipReason = inject('postgresSkipReason');
  const database = `parley_test_${randomBytes(6).toString('hex')}`;
  let created: Promise<string> | null = null;

  const admin = async <T>(url: string, f: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await f(client);
    } finally {
      await client.end();
    }
  };

  afterAll(async () => {
    if (adminUrl === null || created === null) return;
    await created.catch(() => undefined);
    await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  });

  const url = (): Promise<string> => {
    if (adminUrl === null) return Promise.reject(new Error(skipReason));
    created ??= admin(adminUrl, async (c) => {
      await c.query(`CREATE DATABASE ${database}`);
      return withDatabase(adminUrl, database);
    });
    return created;
  };

  return {
    available: adminUrl !== null,
    skipReason,
    describe(name, body) {
      if (adminUrl === null) describe.skip(`${name} (skipped: ${skipReason})`, body);
      else describe(name, body);
    },
    url,
    async reset() {
      await admin(await url(), (c) =>
        c.query('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public'),
      );
    },
  };
}
