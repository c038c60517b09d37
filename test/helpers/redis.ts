/**
 * A Redis server of the test's own: Debian's redis-server on a free loopback port, no persistence,
 * stopped when the test file is done. With PARLEY_REQUIRE_REDIS=1 (.ci/run) a missing redis-server
 * fails the tests; otherwise they are skipped with the reason in their name.
 *
 *   const redisTest = redisTest();
 *   redisTest.describe('…', () => { const redis = await redisTest.start(); … redis.url … });
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, describe } from 'vitest';
import { freePort, waitForTcp } from './net.js';

const BINARY = process.env.PARLEY_TEST_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisHandle {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL): clients see the connection drop. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Empties it (names held, alive keys) between tests. */
  flush(): Promise<void>;
}

export interface RedisTest {
  readonly available: boolean;
  readonly skipReason: string;
  describe(name: string, body: () => void): void;
  start(): Promise<RedisHandle>;
}

export function redisTest(): RedisTest {
  const available = existsSync(BINARY);
  const skipReason = available
    ? ''
    : `no Redis: ${BINARY} is missing (apt-get install redis-server, or set PARLEY_TEST_REDIS_SERVER)`;
  if (!available && process.env.PARLEY_REQUIRE_REDIS === '1') {
    throw new Error(`PARLEY_REQUIRE_REDIS=1 but there is ${skipReason}`);
  }
  const running = new Set<ChildProcess>();
  afterAll(() => {
    for (const proc of running) proc.kill('SIGKILL');
  });

  const launch = async (port: number): Promise<ChildProcess> => {
    const proc = spawn(
      BINARY,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
      { stdio: 'ignore' },
    );
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    await waitForTcp(port, 'redis-server', 10_000, () => proc.exitCode !== null);
    return proc;
  };

  return {
    available,
    skipReason,
    describe(name, body) {
      if (!available) describe.skip(`${name} (skipped: ${skipReason})`, body);
      else describe(name, body);
    },
    async start() {
      const port = await freePort();
      let proc: ChildProcess | null = await launch(port);
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        async kill() {
          const p = proc;
          proc = null;
          if (!p || p.exitCode !== null) return;
          const exited = new Promise((done) => p.once('exit', done));
          p.kill('SIGKILL');
          await exited;
        },
        async restart() {
          proc ??= await launch(port);
        },
        async flush() {
          const client = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true });
          try {
            await client.connect();
            await client.flushall();
          } finally {
            client.disconnect();
          }
        },
      };
    },
  };
}
