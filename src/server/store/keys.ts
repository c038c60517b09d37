/**
 * What every MessageStore implementation shares: the keys, so SQLite and PostgreSQL agree on what
 * counts as the same sender and the same conversation, and the row layout of the messages table.
 */
import type { StoredMessage } from './MessageStore.js';

/**
 * Whose clientIds these are, for de-duplication. The display name, not the session id: a user id
 * lasts one session, but after a server restart the web app signs in again under the same name and
 * re-sends what it never saw acknowledged, and that must not be stored twice.
 */
export function senderKey(name: string): string {
  return name.toLowerCase();
}

/** The conversation key of the direct messages between two users, the same both ways round. */
export function dmKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** A row of the messages table as a driver returns it (PostgreSQL gives BIGINT as strings). */
export interface MessageRow {
  id: number | string;
  ts: number | string;
  sender_id: string;
  sender_name: string;
  client_id: string;
  text: string;
  room: string | null;
  recipient: string | null;
  image_id: string | null;
  image_width: number | null;
  image_height: number | null;
}

/** A row as a StoredMessage; `decode` undoes whatever escaping the store applied to user text. */
export function rowToMessage(row: MessageRow, decode: (s: string) => string = (s) => s): StoredMessage {
  return {
    ...(row.image_id !== null
      ? { image: { id: row.image_id, width: row.image_width ?? 0, height: row.image_height ?? 0 } }
      : {}),
    id: Number(row.id),
    ts: Number(row.ts),
    senderId: decode(row.sender_id),
    senderName: decode(row.sender_name),
    clientId: decode(row.client_id),
    text: decode(row.text),
    room: row.room === null ? null : decode(row.room),
    to: row.recipient === null ? null : decode(row.recipient),
  };
}
