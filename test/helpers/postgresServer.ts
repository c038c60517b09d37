/**
 * Finds a PostgreSQL server for the tests, once per test run (test/globalSetup.ts):
 *
 * 1. PARLEY_TEST_DATABASE_URL, when set: a server someone runs already. Its user needs CREATEDB,
 *    since every test file gets a database of its own.
 * 2. Otherwise Debian's packaged binaries (/usr/lib/postgresql/<version>/bin): a throwaway cluster
 *    in a temp dir, on a free loopback port, with its socket in that dir, stopped and deleted at the
 *    end of the run. PostgreSQL refuses to run as root, so as root it runs as the postgres user.
 * 3. Neither: no server, and a reason the PostgreSQL tests print when they skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

export type PostgresProvision =
  | { url: string; source: string; stop: () => void }
  | { url: null; reason: string; stop: () => void };

const DEBIAN_ROOT = '/usr/lib/postgresql';

/** The bin directory of the newest Debian PostgreSQL that has initdb, or null. */
function debianBinDir(): string | null {
  if (!existsSync(DEBIAN_ROOT)) return null;
  const versions = readdirSync(DEBIAN_ROOT)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(DEBIAN_ROOT, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? null : join(DEBIAN_ROOT, versions[0], 'bin');
}

/** Runs a PostgreSQL binary, as the postgres user when we are root. Throws with its output. */
function runAsPostgres(bin: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  const [command, commandArgs] = isRoot
    ? ['runuser', ['-u', 'postgres', '--', bin, ...args]]
    : [bin, args];
  const result = spawnSync(command, commandArgs, { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(
      `${[command, ...commandArgs].join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stdout}${result.stderr}`,
    );
  }
}

async function startThrowawayCluster(binDir: string): Promise<PostgresProvision> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const pgCtl = join(binDir, 'pg_ctl');
  let started = false;
  const stop = () => {
    if (started) {
      try {
        runAsPostgres(pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w']);
      } catch {
        // Already gone; the directory goes anyway.
      }
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    runAsPostgres(join(binDir, 'initdb'), [
      '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync',
    ]);
    const port = await freePort();
    // fsync off: the tests check what the store tells the server, not the disk under it.
    const serverOptions = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses='127.0.0.1'",
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c max_connections=300',
    ].join(' ');
    runAsPostgres(pgCtl, ['start', '-D', data, '-l', log, '-w', '-t', '60', '-o', serverOptions]);
    started = true;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      source: `a throwaway cluster (${binDir}) on 127.0.0.1:${port}`,
      stop,
    };
  } catch (error) {
    const logText = existsSync(log) ? `\n${readFileSync(log, 'utf8')}` : '';
    stop();
    throw new Error(`${(error as Error).message}${logText}`, { cause: error });
  }
}

/** Finds or starts a server; never throws for "there is none", only for one that fails to start. */
export async function provisionPostgres(
  env: Record<string, string | undefined>,
): Promise<PostgresProvision> {
  const given = env.PARLEY_TEST_DATABASE_URL?.trim();
  if (given) return { url: given, source: 'PARLEY_TEST_DATABASE_URL', stop: () => undefined };
  const binDir = debianBinDir();
  if (binDir === null) {
    return {
      url: null,
      reason:
        'no PostgreSQL: PARLEY_TEST_DATABASE_URL is not set and no Debian postgresql package ' +
        `is installed (${DEBIAN_ROOT}/<version>/bin/initdb); apt-get install postgresql, or point ` +
        'PARLEY_TEST_DATABASE_URL at a server whose user may CREATE DATABASE',
      stop: () => undefined,
    };
  }
  return startThrowawayCluster(binDir);
}
