import pg from 'pg';
import { dmKey, type MessageRow, rowToMessage, senderKey } from './keys.js';
import type {
  AppendResult,
  Conversation,
  MessageStore,
  MissedQuery,
  NewMessage,
  StoredMessage,
} from './MessageStore.js';

/**
 * Schema migrations, applied in order; the schema_migrations table records which have run. Append
 * new ones, never edit a released one. The same schema as SqliteStore's, in PostgreSQL's words.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     ts          BIGINT NOT NULL,
     sender_id   TEXT   NOT NULL,
     sender_name TEXT   NOT NULL,
     sender_key  TEXT   NOT NULL,
     client_id   TEXT   NOT NULL,
     text        TEXT   NOT NULL,
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
  `ALTER TABLE messages
     ADD COLUMN image_id     TEXT,
     ADD COLUMN image_width  INTEGER,
     ADD COLUMN image_height INTEGER;`,
];

/**
 * Key of the advisory lock held while migrating, so that instances starting at once migrate one
 * after the other (the second finds the work done). Any fixed 64-bit number; this one is
 * "parley" in ASCII.
 */
const MIGRATION_LOCK = '112568629176697';

/** Rows per INSERT; a bigger backlog goes in several statements, one after the other. */
const DEFAULT_MAX_BATCH = 1000;

/**
 * PostgreSQL's text type cannot hold U+0000, which chat text and client ids may contain (the
 * protocol allows any well-formed Unicode, and SQLite stores it). So user text is escaped on the
 * way in, reversibly and injectively: U+0001 is the escape character, U+0000 becomes U+0001 "0",
 * U+0001 becomes U+0001 "1". Any other text is stored as it is.
 */
/* eslint-disable no-control-regex -- U+0000 and U+0001 are exactly what these look for. */
function escapeText(s: string): string {
  return /[\u0000\u0001]/.test(s)
    ? s.replace(/[\u0000\u0001]/g, (c) => (c === '\u0000' ? '\u00010' : '\u00011'))
    : s;
}

function unescapeText(s: string): string {
  return s.includes('\u0001')
    ? s.replace(/\u0001([01])/g, (_, d) => (d === '0' ? '\u0000' : '\u0001'))
    : s;
}
/* eslint-enable no-control-regex */

interface Row extends MessageRow {
  /** BIGINT columns arrive as strings. */
  id: string;
  ts: string;
  sender_key: string;
}

function toMessage(row: Row): StoredMessage {
  return rowToMessage(row, unescapeText);
}

/** The (sender key, client id) pair as stored, as one Map key. */
function dedupKey(storedSenderKey: string, storedClientId: string): string {
  return JSON.stringify([storedSenderKey, storedClientId]);
}

/**
 * Errors that say the database cannot be reached (rather than that a statement was wrong): they
 * make the store not ready until a health check succeeds again.
 */
function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return true; // Node network errors carry a code; timeouts none.
  // SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P (shutdown).
  return /^(08|53|57P)/.test(code) || /^E[A-Z]+$/.test(code);
}

interface Pending {
  message: NewMessage;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (libpq connection string). */
  connectionString: string;
  /** Connections in the pool. */
  poolSize?: number;
  /** How often ready() is re-checked with a trivial query. */
  healthCheckMs?: number;
  /** Most rows written by one INSERT. */
  maxBatch?: number;
  now?: () => number;
}

/**
 * MessageStore on PostgreSQL, for several Parley instances sharing one history.
 *
 * Appends are group-committed: one INSERT (one transaction, one WAL flush) at a time carries every
 * append that arrived while the previous one was in flight, and each caller's promise resolves only
 * after that INSERT has committed. One write at a time also keeps ids in the order of the appends.
 * Duplicates are left to the unique index (INSERT … ON CONFLICT DO NOTHING), so they are caught
 * across instances too; the stored original is then read back.
 *
 * The constructor starts the migrations; every operation waits for them. `open()` waits too, and
 * rejects when the database cannot be reached or migrated.
 */
export class PostgresStore implements MessageStore {
  readonly #pool: pg.Pool;
  readonly #now: () => number;
  readonly #maxBatch: number;
  readonly #migrated: Promise<void>;
  #migrationDone = false;
  #healthy = true;
  #pending: Pending[] = [];
  #writer: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  readonly #healthTimer: NodeJS.Timeout;
  #probing = false;

