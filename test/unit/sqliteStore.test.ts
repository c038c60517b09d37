import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dmKey, SqliteStore } from '../../src/server/store/SqliteStore.js';
import { roomMsg } from '../contract/messageStore.contract.js';

let dir: string;
let path: string;
const open: SqliteStore[] = [];

function openStore(
  options: { now?: () => number; synchronous?: 'full' | 'normal' } = {},
): SqliteStore {
  const store = new SqliteStore({ path, synchronous: 'normal', ...options });
  open.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'parley-store-'));
  // A subdirectory that does not exist yet: the store creates it.
  path = join(dir, 'nested', 'parley.db');
});

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteStore', () => {
  describe('migrations', () => {
    it('creates the schema and records it in user_version', async () => {
      const store = openStore();
      expect(store.ready()).toBe(true);
      await store.close();
      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(2);
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        const tables = db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
          .pluck()
          .all();
        expect(tables).toContain('messages');
      } finally {
        db.close();
      }
    });

    it('does not run migrations again on reopen', async () => {
      const first = openStore();
      await first.append(roomMsg('u1', 'c1', 'lobby'));
      await first.close();
      const second = openStore();
      expect(await second.lastId()).toBe(1);
      await second.close();
      const db = new Database(path, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(2);
      db.close();
    });

    it('upgrades a version-1 database (before images), keeping its messages', async () => {
      mkdirSync(dirname(path), { recursive: true });
      const v1 = new Database(path);
      // Migration 1 as released: the schema every existing installation has.
      v1.exec(`CREATE TABLE messages (
         id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, sender_id TEXT NOT NULL,
         sender_name TEXT NOT NULL, sender_key TEXT NOT NULL, client_id TEXT NOT NULL, text TEXT NOT NULL,
         room TEXT, recipient TEXT, dm_key TEXT, UNIQUE (sender_key, client_id))`);
      v1.prepare(
        `INSERT INTO messages (ts, sender_id, sender_name, sender_key, client_id, text, room)
         VALUES (5, 'u1', 'U1', 'u1', 'old', 'from before', 'lobby')`,
      ).run();
      v1.pragma('user_version = 1');
      v1.close();
      const store = openStore();
      const photo = { id: 'AbCdEfGhIjKlMnOpQrStUv', width: 4, height: 3 };
      await store.append({ ...roomMsg('u1', 'new', 'lobby', ''), image: photo });
      const rows = await store.history({ room: 'lobby' }, undefined, 10);
      expect(rows.map((m) => [m.clientId, m.text, m.image ?? null])).toEqual([
        ['old', 'from before', null],
        ['new', '', photo],
      ]);
      await store.close();
      const db = new Database(path, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(2);
      db.close();
    });

    it('refuses a database written by a newer Parley', async () => {
      const first = openStore();
      await first.close();
      const db = new Database(path);
      db.pragma('user_version = 99');
      db.close();
      expect(() => openStore()).toThrow(/newer than this Parley/);
    });
  });

  describe('append (the rest of the contract: test/contract)', () => {
    it('group-commits every append made in one tick into one transaction', async () => {
      const first = openStore();
      await first.close();
      // A second connection reads committed data only. Asked from inside the store's insert (via
      // `now`), it sees none of the batch so far if the whole batch is one transaction.
      const reader = new Database(path, { readonly: true });
      const count = reader.prepare('SELECT COUNT(*) FROM messages').pluck();
      const seenDuringInsert: unknown[] = [];
      const store = openStore({
        now: () => {
          seenDuringInsert.push(count.get());
          return 1;
        },
      });
      try {
        const n = 200;
        const settled: number[] = [];
        const all = Array.from({ length: n }, (_, i) =>
          store.append(roomMsg('u1', `c${i}`, 'lobby')).then((r) => {
            settled.push(r.message.id);
            return r;
          }),
        );
        // Nothing is written until the tick ends.
        expect(count.get()).toBe(0);
        await Promise.resolve();
        expect(settled).toEqual([]);
        const results = await Promise.all(all);
        expect(seenDuringInsert).toEqual(Array.from({ length: n }, () => 0));
        expect(count.get()).toBe(n);
        expect(results.map((r) => r.message.id)).toEqual(
          Array.from({ length: n }, (_, i) => i + 1),
        );
        expect(settled).toEqual(results.map((r) => r.message.id));

        // The next tick is a new transaction, which sees the first one committed.
        seenDuringInsert.length = 0;
        await Promise.all([
          store.append(roomMsg('u1', 'next1', 'lobby')),
          store.append(roomMsg('u1', 'next2', 'lobby')),
        ]);
        expect(seenDuringInsert).toEqual([n, n]);
      } finally {
        reader.close();
      }
    });
  });

  describe('keys', () => {
    it('dmKey is the same both ways round', () => {
      expect(dmKey('a', 'b')).toBe(dmKey('b', 'a'));
      expect(dmKey('a', 'b')).not.toBe(dmKey('a', 'c'));
    });
  });

  describe('storage', () => {
    it('works in memory', async () => {
      const store = new SqliteStore({ path: ':memory:' });
      open.push(store);
      const { message } = await store.append(roomMsg('u1', 'c1', 'lobby'));
      expect(message.id).toBe(1);
      expect(await store.missed({ rooms: ['lobby'], userId: 'u9', afterId: 0, limit: 10 })).toEqual(
        [message],
      );
    });
  });
});
