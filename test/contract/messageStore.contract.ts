/**
 * The MessageStore contract: what the hub relies on, whichever database holds the messages. Every
 * implementation runs this same suite (test/contract/*.test.ts) and must pass it identically;
 * what is particular to one database (SQLite's user_version and one-transaction group commit,
 * PostgreSQL's migration lock) is tested beside it in test/unit.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageStore, NewMessage } from '../../src/server/store/MessageStore.js';

export interface OpenOptions {
  /** The store's clock (ms since epoch). */
  now?: () => number;
}

export interface StoreBackend {
  /** Before each test: empty storage, as for a new installation. */
  reset(): Promise<void>;
  /** Opens a store on this test's storage; opening it again (after close) sees the same data. */
  open(options?: OpenOptions): Promise<MessageStore>;
}

export function roomMsg(
  senderId: string,
  clientId: string,
  room: string,
  text = `${senderId}:${clientId}`,
): NewMessage {
  return { senderId, senderName: senderId.toUpperCase(), clientId, text, room, to: null };
}

export function dmMsg(
  senderId: string,
  clientId: string,
  to: string,
  text = `${senderId}->${to}:${clientId}`,
): NewMessage {
  return { senderId, senderName: senderId.toUpperCase(), clientId, text, room: null, to };
}