  constructor(options: PostgresStoreOptions) {
    this.#now = options.now ?? Date.now;
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'parley',
    });
    // An idle connection that breaks (server restart, network) is reported here; without a
    // listener it would crash the process.
    this.#pool.on('error', () => {
      this.#healthy = false;
    });
    this.#migrated = this.#migrate().then(() => {
      this.#migrationDone = true;
    });
    // Callers learn of a failed migration from open() or their operation; not from the process.
    this.#migrated.catch(() => undefined);
    this.#healthTimer = setInterval(() => {
      void this.#probe();
    }, options.healthCheckMs ?? 5000);
    this.#healthTimer.unref();
  }

  /** Connects, migrates, and resolves with the store ready for use. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(options);
    try {
      await store.migrated();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Resolves once the schema is current; rejects if migrating failed. */
  migrated(): Promise<void> {
    return this.#migrated;
  }

  async #migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      try {
        // Held until COMMIT: a second instance starting now waits here, then sees the work done.
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await client.query(
          `CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
           )`,
        );
        const { rows } = await client.query<{ version: number }>(
          'SELECT COALESCE(MAX(version), 0)::int AS version FROM schema_migrations',
        );
        const version = rows[0]?.version ?? 0;
        if (version > MIGRATIONS.length) {
          throw new Error(
            `database schema version ${version} is newer than this Parley ` +
              `(${MIGRATIONS.length}); upgrade Parley`,
          );
        }
        for (let i = version; i < MIGRATIONS.length; i++) {
          await client.query(MIGRATIONS[i]!);
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      client.release();
    }
  }

  async #probe(): Promise<void> {
    if (this.#probing || this.#closing) return;
    this.#probing = true;
    try {
      await this.#pool.query('SELECT 1');
      this.#healthy = true;
    } catch {
      this.#healthy = false;
    } finally {
      this.#probing = false;
    }
  }

  /** Runs a query, keeping #healthy in step with what it learns about the connection. */
  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    try {
      const result = await this.#pool.query<R>(text, values);
      this.#healthy = true;
      return result.rows;
    } catch (error) {
      if (isConnectionError(error)) this.#healthy = false;
      throw error;
    }
  }

  append(message: NewMessage): Promise<AppendResult> {
    if (this.#closing) return Promise.reject(new Error('store is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ message, resolve, reject });
      // Wait for the end of this tick so a burst goes into one INSERT.
      this.#writer ??= new Promise<void>((r) => setImmediate(r)).then(() => this.#drain());
    });
  }

  /** Writes the queue in batches, one INSERT at a time, until it is empty. */
  async #drain(): Promise<void> {
    try {
      try {
        await this.#migrated;
      } catch (error) {
        for (const p of this.#pending.splice(0)) p.reject(error);
        return;
      }
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxBatch);
        await this.#writeBatch(batch);
      }
    } finally {
      this.#writer = null;
    }
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    let results: AppendResult[];
    try {
      results = await this.#commit(batch.map((p) => p.message));
    } catch (error) {
      if (batch.length > 1 && !isConnectionError(error)) {
        // One bad row must not fail the others: write them one by one to find it.
        for (const p of batch) await this.#writeBatch([p]);
        return;
      }
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      p.resolve(results[i]!);
    });
  }

  /** Inserts the messages in one statement (ids in order) and returns each one's result. */
  async #commit(messages: readonly NewMessage[]): Promise<AppendResult[]> {
    const ts = this.#now();
    const keys = messages.map((m) =>
      dedupKey(escapeText(senderKey(m.senderName)), escapeText(m.clientId)),
    );
    // Only the first of several appends with the same key in this batch is inserted; the others
    // are its duplicates, as they would be in separate batches.
    const firsts = messages.filter((_, i) => keys.indexOf(keys[i]!) === i);
    const column = (f: (m: NewMessage) => string | null) =>
      firsts.map((m) => {
        const v = f(m);
        return v === null ? null : escapeText(v);
      });
    const inserted = await this.#query<Row>(
      `INSERT INTO messages
         (ts, sender_id, sender_name, sender_key, client_id, text, room, recipient, dm_key,
          image_id, image_width, image_height)
       SELECT $1::bigint, sender_id, sender_name, sender_key, client_id, text, room, recipient, dm_key,
              image_id, image_width, image_height
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                   $6::text[], $7::text[], $8::text[], $9::text[],
                   $10::text[], $11::int[], $12::int[])
            WITH ORDINALITY
            AS t (sender_id, sender_name, sender_key, client_id, text, room, recipient, dm_key,
                  image_id, image_width, image_height, n)
       ORDER BY n
       ON CONFLICT (sender_key, client_id) DO NOTHING
       RETURNING *`,
      [
        ts,
        column((m) => m.senderId),
        column((m) => m.senderName),
        column((m) => senderKey(m.senderName)),
        column((m) => m.clientId),
        column((m) => m.text),
        column((m) => m.room),
        column((m) => m.to),
        column((m) => (m.to === null ? null : dmKey(m.senderId, m.to))),
        // Image ids are server-minted base64url: nothing to escape.
        firsts.map((m) => m.image?.id ?? null),
        firsts.map((m) => m.image?.width ?? null),
        firsts.map((m) => m.image?.height ?? null),
      ],
    );
    const fresh = new Map(inserted.map((row) => [dedupKey(row.sender_key, row.client_id), row]));
    const missing = [...new Set(keys.filter((k) => !fresh.has(k)))];
    const earlier = new Map<string, Row>();
    if (missing.length > 0) {
      const pairs = missing.map((k) => JSON.parse(k) as [string, string]);
      const rows = await this.#query<Row>(
        `SELECT m.* FROM messages m
         JOIN unnest($1::text[], $2::text[]) AS k (sender_key, client_id)
           ON m.sender_key = k.sender_key AND m.client_id = k.client_id`,
        [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      );
      for (const row of rows) earlier.set(dedupKey(row.sender_key, row.client_id), row);
    }
    const claimed = new Set<string>();
    return keys.map((key) => {
      const row = fresh.get(key);
      if (row && !claimed.has(key)) {
        claimed.add(key);
        return { message: toMessage(row), duplicate: false };
      }
      const original = row ?? earlier.get(key);
      if (!original) throw new Error('insert ignored but no earlier copy found');
      return { message: toMessage(original), duplicate: true };
    });
  }

  async history(
    conversation: Conversation,
    before: number | undefined,
    limit: number,
  ): Promise<StoredMessage[]> {
    await this.#migrated;
    const beforeId = before ?? Number.MAX_SAFE_INTEGER;
    const rows =
      'room' in conversation
        ? await this.#query<Row>(
            'SELECT * FROM messages WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3',
            [escapeText(conversation.room), beforeId, limit],
          )
        : await this.#query<Row>(
            'SELECT * FROM messages WHERE dm_key = $1 AND id < $2 ORDER BY id DESC LIMIT $3',
            [escapeText(dmKey(conversation.userA, conversation.userB)), beforeId, limit],
          );
    return rows.reverse().map(toMessage);
  }

  async missed(query: MissedQuery): Promise<StoredMessage[]> {
    await this.#migrated;
    const user = escapeText(query.userId);
    const rows = await this.#query<Row>(
      `SELECT * FROM messages
       WHERE id > $1
         AND (room = ANY($2::text[])
              OR recipient = $3 OR (recipient IS NOT NULL AND sender_id = $3))
       ORDER BY id ASC LIMIT $4`,
      [query.afterId, query.rooms.map(escapeText), user, query.limit],
    );
    return rows.map(toMessage);
  }

  async lastId(): Promise<number> {
    await this.#migrated;
    const rows = await this.#query<{ id: string | null }>('SELECT MAX(id) AS id FROM messages', []);
    return Number(rows[0]?.id ?? 0);
  }

  ready(): boolean {
    return this.#closing === null && this.#migrationDone && this.#healthy;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#healthTimer);
      // Appends already accepted are written before the pool goes.
      while (this.#writer) await this.#writer;
      await this.#migrated.catch(() => undefined);
      await this.#pool.end();
    })();
    return this.#closing;
  }
}
