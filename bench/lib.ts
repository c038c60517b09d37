/**
 * Shared pieces of the benchmark: servers under test as child processes, load-generating clients,
 * and statistics. Everything binds to 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WebSocket } from 'ws';

export const ROOT = resolve(import.meta.dirname, '..');

/** Settings the Parley child runs with under load; printed with the results. */
export const PARLEY_ENV = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT: '1000000',
  RATE_BURST: '1000000',
  LEGACY_CHAT_PORT: '0',
  LEGACY_LOGIN_PORT: '0',
  MAX_FRAME_BYTES: '65536',
} as const;

export type ServerKind = 'parley' | 'bare' | 'peerjs';

export interface RunningServer {
  kind: ServerKind;
  port: number;
  pid: number;
  /** Resident set size of the server process, in bytes (VmRSS from /proc). */
  rss(): number;
  /** CPU time (user + system) the process has used so far, in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => {
        done(port);
      });
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return Number(kb ?? 0) * 1024;
}

function readCpuMs(pid: number): number {
  // Fields 14 and 15 of /proc/<pid>/stat are utime and stime in clock ticks (100 Hz on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((done) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/__probe`);
      ws.on('error', () => {
        done(false);
      });
      ws.on('unexpected-response', () => {
        ws.terminate();
        done(true);
      });
      ws.on('open', () => {
        ws.terminate();
        done(true);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`server on ${port} did not start in ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Starts a server under test as a child process with a raised fd limit. The node binary and tsx
 * loader are the same for every kind, so start-up and runtime costs are comparable.
 */
export async function startServer(kind: ServerKind, extraEnv: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `parley-bench-${kind}-`));
  const script = {
    parley: 'src/server/main.ts',
    bare: 'bench/bareRelay.ts',
    peerjs: 'bench/peerServer.ts',
  }[kind];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DB_PATH: join(dir, 'parley.db'),
    WEB_ROOT: join(ROOT, 'dist/client'),
    ...PARLEY_ENV,
    ...extraEnv,
  };
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').trim();
  // The hard limit is whatever the machine allows; take as much of 65536 as it does.
  const cmd = `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec node ${nodeArgs} --import tsx ${script}`;
  const child = spawn('sh', ['-c', cmd], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${kind}: ${(error as Error).message}\n${stderr}`, { cause: error });
  }
  const pid = child.pid!;
  return {
    kind,
    port,
    pid,
    rss: () => readRss(pid),
    cpuMs: () => readCpuMs(pid),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `body` against a fresh server of `kind`, always stopping it. */
export async function withServer<T>(
  kind: ServerKind,
  body: (server: RunningServer) => Promise<T>,
  extraEnv: Record<string, string> = {},
): Promise<T> {
  const server = await startServer(kind, extraEnv);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

// -------------------------------------------------------------------------------------------------
// Clients

/** A load-generating WebSocket client; message handling is set by the scenario. */
export function connect(url: string, onMessage?: (data: Buffer) => void, timeoutMs = 30_000): Promise<WebSocket> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    // A server that speaks first (peerjs sends OPEN) can have its frame parsed in the same tick
    // as the handshake, before a listener added after 'open' would see it.
    if (onMessage) ws.on('message', onMessage);
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.on('error', () => undefined);
      done(ws);
    });
    ws.once('error', fail);
  });
}

/** Runs `fn` over `items` with at most `limit` promises in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function closeAll(sockets: readonly WebSocket[]): void {
  for (const ws of sockets) ws.terminate();
}

/** Resolves when `check()` is true, polling; rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Time stamp embedded in payloads: ms since the bench process started, 3 decimals. */
export function stamp(): string {
  return performance.now().toFixed(3);
}

/** Reads the stamp that follows `marker` in a received frame without parsing the JSON. */
export function readStamp(data: Buffer, marker: Buffer): number {
  const at = data.indexOf(marker);
  if (at < 0) return NaN;
  let end = at + marker.length;
  while (end < data.length && ((data[end]! >= 48 && data[end]! <= 57) || data[end] === 46)) end++;
  return Number(data.toString('latin1', at + marker.length, end));
}

// -------------------------------------------------------------------------------------------------
// Statistics

/** Collects latency samples (ms) into a fixed histogram of 10 µs buckets up to 10 s. */
export class Latency {
  readonly #buckets = new Uint32Array(1_000_001);
  count = 0;
  add(ms: number): void {
    const i = Math.min(Math.max(0, Math.round(ms * 100)), 1_000_000);
    this.#buckets[i]!++;
    this.count++;
  }
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = Math.ceil(this.count * q);
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i]!;
      if (seen >= target) return i / 100;
    }
    return NaN;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
