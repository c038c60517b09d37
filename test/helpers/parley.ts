/**
 * Test harness: a real Parley server on port 0 with a real SQLite file in a temp dir, and real
 * `ws` clients that record every frame and can wait for the one a test expects.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type ClientOptions, WebSocket } from 'ws';
import { rawBytes } from '../../src/server/transport/heartbeat.js';
import type { ClientMessageInput, ServerMessage } from '../../src/protocol/protocol.js';
import { buildServer, type Listening, type ParleyServer } from '../../src/server/app.js';
import { type Config, defaults } from '../../src/server/config.js';

/** Text of a ws message, whatever form ws delivered it in. */
export function rawToString(data: Buffer | ArrayBuffer | Buffer[]): string {
  return rawBytes(data).toString('utf8');
}

export interface TestServer {
  server: ParleyServer;
  ports: Listening;
  dir: string;
  config: Config;
  url: string;
  close(): Promise<void>;
}

/** Starts a server on loopback with every port ephemeral and its database in a fresh temp dir. */
export async function startServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-test-'));
  const config: Config = {
    ...defaults,
    host: '127.0.0.1',
    port: 0,
    legacyChatPort: 0,
    legacyLoginPort: 0,
    dbPath: join(dir, 'parley.db'),
    imagesDir: join(dir, 'images'),
    dbSync: 'normal',
    logLevel: 'silent',
    webRoot: join(dir, 'no-web-app'),
    ...overrides,
  };
  const server = buildServer(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  const ports = await server.listen();
  return {
    server,
    ports,
    dir,
    config,
    url: `ws://127.0.0.1:${ports.port}/ws`,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Predicate<T> = (msg: T) => boolean;

/** A WebSocket client that keeps every frame it receives and can wait for a particular one. */
export class RawClient<T = unknown> {
  readonly ws: WebSocket;
  readonly received: T[] = [];
  closed: { code: number; reason: string } | null = null;
  readonly #waiters: { pred: Predicate<T>; resolve: (m: T) => void; from: number }[] = [];
  readonly #closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];
  readonly opened: Promise<void>;

  constructor(url: string, protocols?: string | string[], options?: ClientOptions) {
    this.ws = new WebSocket(url, protocols, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        resolve();
      });
      this.ws.once('error', reject);
    });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = rawToString(data);
      let msg: T;
      try {
        msg = JSON.parse(text) as T;
      } catch {
        msg = text as T;
      }
      this.received.push(msg);
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        const w = this.#waiters[i]!;
        if (w.pred(msg)) {
          this.#waiters.splice(i, 1);
          w.resolve(msg);
        }
      }
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.#closeWaiters.splice(0)) w(this.closed);
    });
    this.ws.on('error', () => undefined);
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  /**
   * Resolves with the first frame matching `pred`, looking at frames already received since
   * `mark()` (default: all of them) as well as later ones; rejects after `timeoutMs`.
   */
  waitFor(pred: Predicate<T>, timeoutMs = 5000, from = 0): Promise<T> {
    for (let i = from; i < this.received.length; i++) {
      const m = this.received[i]!;
      if (pred(m)) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        from,
        resolve: (m: T) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(
          new Error(
            `timed out waiting for a frame; last received: ${JSON.stringify(this.received.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Index to pass as `from` so that waitFor ignores what came before now. */
  mark(): number {
    return this.received.length;
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('timed out waiting for close'));
      }, timeoutMs);
      this.#closeWaiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }

  /** Waits `ms` and returns the frames that arrived meanwhile (to check that nothing came). */
  async quiet(ms = 150): Promise<T[]> {
    const start = this.received.length;
    await new Promise((r) => setTimeout(r, ms));
    return this.received.slice(start);
  }

  close(): void {
    this.ws.close();
  }
}

type Msg<K extends ServerMessage['type']> = Extract<ServerMessage, { type: K }>;

/** A Parley protocol client: typed sends and typed waits. */
export class ParleyClient extends RawClient<ServerMessage> {
  user: { id: string; name: string } | null = null;
  token: string | null = null;

  send(msg: ClientMessageInput): void {
    this.sendJson(msg);
  }

  next<K extends ServerMessage['type']>(
    type: K,
    pred: (m: Msg<K>) => boolean = () => true,
    timeoutMs = 5000,
    from = 0,
  ): Promise<Msg<K>> {
    return this.waitFor((m) => m.type === type && pred(m as Msg<K>), timeoutMs, from) as Promise<Msg<K>>;
  }

  /** Waits for an error frame, by code. */
  error(code: string, from = 0, timeoutMs = 5000): Promise<Msg<'error'>> {
    return this.next('error', (m) => m.code === code, timeoutMs, from);
  }

  async hello(name: string): Promise<Msg<'welcome'>> {
    await this.opened;
    const from = this.mark();
    this.send({ type: 'hello', versions: [1], name });
    const welcome = await this.next('welcome', () => true, 5000, from);
    this.user = welcome.user;
    this.token = welcome.token;
    return welcome;
  }

  async resume(token: string, since?: number): Promise<Msg<'welcome'>> {
    await this.opened;
    const from = this.mark();
    this.send({ type: 'resume', versions: [1], token, ...(since === undefined ? {} : { since }) });
    const welcome = await this.next('welcome', () => true, 5000, from);
    this.user = welcome.user;
    this.token = welcome.token;
    return welcome;
  }
}

/** Opens a Parley client and signs it in. */
export async function signedIn(url: string, name: string): Promise<ParleyClient> {
  const c = new ParleyClient(url);
  await c.hello(name);
  return c;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
