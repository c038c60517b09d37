import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/protocol/protocol.js';
import { framesOf, pingPong } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';

describe('chat', () => {
  // The history test sends 250 frames at once; keep the rate limiter out of its way.
  const { signedIn, join, say } = useParleyServer({ rateLimit: 10_000, rateBurst: 10_000 });

  it('fans a room message out to every other member; the sender gets an ack instead', async () => {
    const alice = await signedIn('Alice');
    const others = [await signedIn('Bob'), await signedIn('Carol'), await signedIn('Dave')];

    const before = Date.now();
    alice.send({ type: 'chat', room: 'lobby', clientId: 'm-1', text: 'hello, all', ref: 'r1' });
    const ack = await alice.next('ack');
    expect(ack).toEqual({
      type: 'ack',
      clientId: 'm-1',
      id: expect.any(Number) as number,
      ts: expect.any(Number) as number,
      ref: 'r1',
    });
    expect(ack.ts).toBeGreaterThanOrEqual(before - 1000);
    expect(ack.ts).toBeLessThanOrEqual(Date.now() + 1000);

    for (const other of others) {
      const { message } = await other.next('message');
      expect(message).toEqual({
        id: ack.id,
        ts: ack.ts,
        room: 'lobby',
        from: { id: alice.user!.id, name: 'Alice' },
        text: 'hello, all',
        clientId: 'm-1',
      });
    }
    await pingPong(alice);
    expect(framesOf(alice, 'message')).toHaveLength(0);
    for (const other of others) expect(framesOf(other, 'message')).toHaveLength(1);
  });

  it('delivers only to the members of the room, and keeps each sender’s order', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const carol = await signedIn('Carol');
    await join(alice, 'dev');
    await join(bob, 'dev');

    for (let i = 0; i < 20; i++)
      alice.send({ type: 'chat', room: 'dev', clientId: `d${i}`, text: `dev ${i}` });
    await alice.next('ack', (m) => m.clientId === 'd19');
    await bob.next('message', (m) => m.message.clientId === 'd19');
    const texts = framesOf(bob, 'message').map((m) => m.message.text);
    expect(texts).toEqual(Array.from({ length: 20 }, (_, i) => `dev ${i}`));
    const ids = framesOf(bob, 'message').map((m) => m.message.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);

    await pingPong(carol);
    expect(framesOf(carol, 'message')).toHaveLength(0);
  });

  it('relays text verbatim, markup included (rendering it as text is the client’s job)', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const text = '<img src=x onerror=alert(1)> & "quotes" \u{1F600}\nline two';
    alice.send({ type: 'chat', room: 'lobby', clientId: 'x', text });
    expect((await bob.next('message')).message.text).toBe(text);
  });

  it('refuses chat to a room the sender is not in, with not_in_room', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    await join(bob, 'secret');
    alice.send({ type: 'chat', room: 'secret', clientId: 'x', text: 'let me in', ref: 'nr' });
    expect((await alice.error('not_in_room')).ref).toBe('nr');
    await pingPong(bob);
    expect(framesOf(bob, 'message')).toHaveLength(0);
  });

  it('sends a direct message to its recipient only', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const carol = await signedIn('Carol');

    alice.send({ type: 'dm', to: bob.user!.id, clientId: 'dm-1', text: 'psst', ref: 'd' });
    const ack = await alice.next('ack');
    expect(ack.ref).toBe('d');
    const { message } = await bob.next('message');
    expect(message).toEqual({
      id: ack.id,
      ts: ack.ts,
      to: bob.user!.id,
      from: { id: alice.user!.id, name: 'Alice' },
      text: 'psst',
      clientId: 'dm-1',
    });
    expect('room' in message).toBe(false);

    await pingPong(carol);
    await pingPong(alice);
    expect(framesOf(carol, 'message')).toHaveLength(0);
    expect(framesOf(alice, 'message')).toHaveLength(0);

    // Both sides can read the conversation back, and nobody else's history has it.
    alice.send({ type: 'history', peer: bob.user!.id, ref: 'h' });
    const h = await alice.next('history');
    expect(h.peer).toBe(bob.user!.id);
    expect(h.room).toBeNull();
    expect(h.messages.map((m) => m.text)).toEqual(['psst']);
    bob.send({ type: 'history', peer: alice.user!.id });
    expect((await bob.next('history')).messages.map((m) => m.text)).toEqual(['psst']);
    carol.send({ type: 'history', peer: bob.user!.id });
    expect((await carol.next('history')).messages).toEqual([]);
    alice.send({ type: 'history', room: 'lobby', ref: 'hl' });
    expect((await alice.next('history', (m) => m.ref === 'hl')).messages).toEqual([]);
  });

  it('refuses a direct message to a user who shares no room, or who does not exist', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    bob.send({ type: 'leave', room: 'lobby' });
    await bob.next('roomLeft');
    await alice.next('members', (m) => m.left.includes(bob.user!.id));

    alice.send({ type: 'dm', to: bob.user!.id, clientId: 'a', text: 'hello?', ref: 'x1' });
    expect((await alice.error('user_not_found')).ref).toBe('x1');
    const from = alice.mark();
    alice.send({ type: 'dm', to: 'u-nobody', clientId: 'b', text: 'hello?', ref: 'x2' });
    expect((await alice.error('user_not_found', from)).ref).toBe('x2');
    await pingPong(bob);
    expect(framesOf(bob, 'message')).toHaveLength(0);

    // Once they share a room again the message goes through.
    await join(bob, 'lobby');
    alice.send({ type: 'dm', to: bob.user!.id, clientId: 'c', text: 'there you are' });
    expect((await bob.next('message')).message.text).toBe('there you are');
  });

  it('treats a repeated clientId as the same message: same ack id, delivered once', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const carol = await signedIn('Carol');

    const first = await say(alice, 'lobby', 'same', 'once');
    const second = await say(alice, 'lobby', 'same', 'once');
    // Even a re-send with different text (a client bug) does not make a second message.
    const third = await say(alice, 'lobby', 'same', 'changed');
    expect(second.id).toBe(first.id);
    expect(third.id).toBe(first.id);
    expect(second.ts).toBe(first.ts);

    // A direct message re-sent is also deduplicated.
    const dm1 = alice.mark();
    alice.send({ type: 'dm', to: bob.user!.id, clientId: 'dm-same', text: 'dm' });
    alice.send({ type: 'dm', to: bob.user!.id, clientId: 'dm-same', text: 'dm' });
    // Frames are answered in order, so the pong comes after both acks.
    await pingPong(alice);
    const dmAcks = framesOf(alice, 'ack', dm1).filter((m) => m.clientId === 'dm-same');
    expect(dmAcks).toHaveLength(2);
    expect(dmAcks[0]!.id).toBe(dmAcks[1]!.id);

    // Another sender may use the same clientId: ids are per sender.
    const bobs = await say(bob, 'lobby', 'same', 'mine');
    expect(bobs.id).not.toBe(first.id);

    await pingPong(bob);
    await pingPong(carol);
    expect(framesOf(bob, 'message').map((m) => m.message.text)).toEqual(['once', 'dm']);
    expect(framesOf(carol, 'message').map((m) => m.message.text)).toEqual(['once', 'mine']);

    bob.send({ type: 'history', room: 'lobby' });
    expect((await bob.next('history')).messages.map((m) => m.text)).toEqual(['once', 'mine']);
  });

  it('pages through 250 messages of history, newest page first, oldest first within a page', async () => {
    const alice = await signedIn('Alice');
    await join(alice, 'hist');
    for (let i = 0; i < 250; i++) {
      alice.send({ type: 'chat', room: 'hist', clientId: `h${i}`, text: `m${i}` });
    }
    const acks = new Map<string, number>();
    await alice.next('ack', (m) => m.clientId === 'h249', 10_000);
    for (const a of framesOf(alice, 'ack')) acks.set(a.clientId, a.id);
    expect(acks.size).toBe(250);

    // A newcomer reads it all back.
    const bob = await signedIn('Bob');
    await join(bob, 'hist');
    const page = async (before?: number, limit?: number) => {
      const from = bob.mark();
      bob.send({
        type: 'history',
        room: 'hist',
        ...(before === undefined ? {} : { before }),
        ...(limit === undefined ? {} : { limit }),
        ref: 'pg',
      });
      return bob.next('history', () => true, 5000, from);
    };

    const p1 = await page(undefined, 100);
    expect(p1.room).toBe('hist');
    expect(p1.peer).toBeNull();
    expect(p1.ref).toBe('pg');
    expect(p1.hasMore).toBe(true);
    expect(p1.messages.map((m) => m.text)).toEqual(range(150, 250).map((i) => `m${i}`));
    const p2 = await page(p1.messages[0]!.id, 100);
    expect(p2.hasMore).toBe(true);
    expect(p2.messages.map((m) => m.text)).toEqual(range(50, 150).map((i) => `m${i}`));
    const p3 = await page(p2.messages[0]!.id, 100);
    expect(p3.hasMore).toBe(false);
    expect(p3.messages.map((m) => m.text)).toEqual(range(0, 50).map((i) => `m${i}`));

    const all: ChatMessage[] = [...p3.messages, ...p2.messages, ...p1.messages];
    for (const m of all) {
      expect(m).toMatchObject({ room: 'hist', from: { id: alice.user!.id, name: 'Alice' } });
      expect(m.id).toBe(acks.get(m.clientId));
    }
    expect(new Set(all.map((m) => m.id)).size).toBe(250);

    // The default page is 50; a page that ends exactly at the start says hasMore: false.
    const byDefault = await page();
    expect(byDefault.messages.map((m) => m.text)).toEqual(range(200, 250).map((i) => `m${i}`));
    expect(byDefault.hasMore).toBe(true);
    const exact = await page(all[50]!.id, 50);
    expect(exact.messages.map((m) => m.text)).toEqual(range(0, 50).map((i) => `m${i}`));
    expect(exact.hasMore).toBe(false);
    const empty = await page(all[0]!.id, 10);
    expect(empty.messages).toEqual([]);
    expect(empty.hasMore).toBe(false);

    // limit is capped at 100 by the schema; 0 is out of range too.
    for (const limit of [101, 0, 1.5]) {
      const from = bob.mark();
      bob.sendJson({ type: 'history', room: 'hist', limit, ref: `lim${limit}` });
      expect((await bob.error('bad_frame', from)).ref).toBe(`lim${limit}`);
    }
    // Exactly one of room and peer.
    const from = bob.mark();
    bob.sendJson({ type: 'history', room: 'hist', peer: alice.user!.id, ref: 'both' });
    bob.sendJson({ type: 'history', ref: 'neither' });
    expect((await bob.next('error', (m) => m.ref === 'both', 5000, from)).code).toBe('bad_frame');
    expect((await bob.next('error', (m) => m.ref === 'neither', 5000, from)).code).toBe(
      'bad_frame',
    );
    // A room one is not in cannot be read.
    bob.send({ type: 'history', room: 'elsewhere', ref: 'ns' });
    expect((await bob.next('error', (m) => m.ref === 'ns', 5000, from)).code).toBe('not_in_room');
    await pingPong(bob);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
