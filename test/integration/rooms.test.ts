import { describe, expect, it } from 'vitest';
import { changedOf, joinedOf, leftOf, pingPong } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';

describe('rooms and presence', () => {
  const { signedIn, join } = useParleyServer();

  it('joins a room by its normalized name and tells the members already there', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const carol = await signedIn('Carol');

    alice.send({ type: 'join', room: '  Dev-Team ', ref: 'j1' });
    const aliceJoined = await alice.next('roomJoined', (m) => m.room === 'dev-team');
    expect(aliceJoined).toEqual({
      type: 'roomJoined',
      room: 'dev-team',
      count: 1,
      members: [{ id: alice.user!.id, name: 'Alice', presence: 'online', kind: 'parley' }],
      hasMore: false,
      ref: 'j1',
    });

    const bobJoined = await join(bob, 'dev-team');
    expect(bobJoined.members.map((m) => m.name).sort()).toEqual(['Alice', 'Bob']);
    const seen = await alice.next('members', (m) => m.room === 'dev-team');
    expect(seen).toEqual({
      type: 'members',
      room: 'dev-team',
      count: 2,
      joined: [{ id: bob.user!.id, name: 'Bob', presence: 'online', kind: 'parley' }],
      left: [],
      changed: [],
    });

    // Carol is only in the lobby: nothing about dev-team reaches her.
    await pingPong(carol);
    expect(carol.received.some((m) => 'room' in m && m.room === 'dev-team')).toBe(false);
  });

  it('joining a room twice re-sends the member list but announces nothing', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    await join(alice, 'dev');
    await join(bob, 'dev');
    await alice.next('members', (m) => m.room === 'dev');
    const from = alice.mark();
    const again = await join(bob, 'dev');
    expect(again.members).toHaveLength(2);
    expect(await alice.quiet(100)).toEqual([]);
    expect(joinedOf(alice, undefined, from)).toHaveLength(0);
  });

  it('leaving tells the leaver with roomLeft and the others in a members delta', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const carol = await signedIn('Carol');
    await join(alice, 'dev');
    await join(bob, 'dev');
    await join(carol, 'dev');

    bob.send({ type: 'leave', room: 'DEV', ref: 'l1' });
    expect(await bob.next('roomLeft')).toEqual({ type: 'roomLeft', room: 'dev', ref: 'l1' });
    for (const other of [alice, carol]) {
      const left = await other.next('members', (m) => m.room === 'dev' && m.left.length > 0);
      expect(left).toEqual({
        type: 'members',
        room: 'dev',
        count: 2,
        joined: [],
        left: [bob.user!.id],
        changed: [],
      });
    }
    // Bob is still in the lobby, so nobody saw him leave that.
    await pingPong(alice);
    expect(leftOf(alice, 'lobby')).toHaveLength(0);

    // Leaving again, or chatting there, is refused with not_in_room.
    const from = bob.mark();
    bob.send({ type: 'leave', room: 'dev', ref: 'l2' });
    expect((await bob.error('not_in_room', from)).ref).toBe('l2');
    bob.send({ type: 'chat', clientId: 'x', room: 'dev', text: 'hi', ref: 'c2' });
    expect((await bob.next('error', (m) => m.ref === 'c2', 5000, from)).code).toBe('not_in_room');
    await pingPong(bob);

    // A later member list no longer has Bob.
    const dave = await signedIn('Dave');
    expect((await join(dave, 'dev')).members.map((m) => m.name).sort()).toEqual([
      'Alice',
      'Carol',
      'Dave',
    ]);
  });

  it('a user may leave the lobby too, and rejoin it', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    bob.send({ type: 'leave', room: 'lobby' });
    await bob.next('roomLeft');
    await alice.next('members', (m) => m.left.includes(bob.user!.id));
    const back = await join(bob, 'lobby');
    expect(back.members).toHaveLength(2);
    await alice.next('members', (m) => m.joined.some((j) => j.id === bob.user!.id));
  });

  it.each(['Bad Room', 'émigré', '-dash-first', 'a'.repeat(33), '', 'a/b'])(
    'refuses the room name %j with bad_frame',
    async (room) => {
      const alice = await signedIn('Alice');
      alice.send({ type: 'join', room, ref: 'bad' });
      const err = await alice.error('bad_frame');
      expect(err.ref).toBe('bad');
      await pingPong(alice);
    },
  );

  it('announces away and online in members deltas to the other members of every shared room', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const carol = await signedIn('Carol');
    await join(alice, 'dev');
    await join(bob, 'dev');
    await alice.next('members', (m) => m.room === 'dev');

    const aliceFrom = alice.mark();
    alice.send({ type: 'presence', status: 'away', ref: 'p1' });
    const away = { id: alice.user!.id, name: 'Alice', presence: 'away', kind: 'parley' };
    expect(await bob.next('members', (m) => m.room === 'lobby' && m.changed.length > 0)).toEqual({
      type: 'members',
      room: 'lobby',
      count: 3,
      joined: [],
      left: [],
      changed: [away],
    });
    expect((await bob.next('members', (m) => m.room === 'dev' && m.changed.length > 0)).changed).toEqual([away]);
    expect((await carol.next('members', (m) => m.changed.length > 0)).changed).toEqual([away]);

    // Saying "away" again changes nothing and is not announced.
    const bobFrom = bob.mark();
    alice.send({ type: 'presence', status: 'away' });
    await pingPong(alice);
    expect(changedOf(bob, undefined, bobFrom)).toHaveLength(0);

    // A newcomer sees the current presence in the member list.
    const dave = await signedIn('Dave');
    const daveLobby = dave.received.find((m) => m.type === 'roomJoined');
    expect(
      daveLobby?.type === 'roomJoined' &&
        daveLobby.members.find((m) => m.name === 'Alice')?.presence,
    ).toBe('away');

    alice.send({ type: 'presence', status: 'online' });
    const back = await bob.next(
      'members',
      (m) => m.changed.some((c) => c.presence === 'online'),
      5000,
      bobFrom,
    );
    expect(back.changed.map((c) => c.id)).toEqual([alice.user!.id]);
    await dave.next('members', (m) => m.changed.some((c) => c.presence === 'online'));

    // Alice never hears about her own presence.
    await pingPong(alice);
    expect(changedOf(alice, undefined, aliceFrom)).toHaveLength(0);
  });

  it('refuses a presence the client may not set (inCall is derived by the server)', async () => {
    const alice = await signedIn('Alice');
    alice.sendJson({ type: 'presence', status: 'inCall', ref: 'p' });
    expect((await alice.error('bad_frame')).ref).toBe('p');
    await pingPong(alice);
  });
});
