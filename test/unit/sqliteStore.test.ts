import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewMessage } from '../../src/server/store/MessageStore.js';
import { dmKey, SqliteStore } from '../../src/server/store/SqliteStore.js';

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

function roomMsg(
  senderId: string,
  clientId: string,
  room: string,
  text = `${senderId}:${clientId}`,
): NewMessage {
  return { senderId, senderName: senderId.toUpperCase(), clientId, text, room, to: null };
}

function dmMsg(
  senderId: string,
  clientId: string,
  to: string,
  text = `${senderId}->${to}:${clientId}`,
): NewMessage {
  return { senderId, senderName: senderId.toUpperCase(), clientId, text, room: null, to };
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
        expect(db.pragma('user_version', { simple: true })).toBe(1);
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
      expect(db.pragma('user_version', { simple: true })).toBe(1);
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

  describe('append', () => {
    it('stores a message with an id and the server time', async () => {
      const store = openStore({ now: () => 1234 });
      const result = await store.append(roomMsg('u1', 'c1', 'lobby', 'hello'));
      expect(result).toEqual({
        duplicate: false,
        message: {
          id: 1,
          ts: 1234,
          senderId: 'u1',
          senderName: 'U1',
          clientId: 'c1',
          text: 'hello',
          room: 'lobby',
          to: null,
        },
      });
      const dm = await store.append(dmMsg('u1', 'c2', 'u2', 'psst'));
      expect(dm.message).toMatchObject({ id: 2, room: null, to: 'u2', text: 'psst' });
      expect(await store.lastId()).toBe(2);
    });

    it('returns the stored original for a duplicate (sender, clientId)', async () => {
      let now = 100;
      const store = openStore({ now: () => now });
      const first = await store.append(roomMsg('u1', 'c1', 'lobby', 'original'));
      now = 200;
      const again = await store.append(roomMsg('u1', 'c1', 'other', 'changed'));
      expect(again).toEqual({ duplicate: true, message: first.message });
      expect(await store.lastId()).toBe(1);
    });

    it('knows a re-send after a restart: same name, new session id, same clientId', async () => {
      const store = openStore();
      const first = await store.append({ ...roomMsg('u1', 'c1', 'lobby', 'hi'), senderName: 'Ann' });
      const again = await store.append({ ...roomMsg('u9', 'c1', 'lobby', 'hi'), senderName: 'ann' });
      expect(again).toEqual({ duplicate: true, message: first.message });
      expect(await store.lastId()).toBe(1);
    });

    it('scopes clientId to the sender', async () => {
      const store = openStore();
      const a = await store.append(roomMsg('u1', 'c1', 'lobby'));
      const b = await store.append(roomMsg('u2', 'c1', 'lobby'));
      expect(b.duplicate).toBe(false);
      expect(b.message.id).toBe(a.message.id + 1);
    });

    it('detects a duplicate within the same batch', async () => {
      const store = openStore();
      const [a, b] = await Promise.all([
        store.append(roomMsg('u1', 'same', 'lobby', 'one')),
        store.append(roomMsg('u1', 'same', 'lobby', 'two')),
      ]);
      expect(a?.duplicate).toBe(false);
      expect(b).toEqual({ duplicate: true, message: a?.message });
    });

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

    it('rejects appends after close', async () => {
      const store = openStore();
      await store.close();
      expect(store.ready()).toBe(false);
      await expect(store.append(roomMsg('u1', 'c1', 'lobby'))).rejects.toThrow(/closed/);
    });
  });

  describe('history', () => {
    it('pages a room backwards, oldest first within a page', async () => {
      const store = openStore();
      for (let i = 1; i <= 5; i++) await store.append(roomMsg('u1', `c${i}`, 'lobby', `m${i}`));
      await store.append(roomMsg('u1', 'x', 'other', 'elsewhere'));
      await store.append(dmMsg('u1', 'd', 'u2'));

      const ids = async (before: number | undefined, limit: number) =>
        (await store.history({ room: 'lobby' }, before, limit)).map((m) => m.id);
      expect(await ids(undefined, 2)).toEqual([4, 5]);
      expect(await ids(4, 2)).toEqual([2, 3]);
      expect(await ids(2, 2)).toEqual([1]);
      expect(await ids(1, 2)).toEqual([]);
      expect(await ids(undefined, 100)).toEqual([1, 2, 3, 4, 5]);
      expect(await ids(1000, 1)).toEqual([5]);
      const page = await store.history({ room: 'lobby' }, undefined, 1);
      expect(page[0]).toMatchObject({ text: 'm5', room: 'lobby', to: null, senderName: 'U1' });
      expect(await store.history({ room: 'nowhere' }, undefined, 10)).toEqual([]);
    });

    it('pages direct messages between two users in either direction', async () => {
      const store = openStore();
      await store.append(dmMsg('u1', 'a', 'u2'));
      await store.append(dmMsg('u2', 'b', 'u1'));
      await store.append(dmMsg('u1', 'c', 'u3'));
      await store.append(roomMsg('u1', 'd', 'lobby'));
      await store.append(dmMsg('u1', 'e', 'u2'));
      const conversation = await store.history({ userA: 'u2', userB: 'u1' }, undefined, 10);
      expect(conversation.map((m) => [m.id, m.senderId, m.to])).toEqual([
        [1, 'u1', 'u2'],
        [2, 'u2', 'u1'],
        [5, 'u1', 'u2'],
      ]);
      expect((await store.history({ userA: 'u1', userB: 'u2' }, 5, 1)).map((m) => m.id)).toEqual([
        2,
      ]);
      expect(await store.history({ userA: 'u2', userB: 'u3' }, undefined, 10)).toEqual([]);
    });

    it('dmKey is the same both ways round', () => {
      expect(dmKey('a', 'b')).toBe(dmKey('b', 'a'));
      expect(dmKey('a', 'b')).not.toBe(dmKey('a', 'c'));
    });
  });

  describe('missed', () => {
    it("returns room messages and the user's direct messages after an id, oldest first", async () => {
      const store = openStore();
      await store.append(roomMsg('u2', '1', 'lobby')); // 1
      await store.append(roomMsg('u2', '2', 'lobby')); // 2
      await store.append(roomMsg('u2', '3', 'secret')); // 3: not one of u1's rooms
      await store.append(dmMsg('u2', '4', 'u1')); // 4: to u1
      await store.append(dmMsg('u1', '5', 'u3')); // 5: from u1
      await store.append(dmMsg('u2', '6', 'u3')); // 6: neither
      await store.append(roomMsg('u1', '7', 'team')); // 7
      await store.append(roomMsg('u3', '8', 'lobby')); // 8

      const ids = async (afterId: number, limit = 100, rooms = ['lobby', 'team']) =>
        (await store.missed({ rooms, userId: 'u1', afterId, limit })).map((m) => m.id);
      expect(await ids(0)).toEqual([1, 2, 4, 5, 7, 8]);
      expect(await ids(2)).toEqual([4, 5, 7, 8]);
      expect(await ids(0, 3)).toEqual([1, 2, 4]);
      expect(await ids(8)).toEqual([]);
      expect(await ids(0, 100, [])).toEqual([4, 5]);
      expect(await ids(0, 100, ['secret'])).toEqual([3, 4, 5]);
    });

    it('takes room names literally (no pattern matching)', async () => {
      const store = openStore();
      await store.append(roomMsg('u2', '1', 'lobby'));
      expect(await store.missed({ rooms: ['%'], userId: 'u1', afterId: 0, limit: 10 })).toEqual([]);
      expect(await store.missed({ rooms: ['lob_y'], userId: 'u1', afterId: 0, limit: 10 })).toEqual(
        [],
      );
    });
  });

  describe('durability', () => {
    it('keeps the data when the same file is opened again', async () => {
      const first = openStore({ synchronous: 'full' });
      const a = await first.append(roomMsg('u1', 'c1', 'lobby', 'persisted'));
      const b = await first.append(dmMsg('u1', 'c2', 'u2', 'also persisted'));
      await first.close();

      const second = openStore({ synchronous: 'full' });
      expect(await second.lastId()).toBe(2);
      expect(await second.history({ room: 'lobby' }, undefined, 10)).toEqual([a.message]);
      expect(await second.history({ userA: 'u1', userB: 'u2' }, undefined, 10)).toEqual([
        b.message,
      ]);
      // Ids go on increasing from where they were (a refused duplicate may leave a gap), and the
      // duplicate check still sees the old rows.
      expect((await second.append(roomMsg('u1', 'c1', 'lobby'))).duplicate).toBe(true);
      expect((await second.append(roomMsg('u1', 'c3', 'lobby'))).message.id).toBeGreaterThan(2);
    });

    it('close() commits appends still waiting for their tick', async () => {
      const store = openStore();
      const pending = [
        store.append(roomMsg('u1', 'p1', 'lobby')),
        store.append(roomMsg('u1', 'p2', 'lobby')),
      ];
      await store.close();
      const results = await Promise.all(pending);
      expect(results.map((r) => r.message.id)).toEqual([1, 2]);

      const reopened = openStore();
      expect(
        (await reopened.history({ room: 'lobby' }, undefined, 10)).map((m) => m.clientId),
      ).toEqual(['p1', 'p2']);
    });

    it('close() is idempotent', async () => {
      const store = openStore();
      await store.close();
      await store.close();
      expect(store.ready()).toBe(false);
    });

    it('lastId is 0 for an empty store', async () => {
      expect(await openStore().lastId()).toBe(0);
    });

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
