/**
 * What is particular to PostgresStore (the shared behaviour is in test/contract): migrations under
 * an advisory lock, one INSERT per batch, de-duplication across instances, ready() following the
 * pool's health. Needs a real PostgreSQL (test/helpers/postgres.ts); skipped, saying why, without.
 */
import { createServer, type Server, Socket } from 'node:net';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { PostgresStore, type PostgresStoreOptions } from '../../src/server/store/PostgresStore.js';
import { roomMsg } from '../contract/messageStore.contract.js';
import { until } from '../helpers/integration.js';
import { postgresTest } from '../helpers/postgres.js';

const pgt = postgresTest();
const stores: PostgresStore[] = [];

async function openStore(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = await PostgresStore.open({ connectionString: await pgt.url(), poolSize: 4, ...options });
  stores.push(store);
  return store;
}

async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: await pgt.url() });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A TCP proxy in front of the server that a test can cut and restore, like a network outage. */
class Outage {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  port = 0;
  constructor(readonly target: URL) {}

  async up(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = new Socket();
      outbound.connect(Number(this.target.port), this.target.hostname);
      for (const s of [inbound, outbound]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

pgt.describe('PostgresStore', () => {
  beforeEach(async () => {
    await pgt.reset();
  });

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });

  it('creates the schema and records it in schema_migrations', async () => {
    const store = await openStore();
    expect(store.ready()).toBe(true);
    const versions = await sql<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions).toEqual([{ version: 1 }, { version: 2 }]);
    const tables = await sql<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    expect(tables.map((t) => t.tablename)).toEqual(['messages', 'schema_migrations']);
  });

  it('migrates once when several instances start at the same time', async () => {
    const many = await Promise.all(Array.from({ length: 6 }, () => openStore({ poolSize: 1 })));
    expect(many.every((s) => s.ready())).toBe(true);
    expect(await sql('SELECT version FROM schema_migrations ORDER BY version')).toEqual([
      { version: 1 },
      { version: 2 },
    ]);
    // And they share one history.
    const a = await many[0]!.append(roomMsg('u1', 'c1', 'lobby'));
    expect(await many[5]!.history({ room: 'lobby' }, undefined, 10)).toEqual([a.message]);
  });

  it('upgrades a version-1 database (before images), keeping its messages', async () => {
    // Migration 1 as released: the schema every existing installation has.
    await sql(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    await sql(`CREATE TABLE messages (
       id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts BIGINT NOT NULL, sender_id TEXT NOT NULL,
       sender_name TEXT NOT NULL, sender_key TEXT NOT NULL, client_id TEXT NOT NULL, text TEXT NOT NULL,
       room TEXT, recipient TEXT, dm_key TEXT, UNIQUE (sender_key, client_id))`);
    await sql(`INSERT INTO messages (ts, sender_id, sender_name, sender_key, client_id, text, room)
               VALUES (5, 'u1', 'U1', 'u1', 'old', 'from before', 'lobby')`);
    await sql('INSERT INTO schema_migrations (version) VALUES (1)');
    const store = await openStore();
    const photo = { id: 'AbCdEfGhIjKlMnOpQrStUv', width: 4, height: 3 };
    await store.append({ ...roomMsg('u1', 'new', 'lobby', ''), image: photo });
    const rows = await store.history({ room: 'lobby' }, undefined, 10);
    expect(rows.map((m) => [m.clientId, m.text, m.image ?? null])).toEqual([
      ['old', 'from before', null],
      ['new', '', photo],
    ]);
    expect(await sql('SELECT version FROM schema_migrations ORDER BY version')).toEqual([
      { version: 1 },
      { version: 2 },
    ]);
  });

  it('refuses a database written by a newer Parley', async () => {
    await (await openStore()).close();
    await sql('INSERT INTO schema_migrations (version) VALUES (99)');
    await expect(openStore()).rejects.toThrow(/newer than this Parley/);
  });

  it('writes a burst of appends with one INSERT', async () => {
    let clockReads = 0;
    // The store reads the clock once per INSERT.
    const store = await openStore({ now: () => ++clockReads });
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => store.append(roomMsg('u1', `c${i}`, 'lobby'))),
    );
    expect(clockReads).toBe(1);
    expect(new Set(results.map((r) => r.message.ts))).toEqual(new Set([1]));
    // A backlog larger than maxBatch goes in several INSERTs, in order.
    clockReads = 0;
    const small = await openStore({ now: () => ++clockReads, maxBatch: 100 });
    const more = await Promise.all(
      Array.from({ length: 250 }, (_, i) => small.append(roomMsg('u2', `d${i}`, 'lobby'))),
    );
    expect(clockReads).toBe(3);
    expect(more.map((r) => r.message.id)).toEqual(Array.from({ length: 250 }, (_, i) => 301 + i));
  });

  it('de-duplicates across instances: the same (sender, clientId) from two at once is stored once', async () => {
    const [one, two] = await Promise.all([openStore(), openStore()]);
    for (let round = 0; round < 20; round++) {
      const [a, b] = await Promise.all([
        one.append(roomMsg('u1', `race${round}`, 'lobby', 'from one')),
        two.append({ ...roomMsg('u7', `race${round}`, 'lobby', 'from two'), senderName: 'u1' }),
      ]);
      expect([a.duplicate, b.duplicate].sort()).toEqual([false, true]);
      expect(a.message).toEqual(b.message);
    }
    expect(await sql('SELECT COUNT(*)::int AS n FROM messages')).toEqual([{ n: 20 }]);
  });

  it('open() rejects when the server cannot be reached', async () => {
    const outage = new Outage(new URL(await pgt.url()));
    await outage.up();
    const port = outage.port;
    await outage.down();
    const url = new URL(await pgt.url());
    url.port = String(port);
    await expect(
      PostgresStore.open({ connectionString: url.toString(), healthCheckMs: 50 }),
    ).rejects.toThrow();
  });

  it('ready() follows the health of the connection, and recovers without a restart', async () => {
    const target = new URL(await pgt.url());
    const outage = new Outage(target);
    await outage.up();
    const url = new URL(target);
    url.port = String(outage.port);
    const store = await openStore({ connectionString: url.toString(), healthCheckMs: 50 });
    await store.append(roomMsg('u1', 'before', 'lobby'));
    expect(store.ready()).toBe(true);

    await outage.down();
    await until(() => !store.ready(), 5000, 'ready() to turn false');
    await expect(store.append(roomMsg('u1', 'during', 'lobby'))).rejects.toThrow();

    await outage.up();
    await until(() => store.ready(), 5000, 'ready() to turn true again');
    const after = await store.append(roomMsg('u1', 'after', 'lobby'));
    expect(after.duplicate).toBe(false);
    expect((await store.history({ room: 'lobby' }, undefined, 10)).map((m) => m.clientId)).toEqual([
      'before',
      'after',
    ]);
    await store.close();
    await outage.down();
  });
});
