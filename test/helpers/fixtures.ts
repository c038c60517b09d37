/**
 * The per-test scaffolding of the integration tests (test/integration): a fresh server for every
 * test and the Parley clients opened on it, closed again after the test.
 */
import { afterEach, beforeEach } from 'vitest';
import type { ServerMessage } from '../../src/protocol/protocol.js';
import type { Config } from '../../src/server/config.js';
import { closeAll } from './integration.js';
import { ParleyClient, startServer, type TestServer } from './parley.js';

/** Server settings for a test; a function is called again before each test. */
export type ServerOverrides = Partial<Config> | (() => Partial<Config>);

export interface ParleyServerOptions {
  /**
   * Start a server before each test (the default). With `false` each test starts its own with
   * `start(overrides)`; afterEach still closes it.
   */
  startEach?: boolean;
}

export interface ParleyServerFixture {
  /**
   * The current test's server. A live handle: it always refers to the server of the running
   * test (also after `restart`), so it may be destructured once at describe time.
   */
  readonly t: TestServer;
  /** Every client opened through the fixture (tests may push their own); closed after each test. */
  readonly clients: ParleyClient[];
  /** Starts the test's server (with `startEach: false`). */
  start: (overrides?: Partial<Config>) => Promise<TestServer>;
  /** Closes the test's server and starts a new one with exactly these overrides. */
  restart: (overrides?: Partial<Config>) => Promise<TestServer>;
  /** Opens a tracked client on the current server. */
  client: () => ParleyClient;
  /** A tracked client that has said hello (without waiting for the lobby). */
  hello: (name: string) => Promise<ParleyClient>;
  /** A tracked client that has said hello and been put in the lobby. */
  signedIn: (name: string) => Promise<ParleyClient>;
  /** Joins `room` and resolves with its roomJoined frame. */
  join: (c: ParleyClient, room: string) => Promise<Frame<'roomJoined'>>;
  /** Sends a room message and resolves with its ack. */
  say: (c: ParleyClient, room: string, clientId: string, text: string) => Promise<Frame<'ack'>>;
}

type Frame<K extends ServerMessage['type']> = Extract<ServerMessage, { type: K }>;

/**
 * Registers beforeEach/afterEach for the enclosing describe block (or file): a server started
 * with `overrides` before each test, and after it the tracked clients terminated and the server
 * closed. Call it before the block's own hooks, which then run with the server already up.
 */
export function useParleyServer(
  overrides: ServerOverrides = {},
  { startEach = true }: ParleyServerOptions = {},
): ParleyServerFixture {
  let current: TestServer | null = null;
  const clients: ParleyClient[] = [];

  const server = (): TestServer => {
    if (current === null) throw new Error('no test server is running');
    return current;
  };
  const t = new Proxy({} as TestServer, {
    get: (_target, key) => Reflect.get(server(), key) as unknown,
    has: (_target, key) => Reflect.has(server(), key),
  });

  const start = async (o: Partial<Config> = {}): Promise<TestServer> => {
    if (current !== null) throw new Error('a test server is already running');
    current = await startServer(o);
    return current;
  };

  const client = (): ParleyClient => {
    const c = new ParleyClient(server().url);
    clients.push(c);
    return c;
  };

  const hello = async (name: string): Promise<ParleyClient> => {
    const c = client();
    await c.hello(name);
    return c;
  };

  if (startEach) {
    beforeEach(async () => {
      await start(typeof overrides === 'function' ? overrides() : overrides);
    });
  }
  afterEach(async () => {
    closeAll(clients);
    const closing = current;
    current = null;
    await closing?.close();
  });

  return {
    t,
    clients,
    start,
    async restart(o: Partial<Config> = {}) {
      const closing = current;
      current = null;
      await closing?.close();
      return start(o);
    },
    client,
    hello,
    async signedIn(name) {
      const c = await hello(name);
      await c.next('roomJoined', (m) => m.room === 'lobby');
      return c;
    },
    async join(c, room) {
      const from = c.mark();
      c.send({ type: 'join', room });
      return c.next('roomJoined', (m) => m.room === room, 5000, from);
    },
    async say(c, room, clientId, text) {
      const from = c.mark();
      c.send({ type: 'chat', room, clientId, text });
      return c.next('ack', (m) => m.clientId === clientId, 5000, from);
    },
  };
}
