import { beforeEach, describe, expect, it } from 'vitest';
import { ROOM_CALL_MAX, type ServerMessage, type SignalData } from '../../src/protocol/protocol.js';
import { useParleyServer } from '../helpers/fixtures.js';
import { changedOf, dropAndWaitDetached, framesOf, pingPong } from '../helpers/integration.js';
import type { ParleyClient } from '../helpers/parley.js';

const GRACE_MS = 400;
const ROOM = 'design';

type RoomCallFrame = Extract<ServerMessage, { type: 'roomCall' }>;

const offer: SignalData = {
  kind: 'description',
  description: { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n' },
};
const candidate: SignalData = {
  kind: 'candidate',
  candidate: { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 50001 typ host', sdpMid: '0', sdpMLineIndex: 0 },
};

describe('room calls', () => {
  const { t, client, signedIn, join } = useParleyServer({ graceMs: GRACE_MS, callTimeoutMs: 10_000 });

  /** Waits for the room call frame of ROOM whose participants are exactly `names`, in order. */
  const callWith = (c: ParleyClient, names: string[], from = 0): Promise<RoomCallFrame> =>
    c.next(
      'roomCall',
      (m) => m.room === ROOM && m.participants.map((p) => p.name).join() === names.join(),
      5000,
      from,
    );

  /** Sends roomCallJoin and waits for the sender's own answer (it carries the ref). */
  const joinCall = async (c: ParleyClient, media: 'audio' | 'video' = 'video'): Promise<RoomCallFrame> => {
    const ref = `rcj-${c.user!.name}`;
    const from = c.mark();
    c.send({ type: 'roomCallJoin', room: ROOM, media, ref });
    return c.next('roomCall', (m) => m.ref === ref, 5000, from);
  };

  /** The error answering the frame sent with `ref`. */
  const refused = (c: ParleyClient, ref: string) => c.next('error', (m) => m.ref === ref);

  let alice: ParleyClient;
  let bob: ParleyClient;
  let carol: ParleyClient;
  /** In the room, never in the call. */
  let dave: ParleyClient;

  beforeEach(async () => {
    alice = await signedIn('Alice');
    bob = await signedIn('Bob');
    carol = await signedIn('Carol');
    dave = await signedIn('Dave');
    for (const c of [alice, bob, carol, dave]) await join(c, ROOM);
  });

  it('join and leave at will: every member of the room hears the participants, the sender gets its ref', async () => {
    const marks = [alice, bob, carol, dave].map((c) => c.mark());
    const own = await joinCall(alice);
    expect(own).toEqual({
      type: 'roomCall',
      room: ROOM,
      callId: expect.stringMatching(/^r/) as string,
      participants: [{ id: alice.user!.id, name: 'Alice', media: 'video', audio: true, video: true }],
      ref: 'rcj-Alice',
    });
    const callId = own.callId;
    // Everyone else in the room hears it without a ref, whether in the call or not.
    for (const c of [bob, carol, dave]) {
      expect(await callWith(c, ['Alice'], marks[[bob, carol, dave].indexOf(c) + 1])).toMatchObject({
        callId,
        ref: null,
      });
    }
    // Members outside the room hear nothing of it.
    const eve = await signedIn('Eve');
    await pingPong(eve);
    expect(framesOf(eve, 'roomCall')).toEqual([]);

    await joinCall(bob, 'audio');
    for (const c of [alice, carol, dave]) {
      const frame = await callWith(c, ['Alice', 'Bob']);
      expect(frame.participants[1]).toEqual({ id: bob.user!.id, name: 'Bob', media: 'audio', audio: true, video: false });
    }
    await joinCall(carol);
    await callWith(dave, ['Alice', 'Bob', 'Carol']);

    // Participants show as in a call to everyone who shares a room with them.
    await eve.next('members', (m) => m.changed.some((x) => x.id === bob.user!.id && x.presence === 'inCall'));

    // A join repeated by a participant changes nothing and answers the state to the sender alone.
    const df = dave.mark();
    const again = await joinCall(bob);
    expect(again.participants.map((p) => p.name)).toEqual(['Alice', 'Bob', 'Carol']);
    await pingPong(dave);
    expect(framesOf(dave, 'roomCall', df)).toEqual([]);

    // Bob leaves; the others see the call shrink, and he is online again.
    const cf = carol.mark();
    bob.send({ type: 'roomCallLeave', room: ROOM, ref: 'bye' });
    expect(await bob.next('roomCall', (m) => m.ref === 'bye')).toMatchObject({
      callId,
      participants: [{ name: 'Alice' }, { name: 'Carol' }],
    });
    await callWith(carol, ['Alice', 'Carol'], cf);
    await callWith(dave, ['Alice', 'Carol']);
    await eve.next('members', (m) => m.changed.some((x) => x.id === bob.user!.id && x.presence === 'online'));

    // Leaving a call one is not in is call_not_found, and the connection lives.
    bob.send({ type: 'roomCallLeave', room: ROOM, ref: 'again' });
    expect((await refused(bob, 'again')).code).toBe('call_not_found');
    await pingPong(bob);

    // The last one out ends the call: an empty list, and the next call gets a new id.
    alice.send({ type: 'roomCallLeave', room: ROOM });
    carol.send({ type: 'roomCallLeave', room: ROOM });
    const ended = await callWith(dave, []);
    expect(ended.callId).toBe(callId);
    expect(t.server.hub.roomCallCount).toBe(0);
    const next = await joinCall(bob);
    expect(next.callId).not.toBe(callId);
  });

  it('a room joined later shows its call after roomJoined', async () => {
    const own = await joinCall(alice);
    const eve = await signedIn('Eve');
    const from = eve.mark();
    eve.send({ type: 'join', room: ROOM });
    await eve.next('roomJoined', (m) => m.room === ROOM, 5000, from);
    const frames = eve.received.slice(from).filter((m) => m.type === 'roomJoined' || m.type === 'roomCall');
    expect(frames.map((m) => m.type)).toEqual(['roomJoined', 'roomCall']);
    await callWith(eve, ['Alice'], from);
    expect(framesOf(eve, 'roomCall', from)[0]!.callId).toBe(own.callId);
  });

  it(`takes at most ${ROOM_CALL_MAX} participants; the next gets call_full and the connection lives`, async () => {
    const extra: ParleyClient[] = [];
    for (const name of ['Frank', 'Grace', 'Heidi']) {
      const c = await signedIn(name);
      await join(c, ROOM);
      extra.push(c);
    }
    const six = [alice, bob, carol, dave, extra[0]!, extra[1]!];
    for (const c of six) await joinCall(c, 'audio');
    const heidi = extra[2]!;
    const from = heidi.mark();
    heidi.send({ type: 'roomCallJoin', room: ROOM, media: 'video', ref: 'seventh' });
    const error = await heidi.error('call_full', from);
    expect(error).toMatchObject({ code: 'call_full', ref: 'seventh' });
    expect(error.message).toContain('full');
    await pingPong(heidi);
    // Once someone leaves there is room again.
    dave.send({ type: 'roomCallLeave', room: ROOM });
    const joined = await joinCall(heidi);
    expect(joined.participants).toHaveLength(ROOM_CALL_MAX);
    expect(joined.participants.at(-1)!.name).toBe('Heidi');
  });

  it('relays signals only between participants of the same call, to the one named, with `from` stamped', async () => {
    const { callId } = await joinCall(alice);
    await joinCall(bob);
    await joinCall(carol);
    const bf = bob.mark();
    const cf = carol.mark();
    const df = dave.mark();
    alice.send({ type: 'signal', callId, to: bob.user!.id, data: offer, from: carol.user!.id } as never);
    alice.send({ type: 'signal', callId, to: carol.user!.id, data: candidate });
    expect(await bob.next('signal', () => true, 5000, bf)).toEqual({
      type: 'signal',
      callId,
      from: alice.user!.id,
      data: offer,
    });
    expect(await carol.next('signal', () => true, 5000, cf)).toEqual({
      type: 'signal',
      callId,
      from: alice.user!.id,
      data: candidate,
    });
    await pingPong(bob);
    expect(framesOf(bob, 'signal', bf)).toHaveLength(1);
    expect(framesOf(carol, 'signal', cf)).toHaveLength(1);

    // Media state: to every other participant, or to the one named; and it shows in later states.
    alice.send({ type: 'callMedia', callId, audio: false, video: true });
    for (const c of [bob, carol]) {
      expect(await c.next('callMedia')).toEqual({ type: 'callMedia', callId, from: alice.user!.id, audio: false, video: true });
    }
    carol.send({ type: 'callMedia', callId, to: bob.user!.id, audio: true, video: false });
    await bob.next('callMedia', (m) => m.from === carol.user!.id);
    await pingPong(alice);
    expect(framesOf(alice, 'callMedia')).toEqual([]);
    const dm = dave.mark();
    await joinCall(dave, 'audio');
    const state = await bob.next('roomCall', (m) => m.participants.length === 4);
    expect(state.participants.slice(0, 3)).toMatchObject([
      { name: 'Alice', audio: false, video: true },
      { name: 'Bob', audio: true, video: true },
      { name: 'Carol', audio: true, video: false },
    ]);
    expect(framesOf(dave, 'signal', dm)).toEqual([]);
    expect(framesOf(dave, 'callMedia', df)).toEqual([]);

    // Refused: a non-participant, a target outside the call, a missing target, oneself.
    dave.send({ type: 'roomCallLeave', room: ROOM });
    await callWith(alice, ['Alice', 'Bob', 'Carol']);
    dave.send({ type: 'signal', callId, to: alice.user!.id, data: offer, ref: 's1' });
    expect((await refused(dave, 's1')).code).toBe('call_not_found');
    dave.send({ type: 'callMedia', callId, audio: true, video: true, ref: 's2' });
    expect((await refused(dave, 's2')).code).toBe('call_not_found');
    alice.send({ type: 'signal', callId, to: dave.user!.id, data: offer, ref: 's3' });
    expect((await refused(alice, 's3')).code).toBe('user_not_found');
    alice.send({ type: 'signal', callId, data: offer, ref: 's4' });
    const missing = await refused(alice, 's4');
    expect(missing).toMatchObject({ code: 'bad_frame', message: expect.stringContaining('to') as string });
    alice.send({ type: 'signal', callId, to: alice.user!.id, data: offer, ref: 's5' });
    expect((await refused(alice, 's5')).code).toBe('user_not_found');
    await pingPong(alice);
    await pingPong(dave);
    expect(framesOf(dave, 'signal')).toEqual([]);
  });

  it('1:1 calls and room calls exclude each other (already_in_call, busy)', async () => {
    // In a 1:1 call (even ringing): cannot join a room call.
    alice.send({ type: 'callInvite', to: dave.user!.id, media: 'audio' });
    const ringing = await alice.next('callRinging');
    alice.send({ type: 'roomCallJoin', room: ROOM, media: 'audio', ref: 'j1' });
    expect((await refused(alice, 'j1')).code).toBe('already_in_call');
    dave.send({ type: 'roomCallJoin', room: ROOM, media: 'audio', ref: 'j2' });
    expect((await refused(dave, 'j2')).code).toBe('already_in_call');
    alice.send({ type: 'callCancel', callId: ringing.callId });
    await dave.next('callEnded');

    // In a room call: cannot place a 1:1 call, and callers hear busy.
    await joinCall(bob);
    bob.send({ type: 'callInvite', to: carol.user!.id, media: 'audio', ref: 'i1' });
    expect((await refused(bob, 'i1')).code).toBe('already_in_call');
    const cf = carol.mark();
    carol.send({ type: 'callInvite', to: bob.user!.id, media: 'video', ref: 'i2' });
    expect(await carol.next('callEnded', () => true, 5000, cf)).toMatchObject({ reason: 'busy', ref: 'i2' });
    await pingPong(bob);
    expect(framesOf(bob, 'callIncoming')).toEqual([]);

    // One room call at a time.
    await join(bob, 'other');
    bob.send({ type: 'roomCallJoin', room: 'other', media: 'audio', ref: 'j3' });
    expect((await refused(bob, 'j3')).code).toBe('already_in_call');
    // And only in a room one is in.
    const eve = await signedIn('Eve');
    eve.send({ type: 'roomCallJoin', room: ROOM, media: 'audio', ref: 'j4' });
    expect((await refused(eve, 'j4')).code).toBe('not_in_room');
    await pingPong(eve);
  });

  it('leaving the room, or the session ending, leaves the call; a dropped connection does not until the grace ends', async () => {
    await joinCall(alice);
    await joinCall(bob);
    await joinCall(carol);
    // Leaving the room.
    const df = dave.mark();
    alice.send({ type: 'leave', room: ROOM });
    await alice.next('roomLeft');
    await callWith(dave, ['Bob', 'Carol'], df);
    // A dropped connection: still in the call within the grace period...
    await dropAndWaitDetached(t, bob);
    await pingPong(dave);
    expect(framesOf(dave, 'roomCall').at(-1)!.participants.map((p) => p.name)).toEqual(['Bob', 'Carol']);
    // ...and out when the session ends.
    await callWith(dave, ['Carol'], df);
    expect(changedOf(dave, ROOM).some((m) => m.name === 'Carol' && m.presence === 'inCall')).toBe(true);
    carol.close();
    await callWith(dave, [], df);
    expect(t.server.hub.roomCallCount).toBe(0);
  });

  it('a resumed participant gets the room call back after roomJoined, and buffered signaling', async () => {
    const { callId } = await joinCall(alice);
    await joinCall(bob);
    await dropAndWaitDetached(t, bob);
    const token = bob.token!;
    alice.send({ type: 'signal', callId, to: bob.user!.id, data: offer });
    await pingPong(alice);
    const back = client();
    const welcome = await back.resume(token);
    expect(welcome.resumed).toBe(true);
    const state = await back.next('roomCall', (m) => m.room === ROOM);
    expect(state.participants.map((p) => p.name)).toEqual(['Alice', 'Bob']);
    const order = back.received.filter((m) => m.type === 'roomJoined' || m.type === 'roomCall' || m.type === 'signal');
    const roomJoinedAt = order.findIndex((m) => m.type === 'roomJoined' && m.room === ROOM);
    expect(order[roomJoinedAt + 1]).toMatchObject({ type: 'roomCall', room: ROOM });
    expect(await back.next('signal')).toEqual({ type: 'signal', callId, from: alice.user!.id, data: offer });
  });

  it('bad room call frames get coded errors and the connection lives', async () => {
    const from = alice.mark();
    alice.sendJson({ type: 'roomCallJoin', room: ROOM, ref: 'b1' });
    alice.sendJson({ type: 'roomCallJoin', room: 'Not A Room!', media: 'video', ref: 'b2' });
    alice.sendJson({ type: 'roomCallJoin', room: ROOM, media: 'hologram', ref: 'b3' });
    alice.sendJson({ type: 'roomCallLeave', ref: 'b4' });
    alice.sendJson({ type: 'signal', callId: 'rnope', to: 42, data: offer, ref: 'b5' });
    alice.sendJson({ type: 'signal', callId: 'rnope', to: bob.user!.id, data: offer, ref: 'b6' });
    for (const ref of ['b1', 'b2', 'b3', 'b4', 'b5']) {
      expect((await alice.next('error', (m) => m.ref === ref, 5000, from)).code).toBe('bad_frame');
    }
    expect((await alice.next('error', (m) => m.ref === 'b6', 5000, from)).code).toBe('call_not_found');
    await pingPong(alice);
    expect(framesOf(bob, 'signal')).toEqual([]);
    expect(t.server.hub.roomCallCount).toBe(0);
  });
});