export function describeMessageStore(name: string, backend: StoreBackend): void {
  describe(`MessageStore contract: ${name}`, () => {
    const opened: MessageStore[] = [];
    const openStore = async (options: OpenOptions = {}): Promise<MessageStore> => {
      const store = await backend.open(options);
      opened.push(store);
      return store;
    };

    beforeEach(async () => {
      await backend.reset();
    });

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    describe('append', () => {
      it('stores a message with an id and the server time', async () => {
        const store = await openStore({ now: () => 1234 });
        expect(store.ready()).toBe(true);
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
        const store = await openStore({ now: () => now });
        const first = await store.append(roomMsg('u1', 'c1', 'lobby', 'original'));
        now = 200;
        const again = await store.append(roomMsg('u1', 'c1', 'other', 'changed'));
        expect(again).toEqual({ duplicate: true, message: first.message });
        expect(await store.lastId()).toBe(1);
      });

      it('knows a re-send after a restart: same name, new session id, same clientId', async () => {
        const store = await openStore();
        const first = await store.append({
          ...roomMsg('u1', 'c1', 'lobby', 'hi'),
          senderName: 'Ann',
        });
        const again = await store.append({
          ...roomMsg('u9', 'c1', 'lobby', 'hi'),
          senderName: 'ann',
        });
        expect(again).toEqual({ duplicate: true, message: first.message });
        expect(await store.lastId()).toBe(1);
      });

      it('scopes clientId to the sender', async () => {
        const store = await openStore();
        const a = await store.append(roomMsg('u1', 'c1', 'lobby'));
        const b = await store.append(roomMsg('u2', 'c1', 'lobby'));
        expect(b.duplicate).toBe(false);
        expect(b.message.id).toBe(a.message.id + 1);
      });

      it('detects a duplicate within the same batch', async () => {
        const store = await openStore();
        const [a, b] = await Promise.all([
          store.append(roomMsg('u1', 'same', 'lobby', 'one')),
          store.append(roomMsg('u1', 'same', 'lobby', 'two')),
        ]);
        expect(a?.duplicate).toBe(false);
        expect(a?.message.text).toBe('one');
        expect(b).toEqual({ duplicate: true, message: a?.message });
      });

      it('gives concurrent appends ids in the order they were made, and settles them in that order', async () => {
        const store = await openStore();
        const n = 200;
        const settled: number[] = [];
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            store.append(roomMsg(`u${i % 7}`, `c${i}`, 'lobby', `m${i}`)).then((r) => {
              settled.push(r.message.id);
              return r;
            }),
          ),
        );
        expect(results.map((r) => r.message.id)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(results.map((r) => r.message.text)).toEqual(
          Array.from({ length: n }, (_, i) => `m${i}`),
        );
        expect(results.every((r) => !r.duplicate)).toBe(true);
        expect(settled).toEqual(results.map((r) => r.message.id));
        expect(await store.lastId()).toBe(n);
      });

      it('keeps appends made while a batch is being written, in order, after it', async () => {
        const store = await openStore();
        const first = Array.from({ length: 5 }, (_, i) => store.append(roomMsg('u1', `a${i}`, 'lobby')));
        // The next tick: the first batch may be on its way to the database.
        await new Promise((r) => setImmediate(r));
        const second = Array.from({ length: 5 }, (_, i) => store.append(roomMsg('u1', `b${i}`, 'lobby')));
        const ids = (await Promise.all([...first, ...second])).map((r) => r.message.id);
        expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      });

      it('stores any text the protocol accepts, exactly (NUL, control characters, emoji)', async () => {
        const store = await openStore();
        const odd = 'a\u0000b\u0001c\u00010\u0002 \u2028 😀 ünï ‮rtl \\0 %_';
        const stored = await store.append({ ...roomMsg('u1', `id\u0000${odd}`, 'lobby', odd) });
        expect(stored.message.text).toBe(odd);
        expect(stored.message.clientId).toBe(`id\u0000${odd}`);
        const [read] = await store.history({ room: 'lobby' }, undefined, 10);
        expect(read).toEqual(stored.message);
        // Client ids that differ only where an escape could confuse them are different ids.
        const near = await store.append(roomMsg('u1', 'id\u00010', 'lobby'));
        const nul = await store.append(roomMsg('u1', 'id\u0000', 'lobby'));
        expect([near.duplicate, nul.duplicate]).toEqual([false, false]);
        expect((await store.append(roomMsg('u1', 'id\u0000', 'lobby'))).message).toEqual(nul.message);
        expect(
          (await store.history({ room: 'lobby' }, undefined, 10)).map((m) => m.clientId),
        ).toEqual([`id\u0000${odd}`, 'id\u00010', 'id\u0000']);
      });

      it('rejects appends after close', async () => {
        const store = await openStore();
        await store.close();
        expect(store.ready()).toBe(false);
        await expect(store.append(roomMsg('u1', 'c1', 'lobby'))).rejects.toThrow(/closed/);
      });
    });

    describe('images', () => {
      const photo = { id: 'AbCdEfGhIjKlMnOpQrStUv', width: 640, height: 480 };

      it('stores a message with an image (and no words), and gives it back in history and missed', async () => {
        const store = await openStore({ now: () => 99 });
        const plain = await store.append(roomMsg('u1', 'c0', 'lobby', 'just words'));
        const room = await store.append({ ...roomMsg('u1', 'c1', 'lobby', ''), image: photo });
        const dm = await store.append({ ...dmMsg('u1', 'c2', 'u2', 'look'), image: { ...photo, id: 'x'.repeat(22) } });
        expect(room).toEqual({
          duplicate: false,
          message: {
            id: 2,
            ts: 99,
            senderId: 'u1',
            senderName: 'U1',
            clientId: 'c1',
            text: '',
            room: 'lobby',
            to: null,
            image: photo,
          },
        });
        // A message without an image has no image field at all (null in, nothing out).
        expect(plain.message).not.toHaveProperty('image');
        const nullImage = await store.append({ ...roomMsg('u1', 'c3', 'lobby'), image: null });
        expect(nullImage.message).not.toHaveProperty('image');

        expect(await store.history({ room: 'lobby' }, undefined, 10)).toEqual([
          plain.message,
          room.message,
          nullImage.message,
        ]);
        expect(await store.history({ userA: 'u2', userB: 'u1' }, undefined, 10)).toEqual([dm.message]);
        expect(dm.message.image).toEqual({ id: 'xxxxxxxxxxxxxxxxxxxxxx', width: 640, height: 480 });
        const missed = await store.missed({ rooms: ['lobby'], userId: 'u2', afterId: 0, limit: 10 });
        expect(missed.map((m) => m.image?.id ?? null)).toEqual([null, photo.id, 'x'.repeat(22), null]);
      });

      it('a duplicate returns the original with its image, and the image survives a reopen', async () => {
        const first = await openStore();
        const original = await first.append({ ...roomMsg('u1', 'c1', 'lobby', ''), image: photo });
        const again = await first.append({ ...roomMsg('u1', 'c1', 'lobby', ''), image: photo });
        expect(again).toEqual({ duplicate: true, message: original.message });
        // In one batch as well.
        const batch = await Promise.all([
          first.append({ ...roomMsg('u1', 'c2', 'lobby', ''), image: photo }),
          first.append(roomMsg('u1', 'c3', 'lobby')),
          first.append({ ...roomMsg('u1', 'c2', 'lobby', ''), image: photo }),
        ]);
        expect(batch.map((r) => [r.duplicate, r.message.image ?? null])).toEqual([
          [false, photo],
          [false, null],
          [true, photo],
        ]);
        await first.close();
        const second = await openStore();
        const [read] = await second.history({ room: 'lobby' }, 2, 10);
        expect(read).toEqual(original.message);
      });
    });

    describe('history', () => {
      it('pages a room backwards, oldest first within a page', async () => {
        const store = await openStore();
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
        const store = await openStore();
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
        expect(
          (await store.history({ userA: 'u1', userB: 'u2' }, 5, 1)).map((m) => m.id),
        ).toEqual([2]);
        expect(await store.history({ userA: 'u2', userB: 'u3' }, undefined, 10)).toEqual([]);
      });
    });

    describe('missed', () => {
      it("returns room messages and the user's direct messages after an id, oldest first", async () => {
        const store = await openStore();
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
        const store = await openStore();
        await store.append(roomMsg('u2', '1', 'lobby'));
        expect(await store.missed({ rooms: ['%'], userId: 'u1', afterId: 0, limit: 10 })).toEqual(
          [],
        );
        expect(
          await store.missed({ rooms: ['lob_y'], userId: 'u1', afterId: 0, limit: 10 }),
        ).toEqual([]);
      });
    });

    describe('durability', () => {
      it('keeps the data when the same storage is opened again', async () => {
        const first = await openStore();
        const a = await first.append(roomMsg('u1', 'c1', 'lobby', 'persisted'));
        const b = await first.append(dmMsg('u1', 'c2', 'u2', 'also persisted'));
        await first.close();

        const second = await openStore();
        expect(await second.lastId()).toBe(2);
        expect(await second.history({ room: 'lobby' }, undefined, 10)).toEqual([a.message]);
        expect(await second.history({ userA: 'u1', userB: 'u2' }, undefined, 10)).toEqual([
          b.message,
        ]);
        // Ids go on increasing from where they were (a refused duplicate may leave a gap), and
        // the duplicate check still sees the old rows.
        expect((await second.append(roomMsg('u1', 'c1', 'lobby'))).duplicate).toBe(true);
        expect((await second.append(roomMsg('u1', 'c3', 'lobby'))).message.id).toBeGreaterThan(2);
      });

      it('close() commits appends still waiting for their tick', async () => {
        const store = await openStore();
        const pending = [
          store.append(roomMsg('u1', 'p1', 'lobby')),
          store.append(roomMsg('u1', 'p2', 'lobby')),
        ];
        await store.close();
        const results = await Promise.all(pending);
        expect(results.map((r) => r.message.id)).toEqual([1, 2]);

        const reopened = await openStore();
        expect(
          (await reopened.history({ room: 'lobby' }, undefined, 10)).map((m) => m.clientId),
        ).toEqual(['p1', 'p2']);
      });

      it('close() is idempotent', async () => {
        const store = await openStore();
        expect(store.ready()).toBe(true);
        await Promise.all([store.close(), store.close()]);
        await store.close();
        expect(store.ready()).toBe(false);
      });

      it('lastId is 0 for an empty store', async () => {
        expect(await (await openStore()).lastId()).toBe(0);
      });
    });
  });
}
