import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/server/store/SqliteStore.js';
import { roomMsg } from '../contract/messageStore.contract.js';

let dir: string;
let path: string;
let store: SqliteStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'parley-batch-'));
  path = join(dir, 'parley.db');
  store = new SqliteStore({ path, synchronous: 'normal' });
  // A second connection makes inserts of the text "boom" fail, as a constraint or a full disk
  // would fail one statement.
  const db = new Database(path);
  db.exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.text = 'boom'
           BEGIN SELECT RAISE(ABORT, 'refused'); END`);
  db.close();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteStore group commit', () => {
  it('commits appends made in the same turn together, ids in the order of the appends', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.append(roomMsg('u1', `c${i}`, 'lobby', `m${i}`))),
    );
    expect(results.map((r) => r.message.clientId)).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
    const ids = results.map((r) => r.message.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(20);
  });

  it('refuses only the message that fails; the rest of its batch is stored, in order', async () => {
    const settled = await Promise.allSettled([
      store.append(roomMsg('u1', 'a', 'lobby', 'first')),
      store.append(roomMsg('u1', 'b', 'lobby', 'boom')),
      store.append(roomMsg('u1', 'c', 'lobby', 'third')),
      store.append(roomMsg('u1', 'd', 'lobby', 'fourth')),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const history = await store.history({ room: 'lobby' }, undefined, 10);
    expect(history.map((m) => m.text)).toEqual(['first', 'third', 'fourth']);
    const ids = history.map((m) => m.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it('refuses a batch of one that fails, and goes on storing after it', async () => {
    await expect(store.append(roomMsg('u1', 'x', 'lobby', 'boom'))).rejects.toThrow('refused');
    const ok = await store.append(roomMsg('u1', 'y', 'lobby', 'fine'));
    expect(ok.duplicate).toBe(false);
  });
});
