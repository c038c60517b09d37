/** The real entry point (src/server/main.ts) as a child process, for tests that kill it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Running {
  proc: ChildProcess;
  port: number;
  url: string;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node --import tsx src/server/main.ts` with `env` on top of test defaults (loopback,
 * ports 0, JSON logs) and waits for its "Parley is listening" line.
 */
export async function startMain(env: Record<string, string>): Promise<Running> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: '0',
      LEGACY_CHAT_PORT: '0',
      LEGACY_LOGIN_PORT: '0',
      LOG_LEVEL: 'info',
      // The tests send their messages as fast as they can.
      RATE_LIMIT: '10000',
      RATE_BURST: '10000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    proc.once('exit', (code, signal) => {
      done({ code, signal });
    });
  });
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const logs: Record<string, unknown>[] = [];
  const port = await new Promise<number>((done, fail) => {
    const timer = setTimeout(() => {
      fail(new Error(`server did not start; stderr: ${stderr}`));
    }, 15_000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'Parley is listening' && typeof entry.port === 'number') {
        clearTimeout(timer);
        done(entry.port);
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      fail(new Error(`server exited with ${String(code)} before listening; stderr: ${stderr}`));
    });
  });
  return { proc, port, url: `ws://127.0.0.1:${port}/ws`, logs, exited };
}

