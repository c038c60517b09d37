import type { ImageRef } from '../../protocol/protocol.js';

/**
 * Durable chat history. The hub appends every message here before it acknowledges it, so an
 * acknowledged message survives a crash of the process. SQLite is the default implementation;
 * anything else (PostgreSQL) implements the same contract.
 */

export interface NewMessage {
  senderId: string;
  senderName: string;
  /**
   * The sender's idempotency key: (senderName case-insensitively, clientId) is stored at most once.
   * The name rather than the id, because the id changes when a user signs in again after a server
   * restart and re-sends what was not acknowledged.
   */
  clientId: string;
  /** May be empty when `image` is set. */
  text: string;
  /** The shared image the message carries (POST /api/images); absent or null for text only. */
  image?: ImageRef | null;
  /** Exactly one of room and to is set. */
  room: string | null;
  to: string | null;
}

export interface StoredMessage extends Omit<NewMessage, 'image'> {
  id: number;
  ts: number;
  /** Present only on messages that carry an image. */
  image?: ImageRef;
}

export interface AppendResult {
  message: StoredMessage;
  /** True when (senderName, clientId) was already stored; `message` is the stored original. */
  duplicate: boolean;
}

export type Conversation = { room: string } | { userA: string; userB: string };

export interface MissedQuery {
  rooms: readonly string[];
  userId: string;
  afterId: number;
  limit: number;
}

export interface MessageStore {
  /** Stores a message durably (or finds its earlier copy) and resolves only then. */
  append(message: NewMessage): Promise<AppendResult>;
  /** Up to `limit` messages of a conversation older than `before` (all when undefined), oldest first. */
  history(conversation: Conversation, before: number | undefined, limit: number): Promise<StoredMessage[]>;
  /** Messages after `afterId` in the given rooms or to/from the user directly, oldest first. */
  missed(query: MissedQuery): Promise<StoredMessage[]>;
  /** The newest message id (0 when empty). */
  lastId(): Promise<number>;
  /** Can the store take writes? Used by /readyz. */
  ready(): boolean;
  /** Finishes pending writes and releases the store. Idempotent. */
  close(): Promise<void>;
}
