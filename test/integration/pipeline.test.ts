/**
 * Chat frames are pipelined per connection (ParleyConnection.handle): a burst enters the store
 * together and shares a group commit. These tests hold the guarantees a client sees to what they
 * were when frames were handled one at a time: stored in the order sent, replies in the order of
 * the frames, other frames never overtaking a chat, a bound on what is in flight, and nothing
 * lost when the store fails for one message.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../src/protocol/protocol.js';
import { buildServer } from '../../src/server/app.js';
import { defaults } from '../../src/server/config.js';
import type { AppendResult, NewMessage } from '../../src/server/store/MessageStore.js';
import { SqliteStore } from '../../src/server/store/SqliteStore.js';
import { PIPELINE_MAX } from '../../src/server/transport/ParleyConnection.js';
import { closeAll, framesOf, pingPong } from '../helpers/integration.js';
import { ParleyClient } from '../helpers/parley.js';

/** A SqliteStore that can refuse chosen messages, count appends in flight, and hold commits. */
class TestStore extends SqliteStore {
  /** Messages with this text are refused, as a failing disk would refuse them. */
  failText: string | null = null;
  inFlight = 0;
  maxInFlight = 0;
  appended: string[] = [];
  #gate: Promise<void> | null = null;
  #open: (() => void) | null = null;

  /** Appends wait until release() is called. */
  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#open?.();
    this.#gate = null;
  }

  override async append(message: NewMessage): Promise<AppendResult> {
    this.appended.push(message.clientId);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (message.text === this.failText) {
        // Fails after the messages appended beside it have committed, so their acks come first
        // and must wait for this one's error.
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error('disk on fire');
      }
      const result = super.append(message);
      if (this.#gate) await this.#gate;
      return await result;
    } finally {
      this.inFlight--;
    }
  }
}

type Reply = Extract<ServerMessage, { type: 'ack' | 'error' }>;

/** The acks and errors a client received, as `ack:<clientId>` or `error:<code>:<ref>`. */
function replies(c: ParleyClient, from = 0): string[] {
  return c.received
    .slice(from)
    .filter((m): m is Reply => m.type === 'ack' || m.type === 'error')
    .map((m) => (m.type === 'ack' ? `ack:${m.clientId}` : `error:${m.code}:${m.ref}`));
}

