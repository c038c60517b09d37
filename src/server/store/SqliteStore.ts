import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  AppendResult,
  Conversation,
  MessageStore,
  MissedQuery,
  NewMessage,
  StoredMessage,
} from './MessageStore.js';
import { dmKey, type MessageRow, rowToMessage, senderKey } from './keys.js';

export { dmKey } from './keys.js';

/**
 * Schema migrations, applied in order; PRAGMA user_version records how many have run. Append new
 * ones, never edit a released one.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     id          INTEGER PRIMARY KEY AUTOINCREMENT,
     ts          INTEGER NOT NULL,
     sender_id   TEXT    NOT NULL,
     sender_name TEXT    NOT NULL,
     sender_key  TEXT    NOT NULL,
     client_id   TEXT    NOT NULL,
     text        TEXT    NOT NULL,
     room        TEXT,
     recipient   TEXT,
     dm_key      TEXT,
     UNIQUE (sender_key, client_id)
   );
   CREATE INDEX messages_room ON messages (room, id) WHERE room IS NOT NULL;
   CREATE INDEX messages_dm ON messages (dm_key, id) WHERE dm_key IS NOT NULL;
   CREATE INDEX messages_recipient ON messages (recipient, id) WHERE recipient IS NOT NULL;
   CREATE INDEX messages_sender_dm ON messages (sender_id, id) WHERE recipient IS NOT NULL;`,
  // 2: messages may carry a shared image (its id under IMAGES_DIR, and its size in pixels).
  `ALTER TABLE messages ADD COLUMN image_id TEXT;
   ALTER TABLE messages ADD COLUMN image_width INTEGER;
   ALTER TABLE messages ADD COLUMN image_height INTEGER;`,
];

interface Row extends MessageRow {
  id: number;
  ts: number;
}

const toMessage = (row: Row): StoredMessage => rowToMessage(row);

interface Pending {
  message: NewMessage;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  /**
   * 'full' syncs the WAL on every commit, so an acknowledged message survives a power cut as well
   * as a crash; 'normal' survives a crash of the process only.
   */
  synchronous?: 'full' | 'normal';
  now?: () => number;
}

/**
 * MessageStore on a SQLite file in WAL mode.
 *
 * Appends are group-committed: every append made in the same turn of the event loop goes into one
 * transaction, so a burst of messages costs one fsync instead of one each, and each caller's
 * promise resolves only after that transaction has committed.
 */
export class SqliteStore implements MessageStore {
  readonly #db: Database.Database;
  readonly #now: () => number;
  #pending: Pending[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #insert: Database.Statement;
  readonly #findDuplicate: Database.Statement<[string, string], Row>;
  readonly #byId: Database.Statement<[number | bigint], Row>;
  readonly #commitBatch: (batch: Pending[]) => AppendResult[];

  constructor(options: SqliteStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.#db = new Database(options.path);
    this.#now = options.now ?? Date.now;
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.#db.pragma('busy_timeout = 5000');
    this.#migrate();
    this.#insert = this.#db.prepare(
      `INSERT INTO messages (ts, sender_id, sender_name, sender_key, client_id, text, room, recipient, dm_key,
                             image_id, image_width, image_height)
       VALUES (@ts, @senderId, @senderName, @senderKey, @clientId, @text, @room, @to, @dmKey,
               @imageId, @imageWidth, @imageHeight)
       ON CONFLICT (sender_key, client_id) DO NOTHING`,
    );
    this.#findDuplicate = this.#db.prepare(
      'SELECT * FROM messages WHERE sender_key = ? AND client_id = ?',
    );
    this.#byId = this.#db.prepare('SELECT * FROM messages WHERE id = ?');
    this.#commitBatch = this.#db.transaction((batch: Pending[]) =>
      batch.map(({ message }) => this.#appendOne(message)),
    );
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${version} is newer than this Parley (${MIGRATIONS.length}); upgrade Parley`,
      );
    }
    for (let i = version; i < MIGRATIONS.length; i++) {
      const sql = MIGRATIONS[i]!;
      this.#db.transaction(() => {
        this.#db.exec(sql);
        this.#db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  #appendOne(message: NewMessage): AppendResult {
    const { image, ...rest } = message;
    const info = this.#insert.run({
      ...rest,
      imageId: image?.id ?? null,
      imageWidth: image?.width ?? null,
      imageHeight: image?.height ?? null,
      ts: this.#now(),
      senderKey: senderKey(message.senderName),
      dmKey: message.to === null ? null : dmKey(message.senderId, message.to),
    });
    if (info.changes === 1) {
      return { message: toMessage(this.#byId.get(info.lastInsertRowid)!), duplicate: false };
    }
    const existing = this.#findDuplicate.get(senderKey(message.senderName), message.clientId);
    if (!existing) throw new Error('insert ignored but no earlier copy found');
    return { message: toMessage(existing), duplicate: true };
  }

  append(message: NewMessage): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ message, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => {
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    let results: AppendResult[];
    try {
      results = this.#commitBatch(batch);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad message must not take the rest of its batch down with it: the transaction was
      // rolled back, so store each again on its own, in the same order; only what fails again
      // is refused.
      for (const p of batch) {
        let result: AppendResult;
        try {
          result = this.#commitBatch([p])[0]!;
        } catch (e) {
          p.reject(e);
          continue;
        }
        p.resolve(result);
      }
      return;
    }
    batch.forEach((p, i) => {
      p.resolve(results[i]!);
    });
  }

  history(conversation: Conversation, before: number | undefined, limit: number): Promise<StoredMessage[]> {
    const beforeId = before ?? Number.MAX_SAFE_INTEGER;
    const rows =
      'room' in conversation
        ? this.#db
            .prepare<[string, number, number], Row>(
              'SELECT * FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?',
            )
            .all(conversation.room, beforeId, limit)
        : this.#db
            .prepare<[string, number, number], Row>(
              'SELECT * FROM messages WHERE dm_key = ? AND id < ? ORDER BY id DESC LIMIT ?',
            )
            .all(dmKey(conversation.userA, conversation.userB), beforeId, limit);
    return Promise.resolve(rows.reverse().map(toMessage));
  }

  missed(query: MissedQuery): Promise<StoredMessage[]> {
    const rooms = JSON.stringify(query.rooms);
    const rows = this.#db
      .prepare<[number, string, string, string, number], Row>(
        `SELECT * FROM messages
         WHERE id > ?
           AND (room IN (SELECT value FROM json_each(?))
                OR recipient = ? OR (recipient IS NOT NULL AND sender_id = ?))
         ORDER BY id ASC LIMIT ?`,
      )
      .all(query.afterId, rooms, query.userId, query.userId, query.limit);
    return Promise.resolve(rows.map(toMessage));
  }

  lastId(): Promise<number> {
    const row = this.#db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM messages').get();
    return Promise.resolve(row?.id ?? 0);
  }

  ready(): boolean {
    return !this.#closed && this.#db.open;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#flush();
    this.#closed = true;
    this.#db.close();
    return Promise.resolve();
  }
}
