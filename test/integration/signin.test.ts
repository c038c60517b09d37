import { describe, expect, it } from 'vitest';
import { framesOf, joinedOf, pingPong } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';

describe('sign-in', () => {
  const { t, client, hello: signedIn } = useParleyServer({ graceMs: 1234 });

  it('answers hello with a complete welcome', async () => {
    const c = client();
    await c.opened;
    c.send({ type: 'hello', versions: [1, 2], name: 'Alice', ref: 'h1' });
    const welcome = await c.next('welcome');
    expect(welcome).toEqual({
      type: 'welcome',
      version: 1,
      user: { id: expect.any(String) as string, name: 'Alice' },
      token: expect.any(String) as string,
      graceMs: 1234,
      resumed: false,
      iceServers: [],
      iceExpiresAt: null,
      limits: { maxFrameBytes: t.config.maxFrameBytes, maxTextLength: 4000, historyPageMax: 100 },
      rooms: [],
      calls: [],
      ref: 'h1',
    });
    expect(welcome.user.id.length).toBeGreaterThan(0);
    // The token is a secret: long enough not to be guessed, and not the user id.
    expect(welcome.token.length).toBeGreaterThanOrEqual(24);
    expect(welcome.token).not.toBe(welcome.user.id);
  });

  it('gives every user a distinct id and token', async () => {
    const a = await signedIn('Alice');
    const b = await signedIn('Bob');
    expect(a.user?.id).not.toBe(b.user?.id);
    expect(a.token).not.toBe(b.token);
  });

  it('normalizes the name: trimmed, inner spaces collapsed, case and script kept', async () => {
    const a = await signedIn('   Alice \t  van   Dijk  ');
    expect(a.user?.name).toBe('Alice van Dijk');
    const b = await signedIn('Zoë 李雷');
    expect(b.user?.name).toBe('Zoë 李雷');
    const lobby = await b.next('roomJoined');
    expect(lobby.members.map((m) => m.name).sort()).toEqual(['Alice van Dijk', 'Zoë 李雷'].sort());
  });

  it('refuses a name taken in another case with a free suggestion, and the suggestion works', async () => {
    await signedIn('Alice');
    const c = client();
    await c.opened;
    c.send({ type: 'hello', versions: [1], name: 'ALICE', ref: 'dup' });
    const err = await c.error('name_taken');
    expect(err.ref).toBe('dup');
    expect(err.suggestion).toBe('ALICE2');
    expect(err.message).toBeTypeOf('string');
    // Whitespace variants are the same name too.
    const from = c.mark();
    c.send({ type: 'hello', versions: [1], name: '  alice ', ref: 'dup2' });
    const err2 = await c.error('name_taken', from);
    expect(err2.ref).toBe('dup2');
    expect(err2.suggestion).toBe('alice2');
    // Not signed in yet, so the connection may try again, with the suggestion.
    const welcome = await c.hello(err.suggestion!);
    expect(welcome.user.name).toBe('ALICE2');
    // ...and the next one gets the next number.
    const d = client();
    await d.opened;
    d.send({ type: 'hello', versions: [1], name: 'alice' });
    expect((await d.error('name_taken')).suggestion).toBe('alice3');
  });

  it.each([
    ['empty', ''],
    ['only spaces', '    '],
    ['too long', 'a'.repeat(33)],
    ['markup', '<b>Alice</b>'],
    ['punctuation', 'Alice!'],
    ['a newline-only name', '\n'],
    ['not a string', 42],
    ['missing', undefined],
  ])('refuses an invalid name (%s) with bad_frame and stays usable', async (_what, name) => {
    const c = client();
    await c.opened;
    c.sendJson({ type: 'hello', versions: [1], name, ref: 'bad-name' });
    const err = await c.error('bad_frame');
    expect(err.ref).toBe('bad-name');
    const welcome = await c.hello('Valid Name');
    expect(welcome.user.name).toBe('Valid Name');
  });

  it('accepts a name of exactly 32 characters', async () => {
    const name = 'B'.repeat(32);
    expect((await signedIn(name)).user?.name).toBe(name);
  });

  it('refuses unsupported protocol versions, then accepts a supported one', async () => {
    const c = client();
    await c.opened;
    c.send({ type: 'hello', versions: [2, 3], name: 'Future', ref: 'v' });
    const err = await c.error('unsupported_version');
    expect(err.ref).toBe('v');
    const from = c.mark();
    c.send({ type: 'resume', versions: [99], token: 'whatever', ref: 'v2' });
    expect((await c.error('unsupported_version', from)).ref).toBe('v2');
    const welcome = await c.hello('Future');
    expect(welcome.version).toBe(1);
  });

  it('answers frames before sign-in with not_signed_in and keeps the connection', async () => {
    const c = client();
    await c.opened;
    const frames = [
      { type: 'ping', ref: 'p' },
      { type: 'join', room: 'dev', ref: 'j' },
      { type: 'chat', clientId: 'c1', room: 'lobby', text: 'hi', ref: 'c' },
      { type: 'presence', status: 'away', ref: 's' },
      { type: 'callInvite', to: 'u1', media: 'audio', ref: 'i' },
    ] as const;
    for (const frame of frames) c.send(frame);
    for (const frame of frames) {
      const err = await c.next('error', (m) => m.ref === frame.ref);
      expect(err.code).toBe('not_signed_in');
    }
    expect(c.closed).toBeNull();
    await c.hello('Late');
    await pingPong(c);
  });

  it('answers a second hello or a resume on a signed-in connection with already_signed_in', async () => {
    const c = await signedIn('Alice');
    const from = c.mark();
    c.send({ type: 'hello', versions: [1], name: 'Mallory', ref: 'again' });
    c.send({ type: 'resume', versions: [1], token: c.token!, ref: 'again2' });
    expect((await c.next('error', (m) => m.ref === 'again', 5000, from)).code).toBe(
      'already_signed_in',
    );
    expect((await c.next('error', (m) => m.ref === 'again2', 5000, from)).code).toBe(
      'already_signed_in',
    );
    expect(framesOf(c, 'welcome', from)).toHaveLength(0);
    // Still Alice, and Mallory was never registered.
    const d = await signedIn('Mallory');
    expect(d.user?.name).toBe('Mallory');
    await pingPong(c);
  });

  it('puts a new user in the lobby with the full member list, then sends only deltas', async () => {
    const alice = await signedIn('Alice');
    const aliceLobby = await alice.next('roomJoined');
    expect(aliceLobby).toEqual({
      type: 'roomJoined',
      room: 'lobby',
      count: 1,
      members: [{ id: alice.user!.id, name: 'Alice', presence: 'online', kind: 'parley' }],
      hasMore: false,
      ref: null,
    });

    const bob = await signedIn('Bob');
    const bobLobby = await bob.next('roomJoined');
    expect(bobLobby.room).toBe('lobby');
    expect(bobLobby.members).toEqual(
      expect.arrayContaining([
        { id: alice.user!.id, name: 'Alice', presence: 'online', kind: 'parley' },
        { id: bob.user!.id, name: 'Bob', presence: 'online', kind: 'parley' },
      ]),
    );
    expect(bobLobby.members).toHaveLength(2);

    const joinedBob = await alice.next('members', (m) => m.joined.some((j) => j.id === bob.user!.id));
    expect(joinedBob).toEqual({
      type: 'members',
      room: 'lobby',
      count: 2,
      joined: [{ id: bob.user!.id, name: 'Bob', presence: 'online', kind: 'parley' }],
      left: [],
      changed: [],
    });

    const carol = await signedIn('Carol');
    await alice.next('members', (m) => m.joined.some((j) => j.id === carol.user!.id));
    await bob.next('members', (m) => m.joined.some((j) => j.id === carol.user!.id));
    expect((await carol.next('roomJoined')).members).toHaveLength(3);

    // Alice got the full list exactly once; after that only deltas, never herself.
    await pingPong(alice);
    expect(framesOf(alice, 'roomJoined')).toHaveLength(1);
    expect(joinedOf(alice).map((m) => m.name)).toEqual(['Bob', 'Carol']);
    expect(joinedOf(bob).map((m) => m.name)).toEqual(['Carol']);
    expect(joinedOf(carol)).toHaveLength(0);
  });
});