describe('chat pipelining', () => {
  let dir = '';
  let store: TestStore;
  let server: ReturnType<typeof buildServer> | null = null;
  let url = '';
  const clients: ParleyClient[] = [];

  async function start(): Promise<void> {
    dir = mkdtempSync(join(tmpdir(), 'parley-pipeline-'));
    store = new TestStore({ path: join(dir, 'parley.db'), synchronous: 'normal' });
    server = buildServer(
      {
        ...defaults,
        host: '127.0.0.1',
        port: 0,
        legacyChatPort: 0,
        legacyLoginPort: 0,
        dbPath: join(dir, 'unused.db'),
        imagesDir: join(dir, 'images'),
        webRoot: join(dir, 'no-web-app'),
        logLevel: 'silent',
        rateLimit: 10_000,
        rateBurst: 10_000,
      },
      { logger: pino({ level: 'silent' }), store },
    );
    const ports = await server.listen();
    url = `ws://127.0.0.1:${ports.port}/ws`;
  }

  async function signedIn(name: string): Promise<ParleyClient> {
    const c = new ParleyClient(url);
    clients.push(c);
    await c.hello(name);
    await c.next('roomJoined', (m) => m.room === 'lobby');
    return c;
  }

  afterEach(async () => {
    closeAll(clients.splice(0));
    await server?.close();
    server = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a burst together, acks it in order with increasing ids, delivers it in order', async () => {
    await start();
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const n = PIPELINE_MAX + 8;
    for (let i = 0; i < n; i++) {
      alice.send({ type: 'chat', room: 'lobby', clientId: `c${i}`, text: `message ${i}`, ref: `r${i}` });
    }
    await alice.next('ack', (m) => m.clientId === `c${n - 1}`);
    await bob.next('message', (m) => m.message.clientId === `c${n - 1}`);

    const acks = framesOf(alice, 'ack');
    expect(acks.map((a) => a.clientId)).toEqual(Array.from({ length: n }, (_, i) => `c${i}`));
    expect(acks.map((a) => a.ref)).toEqual(Array.from({ length: n }, (_, i) => `r${i}`));
    const ids = acks.map((a) => a.id);
    for (let i = 1; i < n; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]!);
    const delivered = framesOf(bob, 'message').map((m) => m.message);
    expect(delivered.map((m) => m.text)).toEqual(Array.from({ length: n }, (_, i) => `message ${i}`));
    expect(delivered.map((m) => m.id)).toEqual(ids);
    // The frames entered the store together (one group commit), not one after another...
    expect(store.maxInFlight).toBeGreaterThan(1);
    // ...but never more than the bound.
    expect(store.maxInFlight).toBeLessThanOrEqual(PIPELINE_MAX);
    expect(store.appended).toEqual(Array.from({ length: n }, (_, i) => `c${i}`));
  });

  it('answers errors in the middle of a burst in the order of the frames', async () => {
    await start();
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const from = alice.mark();
    for (let i = 0; i < 10; i++) {
      if (i === 3) {
        // Invalid: refused by validation before the hub sees it.
        alice.send({ type: 'chat', room: 'lobby', clientId: `c${i}`, text: '   ', ref: `r${i}` });
      } else if (i === 6) {
        // Valid, but refused by the hub at once, while earlier frames wait for their commit.
        alice.send({ type: 'chat', room: 'elsewhere', clientId: `c${i}`, text: 'x', ref: `r${i}` });
      } else if (i === 8) {
        alice.sendJson({ type: 'chat', room: 'lobby' });
      } else {
        alice.send({ type: 'chat', room: 'lobby', clientId: `c${i}`, text: `m${i}`, ref: `r${i}` });
      }
    }
    await alice.next('ack', (m) => m.clientId === 'c9');
    expect(replies(alice, from)).toEqual([
      'ack:c0',
      'ack:c1',
      'ack:c2',
      'error:bad_frame:r3',
      'ack:c4',
      'ack:c5',
      'error:not_in_room:r6',
      'ack:c7',
      'error:bad_frame:null',
      'ack:c9',
    ]);
    await bob.next('message', (m) => m.message.clientId === 'c9');
    expect(framesOf(bob, 'message').map((m) => m.message.clientId)).toEqual([
      'c0',
      'c1',
      'c2',
      'c4',
      'c5',
      'c7',
      'c9',
    ]);
  });

  it('loses nothing when the store fails for one message of a burst', async () => {
    await start();
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    store.failText = 'm4';
    const from = alice.mark();
    for (let i = 0; i < 8; i++) {
      alice.send({ type: 'chat', room: 'lobby', clientId: `c${i}`, text: `m${i}`, ref: `r${i}` });
    }
    await alice.next('ack', (m) => m.clientId === 'c7');
    expect(replies(alice, from)).toEqual([
      'ack:c0',
      'ack:c1',
      'ack:c2',
      'ack:c3',
      'error:internal:r4',
      'ack:c5',
      'ack:c6',
      'ack:c7',
    ]);
    await bob.next('message', (m) => m.message.clientId === 'c7');
    expect(framesOf(bob, 'message').map((m) => m.message.clientId)).toEqual([
      'c0',
      'c1',
      'c2',
      'c3',
      'c5',
      'c6',
      'c7',
    ]);
    // The refused message can be sent again and is stored then.
    store.failText = null;
    alice.send({ type: 'chat', room: 'lobby', clientId: 'c4', text: 'm4', ref: 'again' });
    expect((await alice.next('ack', (m) => m.ref === 'again')).clientId).toBe('c4');
    await pingPong(alice);
  });

  it('lets no later non-chat frame overtake the chats before it', async () => {
    await start();
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    alice.send({ type: 'join', room: 'dev' });
    await alice.next('roomJoined', (m) => m.room === 'dev');
    bob.send({ type: 'join', room: 'dev' });
    await bob.next('roomJoined', (m) => m.room === 'dev');
    store.hold();
    const from = alice.mark();
    for (let i = 0; i < 5; i++) alice.send({ type: 'chat', room: 'dev', clientId: `a${i}`, text: `a${i}` });
    alice.send({ type: 'leave', room: 'dev', ref: 'leave' });
    alice.send({ type: 'chat', room: 'dev', clientId: 'late', text: 'after leaving', ref: 'late' });
    alice.send({ type: 'ping', ref: 'p' });
    // While the chats wait for the store, nothing behind them has been handled.
    const meanwhile = await alice.quiet(100);
    expect(meanwhile.filter((m) => m.type !== 'members')).toEqual([]);
    expect(store.appended).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    store.release();
    await alice.next('pong', (m) => m.ref === 'p', 5000, from);
    const types = alice.received
      .slice(from)
      .map((m) => (m.type === 'ack' ? `ack:${m.clientId}` : m.type === 'error' ? `error:${m.code}` : m.type))
      .filter((t) => t !== 'members');
    expect(types).toEqual([
      'ack:a0',
      'ack:a1',
      'ack:a2',
      'ack:a3',
      'ack:a4',
      'roomLeft',
      'error:not_in_room',
      'pong',
    ]);
    await pingPong(bob);
    expect(framesOf(bob, 'message').map((m) => m.message.clientId)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
  });

  it('holds at most PIPELINE_MAX chats in the store per connection; the rest wait their turn', async () => {
    await start();
    const alice = await signedIn('Alice');
    await signedIn('Bob');
    store.hold();
    const n = PIPELINE_MAX + 5;
    for (let i = 0; i < n; i++) alice.send({ type: 'chat', room: 'lobby', clientId: `c${i}`, text: `m${i}` });
    await alice.quiet(100);
    expect(store.appended).toHaveLength(PIPELINE_MAX);
    store.release();
    await alice.next('ack', (m) => m.clientId === `c${n - 1}`);
    expect(framesOf(alice, 'ack').map((a) => a.clientId)).toEqual(Array.from({ length: n }, (_, i) => `c${i}`));
    expect(store.maxInFlight).toBe(PIPELINE_MAX);
  });

  it('pipelines direct messages too, and waits for a re-send of a clientId in flight', async () => {
    await start();
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const from = alice.mark();
    const to = bob.user!.id;
    alice.send({ type: 'dm', to, clientId: 'd0', text: 'one', ref: 'x0' });
    alice.send({ type: 'chat', room: 'lobby', clientId: 'd1', text: 'two', ref: 'x1' });
    alice.send({ type: 'dm', to, clientId: 'd0', text: 'one', ref: 'x2' });
    alice.send({ type: 'dm', to: 'u-nobody', clientId: 'd3', text: 'three', ref: 'x3' });
    alice.send({ type: 'dm', to, clientId: 'd4', text: 'four', ref: 'x4' });
    await alice.next('ack', (m) => m.clientId === 'd4');
    expect(replies(alice, from)).toEqual(['ack:d0', 'ack:d1', 'ack:d0', 'error:user_not_found:x3', 'ack:d4']);
    const acks = framesOf(alice, 'ack');
    // The re-send is the same message: acknowledged with the original's id, not stored twice.
    expect(acks[2]!.id).toBe(acks[0]!.id);
    await bob.next('message', (m) => m.message.clientId === 'd4');
    expect(framesOf(bob, 'message').map((m) => m.message.clientId)).toEqual(['d0', 'd1', 'd4']);
  });
});
