import { describe, expect, it } from 'vitest';
import {
  dropAndWaitDetached,
  framesOf,
  joinedOf,
  leftOf,
  pingPong,
  until,
} from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';
import { ParleyClient } from '../helpers/parley.js';

const GRACE_MS = 400;

describe('resume', () => {
  const { t, client, signedIn, join } = useParleyServer({ graceMs: GRACE_MS });
  /** Sends room messages and waits for their acks; returns the acked ids in order. */
  const sayAll = async (c: ParleyClient, room: string, texts: string[]): Promise<number[]> => {
    const from = c.mark();
    for (const text of texts) c.send({ type: 'chat', room, clientId: `${room}:${text}`, text });
    await c.next('ack', (m) => m.clientId === `${room}:${texts.at(-1)!}`, 5000, from);
    return framesOf(c, 'ack', from).map((a) => a.id);
  };
  const resumeOn = async (token: string, since?: number) => {
    const c = client();
    const welcome = await c.resume(token, since);
    return { c, welcome };
  };

  it('within the grace period: same user, same rooms, nobody sees the user leave', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    await join(alice, 'dev');
    await join(bob, 'dev');
    const aliceId = alice.user!.id;
    const token = alice.token!;
    const bobFrom = bob.mark();

    await dropAndWaitDetached(t, alice);
    const { c: again, welcome } = await resumeOn(token);
    expect(welcome.resumed).toBe(true);
    expect(welcome.user).toEqual({ id: aliceId, name: 'Alice' });
    expect(welcome.token).toBe(token);
    expect([...welcome.rooms].sort()).toEqual(['dev', 'lobby']);
    expect(welcome.calls).toEqual([]);

    // The full member lists of every room come back.
    const lobby = await again.next('roomJoined', (m) => m.room === 'lobby');
    const dev = await again.next('roomJoined', (m) => m.room === 'dev');
    for (const r of [lobby, dev])
      expect(r.members.map((m) => m.name).sort()).toEqual(['Alice', 'Bob']);

    // Past the grace period nothing happened for Bob: no leave, no rejoin.
    await new Promise((r) => setTimeout(r, GRACE_MS + 100));
    expect(leftOf(bob, undefined, bobFrom)).toEqual([]);
    expect(joinedOf(bob, undefined, bobFrom)).toEqual([]);

    // And the session works as before.
    bob.send({ type: 'chat', room: 'dev', clientId: 'after', text: 'welcome back' });
    expect((await again.next('message')).message.text).toBe('welcome back');
    again.send({ type: 'chat', room: 'lobby', clientId: 'reply', text: 'thanks' });
    const got = await bob.next('message', (m) => m.message.clientId === 'reply');
    expect(got.message.from).toEqual({ id: aliceId, name: 'Alice' });
  });

  it('replays the messages sent while away once, in order, without since', async () => {
    const bob = await signedIn('Bob');
    // History from before Alice arrived is history, not something she missed.
    await sayAll(bob, 'lobby', ['before-1', 'before-2']);
    const alice = await signedIn('Alice');
    await join(alice, 'dev');
    await join(bob, 'dev');
    const token = alice.token!;

    await dropAndWaitDetached(t, alice);
    const ids = [
      ...(await sayAll(bob, 'lobby', ['l1', 'l2'])),
      ...(await sayAll(bob, 'dev', ['d1'])),
      ...(await sayAll(bob, 'lobby', ['l3'])),
    ];
    const dmFrom = bob.mark();
    bob.send({ type: 'dm', to: alice.user!.id, clientId: 'dm', text: 'private' });
    ids.push((await bob.next('ack', (m) => m.clientId === 'dm', 5000, dmFrom)).id);

    const { c: again } = await resumeOn(token);
    await again.next('message', (m) => m.message.text === 'private');
    await pingPong(again);
    const replayed = framesOf(again, 'message').map((m) => m.message);
    expect(replayed.map((m) => m.text)).toEqual(['l1', 'l2', 'd1', 'l3', 'private']);
    expect(replayed.map((m) => m.id)).toEqual(ids);
    expect(replayed[2]).toMatchObject({ room: 'dev', from: { id: bob.user!.id, name: 'Bob' } });
    expect(replayed[4]).toMatchObject({ to: alice.user!.id });

    // Resuming again replays nothing: everything was delivered.
    await dropAndWaitDetached(t, again);
    const { c: third } = await resumeOn(token);
    await pingPong(third);
    expect(framesOf(third, 'message')).toEqual([]);
  });

  it('replays exactly what came after `since`', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    await sayAll(bob, 'lobby', ['seen-1', 'seen-2']);
    const seen = await alice.next('message', (m) => m.message.text === 'seen-2');
    await sayAll(bob, 'lobby', ['lost-on-the-wire']);
    // The server delivered this one, but say the client never got it: it resumes from `seen`.
    await alice.next('message', (m) => m.message.text === 'lost-on-the-wire');
    const token = alice.token!;
    await dropAndWaitDetached(t, alice);
    await sayAll(bob, 'lobby', ['away-1', 'away-2']);

    const { c: again } = await resumeOn(token, seen.message.id);
    await again.next('message', (m) => m.message.text === 'away-2');
    await pingPong(again);
    expect(framesOf(again, 'message').map((m) => m.message.text)).toEqual([
      'lost-on-the-wire',
      'away-1',
      'away-2',
    ]);
  });

  it('live messages sent during the replay are neither lost, duplicated nor reordered', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const token = alice.token!;
    await dropAndWaitDetached(t, alice);
    const away = Array.from({ length: 30 }, (_, i) => `away-${i}`);
    await sayAll(bob, 'lobby', away);

    // Bob keeps talking while Alice resumes.
    const live = Array.from({ length: 30 }, (_, i) => `live-${i}`);
    const again = client();
    await again.opened;
    again.send({ type: 'resume', versions: [1], token });
    const liveIds = sayAll(bob, 'lobby', live);
    await again.next('welcome');
    await liveIds;
    await again.next('message', (m) => m.message.text === 'live-29');
    await pingPong(again);
    const got = framesOf(again, 'message').map((m) => m.message);
    expect(got.map((m) => m.text)).toEqual([...away, ...live]);
    const ids = got.map((m) => m.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('after the grace period: others see the member leave, resume fails, the name is free', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    await join(alice, 'dev');
    await join(bob, 'dev');
    const token = alice.token!;
    const aliceId = alice.user!.id;
    const bobFrom = bob.mark();

    const dropped = Date.now();
    alice.ws.terminate();
    const left = await bob.next('members', (m) => m.room === 'lobby' && m.left.length > 0, 5000, bobFrom);
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(left.left).toEqual([aliceId]);
    await bob.next('members', (m) => m.room === 'dev' && m.left.includes(aliceId), 5000, bobFrom);

    const again = client();
    await again.opened;
    again.send({ type: 'resume', versions: [1], token, ref: 'late' });
    const err = await again.error('resume_failed');
    expect(err.ref).toBe('late');
    expect(again.closed).toBeNull();
    // The connection may sign in afresh, under the old name, as a new user.
    const welcome = await again.hello('Alice');
    expect(welcome.resumed).toBe(false);
    expect(welcome.user.id).not.toBe(aliceId);
  });

  it('refuses an unknown token with resume_failed and keeps the connection', async () => {
    const c = client();
    await c.opened;
    c.send({ type: 'resume', versions: [1], token: 'not-a-token', ref: 'r' });
    expect((await c.error('resume_failed')).ref).toBe('r');
    await c.hello('Someone');
    await pingPong(c);
  });

  it('resuming on a new connection while the old one is open closes the old one with 4001', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const bobFrom = bob.mark();

    const { c: again, welcome } = await resumeOn(alice.token!);
    expect(welcome.user.id).toBe(alice.user!.id);
    expect(welcome.resumed).toBe(true);
    const closed = await alice.waitClose();
    expect(closed.code).toBe(4001);

    // The session lives on the new connection only; Bob saw nothing.
    bob.send({ type: 'chat', room: 'lobby', clientId: 'x', text: 'which one?' });
    expect((await again.next('message')).message.text).toBe('which one?');
    expect(framesOf(alice, 'message')).toEqual([]);
    await pingPong(again);
    await new Promise((r) => setTimeout(r, GRACE_MS + 50));
    expect(leftOf(bob, undefined, bobFrom)).toEqual([]);
    expect(joinedOf(bob, undefined, bobFrom)).toEqual([]);
    expect(t.server.hub.findById(alice.user!.id)?.state).toBe('live');
  });

  it('a session that ended is not resumable', async () => {
    const alice = await signedIn('Alice');
    const token = alice.token!;
    alice.ws.terminate();
    await until(
      () => t.server.hub.findById(alice.user!.id) === undefined,
      5000,
      'the session to end',
    );
    const again = client();
    await again.opened;
    again.send({ type: 'resume', versions: [1], token });
    await again.error('resume_failed');
  });
});
