/**
 * Keys shared by every MessageStore implementation, so SQLite and PostgreSQL agree on what counts
 * as the same sender and the same conversation.
 */

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
