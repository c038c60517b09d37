/**
 * Small helpers shared by the integration tests (test/integration): liveness checks and waits on
 * server-side state that a client cannot observe directly.
 */
import { expect } from 'vitest';
import type { Member, ServerMessage } from '../../src/protocol/protocol.js';
import type { ParleyClient, TestServer } from './parley.js';

let pingSeq = 0;

/** Proves the connection still works: a ping with a fresh ref is answered by its pong. */
export async function pingPong(c: ParleyClient): Promise<void> {
  const ref = `ping-${++pingSeq}`;
  const from = c.mark();
  c.send({ type: 'ping', ref });
  const pong = await c.next('pong', (m) => m.ref === ref, 5000, from);
  expect(pong.ts).toBeTypeOf('number');
  expect(c.closed).toBeNull();
}

/** Polls `check` until it holds; for server state that no frame announces. */
export async function until(
  check: () => boolean,
  timeoutMs = 5000,
  what = 'a condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Closes a client's socket and waits until the server has detached its session (so the grace
 * period runs and nothing more is delivered to the old socket).
 */
export async function dropAndWaitDetached(t: TestServer, c: ParleyClient): Promise<void> {
  const id = c.user?.id;
  if (id === undefined) throw new Error('client is not signed in');
  c.close();
  await c.waitClose();
  await until(() => t.server.hub.findById(id)?.state !== 'live', 5000, `${id} to detach`);
}

/** The frames of one type a client has received so far. */
export function framesOf<K extends ServerMessage['type']>(
  c: ParleyClient,
  type: K,
  from = 0,
): Extract<ServerMessage, { type: K }>[] {
  return c.received
    .slice(from)
    .filter((m): m is Extract<ServerMessage, { type: K }> => m.type === type);
}

type MembersDelta = Extract<ServerMessage, { type: 'members' }>;

function deltasOf(c: ParleyClient, room: string | undefined, from: number): MembersDelta[] {
  return framesOf(c, 'members', from).filter((m) => room === undefined || m.room === room);
}

/** Members that joined, over every coalesced `members` frame a client got (in a room, from a mark). */
export function joinedOf(c: ParleyClient, room?: string, from = 0): Member[] {
  return deltasOf(c, room, from).flatMap((m) => m.joined);
}

/** Ids of members that left, over every `members` frame a client got. */
export function leftOf(c: ParleyClient, room?: string, from = 0): string[] {
  return deltasOf(c, room, from).flatMap((m) => m.left);
}

/** Members whose presence changed, over every `members` frame a client got. */
export function changedOf(c: ParleyClient, room?: string, from = 0): Member[] {
  return deltasOf(c, room, from).flatMap((m) => m.changed);
}

/** Closes every client that is still open (afterEach). */
export function closeAll(clients: ParleyClient[]): void {
  for (const c of clients.splice(0)) {
    if (c.closed === null) c.ws.terminate();
  }
}
