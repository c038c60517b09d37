import { beforeEach, describe, expect, it } from 'vitest';
import { pingPong } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';
import { ParleyClient } from '../helpers/parley.js';

/**
 * The server stamps identity: fields in a frame that claim to say who sent it (or what id a
 * message has) are ignored, and the receiver always sees the sending connection's real user.
 */
describe('spoofing', () => {
  const { t, clients, signedIn } = useParleyServer();
  let mallory: ParleyClient;
  let bob: ParleyClient;
  let carol: ParleyClient;
  /** What a forger puts in every frame: someone else's identity and a made-up message id. */
  const forged = () => ({
    from: { id: bob.user!.id, name: 'Bob' },
    id: 999_999,
    name: 'Bob',
    user: { id: bob.user!.id, name: 'Bob' },
    userId: bob.user!.id,
    sender: bob.user!.id,
    ts: 1,
  });
  const real = () => ({ id: mallory.user!.id, name: 'Mallory' });

  beforeEach(async () => {
    mallory = await signedIn('Mallory');
    bob = await signedIn('Bob');
    carol = await signedIn('Carol');
  });

  it('hello cannot choose the user id', async () => {
    const c = new ParleyClient(t.url);
    clients.push(c);
    await c.opened;
    c.sendJson({
      type: 'hello',
      versions: [1],
      name: 'Eve',
      id: bob.user!.id,
      user: { id: bob.user!.id },
      token: bob.token,
    });
    const welcome = await c.next('welcome');
    expect(welcome.user.name).toBe('Eve');
    expect(welcome.user.id).not.toBe(bob.user!.id);
    expect(welcome.token).not.toBe(bob.token);
  });

  it('a room message carries the sender’s real identity and the server’s id and time', async () => {
    mallory.sendJson({
      type: 'chat',
      room: 'lobby',
      clientId: 'c1',
      text: 'I am Bob',
      ...forged(),
    });
    const ack = await mallory.next('ack');
    const { message } = await carol.next('message');
    expect(message.from).toEqual(real());
    expect(message.id).toBe(ack.id);
    expect(message.id).not.toBe(999_999);
    expect(message.ts).toBe(ack.ts);
    expect(message.ts).toBeGreaterThan(1);
    expect(Object.keys(message).sort()).toEqual(['clientId', 'from', 'id', 'room', 'text', 'ts']);

    // History says the same.
    carol.send({ type: 'history', room: 'lobby' });
    expect((await carol.next('history')).messages[0]!.from).toEqual(real());
  });

  it('a direct message carries the sender’s real identity', async () => {
    mallory.sendJson({
      type: 'dm',
      to: carol.user!.id,
      clientId: 'd1',
      text: 'it is me, Bob',
      ...forged(),
    });
    const { message } = await carol.next('message');
    expect(message.from).toEqual(real());
    expect('to' in message && message.to).toBe(carol.user!.id);
  });

  it('presence and joins announce the real member', async () => {
    mallory.sendJson({
      type: 'presence',
      status: 'away',
      ...forged(),
      member: { id: bob.user!.id },
    });
    const changed = await carol.next('members', (m) => m.changed.length > 0);
    expect(changed.changed).toEqual([{ ...real(), presence: 'away', kind: 'parley' }]);
    mallory.sendJson({
      type: 'join',
      room: 'den',
      ...forged(),
      member: { id: bob.user!.id, name: 'Bob' },
    });
    bob.send({ type: 'join', room: 'den' });
    const roomJoined = await bob.next('roomJoined', (m) => m.room === 'den');
    expect(roomJoined.members.map((m) => m.id).sort()).toEqual(
      [bob.user!.id, mallory.user!.id].sort(),
    );
  });

  it('call frames and signals carry the real caller', async () => {
    mallory.sendJson({
      type: 'callInvite',
      to: carol.user!.id,
      media: 'audio',
      ...forged(),
      callId: 'c-forged',
    });
    const incoming = await carol.next('callIncoming');
    expect(incoming.from).toEqual({ ...real(), presence: 'online', kind: 'parley' });
    expect(incoming.callId).not.toBe('c-forged');
    carol.send({ type: 'callAccept', callId: incoming.callId, media: 'audio' });
    await mallory.next('callAccepted');

    mallory.sendJson({
      type: 'signal',
      callId: incoming.callId,
      data: { kind: 'candidate', candidate: null, from: bob.user!.id },
      ...forged(),
    });
    mallory.sendJson({
      type: 'callMedia',
      callId: incoming.callId,
      audio: true,
      video: false,
      ...forged(),
    });
    const signal = await carol.next('signal');
    expect(signal).toEqual({
      type: 'signal',
      callId: incoming.callId,
      from: mallory.user!.id,
      data: { kind: 'candidate', candidate: null },
    });
    expect((await carol.next('callMedia')).from).toBe(mallory.user!.id);

    // Bob, whose identity was claimed, saw none of it.
    await pingPong(bob);
    expect(
      bob.received.filter((m) =>
        ['callIncoming', 'signal', 'callMedia', 'message'].includes(m.type),
      ),
    ).toEqual([]);
  });
});
