/**
 * A real coturn on loopback for browser tests: found where Debian installs it, started with
 * everything on its command line (TURN REST API auth with a shared secret, relay ports in a known
 * range, loopback peers allowed), and stopped with its temp dir removed.
 *
 * Needs Debian's `coturn` (/usr/bin/turnserver, or PARLEY_TURNSERVER=<path>). Tests that need it
 * call `turnserverOrSkip` at load: without coturn they are skipped with a message, unless
 * PARLEY_REQUIRE_COTURN=1 (set by .ci/run): then a missing coturn is a failure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, waitForTcp } from '../helpers/net.js';

export const REALM = 'parley.test';
export const RELAY_MIN_PORT = 40000;
export const RELAY_MAX_PORT = 40999;

/** PARLEY_TURNSERVER names another coturn binary; otherwise turnserver is looked up as Debian installs it. */
export function findTurnserver(): string | null {
  const candidates = process.env.PARLEY_TURNSERVER
    ? [process.env.PARLEY_TURNSERVER]
    : ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(delimiter)]
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, 'turnserver'));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The turnserver binary, or null after a warning that `label`'s coturn tests are skipped (`what`
 * says what did not run). Throws instead when PARLEY_REQUIRE_COTURN=1.
 */
export function turnserverOrSkip(label: string, what: string): string | null {
  const bin = findTurnserver();
  if (bin !== null) return bin;
  const where = process.env.PARLEY_TURNSERVER ? ` at ${process.env.PARLEY_TURNSERVER}` : '';
  if (process.env.PARLEY_REQUIRE_COTURN === '1') {
    throw new Error(`PARLEY_REQUIRE_COTURN=1 but turnserver (Debian package coturn) is not installed${where}`);
  }
  console.warn(
    `\n[${label}] SKIPPED: turnserver not found${where} (install the Debian package \`coturn\`); ` +
      `${what}. Set PARLEY_REQUIRE_COTURN=1 to make this a failure.\n`,
  );
  return null;
}

export interface Turn {
  port: number;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts coturn on 127.0.0.1 with `secret` for TURN REST API credentials; resolves once UDP listens. */
export async function startTurnserver(bin: string, options: { secret: string; realm?: string }): Promise<Turn> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-coturn-'));
  const port = await freePort();
  const logFile = join(dir, 'turn.log');
  const args = [
    '-n', // no /etc/turnserver.conf: everything is on this command line
    `--listening-ip=127.0.0.1`,
    `--relay-ip=127.0.0.1`,
    `--listening-port=${port}`,
    `--realm=${options.realm ?? REALM}`,
    '--use-auth-secret',
    `--static-auth-secret=${options.secret}`,
    '--fingerprint',
    '--allow-loopback-peers', // both peers' relay addresses are 127.0.0.1 here
    '--no-multicast-peers',
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    `--min-port=${RELAY_MIN_PORT}`,
    `--max-port=${RELAY_MAX_PORT}`,
    `--userdb=${join(dir, 'turndb')}`,
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--log-file=${logFile}`,
    '--simple-log',
    '--no-stdout-log',
    '--verbose',
  ];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await Promise.race([
      (async () => {
        await waitForTcp(port, 'turnserver', 10_000);
        // The TCP listener opens first; wait for the UDP one too (the calls use UDP).
        const deadline = Date.now() + 5000;
        while (!log().includes(`UDP listener opened on: 127.0.0.1:${port}`)) {
          if (Date.now() > deadline) throw new Error(`turnserver did not open its UDP listener:\n${log()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      exited.then(() => {
        throw new Error(`turnserver exited at startup: ${output}\n${log()}`);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    logFile,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
        }, 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
