import { beforeEach, describe, expect, it } from 'vitest';
import type { CallMedia, SignalData } from '../../src/protocol/protocol.js';
import { changedOf, dropAndWaitDetached, framesOf, leftOf, pingPong, until } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';
import { ParleyClient, rawToString } from '../helpers/parley.js';

const GRACE_MS = 400;

const offer: SignalData = {
  kind: 'description',
  description: { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n' },
};
const answer: SignalData = {
  kind: 'description',
  description: { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 0.0.0.0\r\n' },
};
const candidate = (n: number): SignalData => ({
  kind: 'candidate',
  candidate: {
    candidate: `candidate:${n} 1 udp 2122260223 192.0.2.${n} 5000${n} typ host`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  },
});
const endOfCandidates: SignalData = { kind: 'candidate', candidate: null };

/** Frames that belong to a call and must reach only its parties. */
const CALL_FRAMES = new Set([
  'callRinging',
  'callIncoming',
  'callAccepted',
  'callEnded',
  'signal',
  'callMedia',
]);

describe('calls', () => {
  const { t, client, signedIn } = useParleyServer({ graceMs: GRACE_MS, callTimeoutMs: 10_000 });
  /** Caller invites callee; both sides see the call ring. Returns the call id. */
  const ring = async (caller: ParleyClient, callee: ParleyClient, media: CallMedia = 'video') => {
    const cf = caller.mark();
    const ef = callee.mark();
    caller.send({ type: 'callInvite', to: callee.user!.id, media });
    const ringing = await caller.next('callRinging', () => true, 5000, cf);
    const incoming = await callee.next(
      'callIncoming',
      (m) => m.callId === ringing.callId,
      5000,
      ef,
    );
    return incoming.callId;
  };
  const accept = async (
    caller: ParleyClient,
    callee: ParleyClient,
    callId: string,
    media: CallMedia = 'video',
  ) => {
    callee.send({ type: 'callAccept', callId, media });
    await caller.next('callAccepted', (m) => m.callId === callId);
    await callee.next('callAccepted', (m) => m.callId === callId);
  };
  const ended = (c: ParleyClient, callId: string, from = 0) =>
    c.next('callEnded', (m) => m.callId === callId, 5000, from);

  let alice: ParleyClient;
  let bob: ParleyClient;
  let carol: ParleyClient;

  beforeEach(async () => {
    alice = await signedIn('Alice');
    bob = await signedIn('Bob');
    carol = await signedIn('Carol');
  });

  it('carries a call from invite to hang-up, relaying signals only to the peer with `from` stamped', async () => {
    alice.send({ type: 'callInvite', to: bob.user!.id, media: 'video', ref: 'inv' });
    const ringing = await alice.next('callRinging');
    expect(ringing).toEqual({
      type: 'callRinging',
      callId: expect.any(String) as string,
      to: bob.user!.id,
      media: 'video',
      ref: 'inv',
    });
    const callId = ringing.callId;
    expect(await bob.next('callIncoming')).toEqual({
      type: 'callIncoming',
      callId,
      from: { id: alice.user!.id, name: 'Alice', presence: 'online', kind: 'parley' },
      media: 'video',
    });

    bob.send({ type: 'callAccept', callId, media: 'video', ref: 'acc' });
    for (const c of [alice, bob]) {
      expect(await c.next('callAccepted')).toEqual({
        type: 'callAccepted',
        callId,
        media: 'video',
      });
    }
    // Both are now shown as in a call to the others.
    await carol.next(
      'members',
      (m) => m.changed.some((c) => c.id === alice.user!.id && c.presence === 'inCall'),
    );
    await carol.next(
      'members',
      (m) => m.changed.some((c) => c.id === bob.user!.id && c.presence === 'inCall'),
    );
    await alice.next(
      'members',
      (m) => m.changed.some((c) => c.id === bob.user!.id && c.presence === 'inCall'),
    );

    // Perfect negotiation traffic, both ways, in order.
    const fromAlice = [offer, candidate(1), candidate(2), endOfCandidates];
    const fromBob = [answer, candidate(3), endOfCandidates];
    for (const data of fromAlice) alice.send({ type: 'signal', callId, data });
    for (const data of fromBob) bob.send({ type: 'signal', callId, data });
    alice.send({ type: 'callMedia', callId, audio: true, video: false });
    await bob.next('callMedia');
    await alice.next('signal', (m) => m.data.kind === 'candidate' && m.data.candidate === null);

    expect(framesOf(bob, 'signal')).toEqual(
      fromAlice.map((data) => ({ type: 'signal', callId, from: alice.user!.id, data })),
    );
    expect(framesOf(alice, 'signal')).toEqual(
      fromBob.map((data) => ({ type: 'signal', callId, from: bob.user!.id, data })),
    );
    expect(framesOf(bob, 'callMedia')).toEqual([
      { type: 'callMedia', callId, from: alice.user!.id, audio: true, video: false },
    ]);

    bob.send({ type: 'callHangup', callId });
    for (const c of [alice, bob]) {
      expect(await ended(c, callId)).toEqual({
        type: 'callEnded',
        callId,
        reason: 'hangup',
        ref: null,
      });
    }
    await carol.next(
      'members',
      (m) => m.changed.some((c) => c.id === alice.user!.id && c.presence === 'online'),
    );
    await carol.next(
      'members',
      (m) => m.changed.some((c) => c.id === bob.user!.id && c.presence === 'online'),
    );

    // A third user never saw any of the call.
    await pingPong(carol);
    expect(carol.received.filter((m) => CALL_FRAMES.has(m.type))).toEqual([]);

    // The call is gone: signals for it are refused.
    const from = alice.mark();
    alice.send({ type: 'signal', callId, data: offer, ref: 'late' });
    expect((await alice.error('call_not_found', from)).ref).toBe('late');
    await pingPong(alice);
  });

  it('relays signal data as the sender wrote it, whatever its characters; other data is written anew', async () => {
    const callId = await ring(alice, bob);
    await accept(alice, bob, callId);
    const texts: string[] = [];
    bob.ws.on('message', (data: Buffer) => {
      const text = rawToString(data);
      if (text.startsWith('{"type":"signal"')) texts.push(text);
    });
    const description = (sdp: string) =>
      `{ "description": {"sdp":${JSON.stringify(sdp)}, "type":"offer"}, "kind":"description" }`;
    // Spacing and key order as a client might write them: ASCII only (copied byte for byte),
    // then characters of two, three and four bytes (taken as text), then an escape that spells
    // a plain letter.
    const asWritten = [
      description('v=0\r\na=x:"q" \\ {b}\r\n'),
      description('v=0\r\ns=Café ☕ 😀\r\n'),
      description('v=0\r\ns=\u0041\r\n'),
    ];
    for (const data of asWritten) alice.sendRaw(`{"data":${data}, "callId":${JSON.stringify(callId)},"type":"signal"}`);
    // With a key the schema does not know, the validated data is written out anew, without it.
    const extra = { kind: 'candidate', candidate: null, note: 'dropped' };
    alice.sendRaw(JSON.stringify({ type: 'signal', callId, data: extra }));
    await until(() => texts.length === 4);
    const head = `{"type":"signal","callId":${JSON.stringify(callId)},"from":${JSON.stringify(alice.user!.id)},"data":`;
    expect(texts).toEqual([
      ...asWritten.map((data) => `${head}${data}}`),
      `${head}{"kind":"candidate","candidate":null}}`,
    ]);
    await pingPong(alice);
    await pingPong(bob);
  });

  it('closes with 1007 a connection whose signal is not UTF-8; the peer gets nothing and lives on', async () => {
    // The relay copies an ASCII signal's bytes as they came (a frame with as many bytes as
    // characters); that holds only because ws refuses text that is not UTF-8, where a stray byte
    // would otherwise decode to one replacement character and pass for ASCII.
    const callId = await ring(alice, bob);
    await accept(alice, bob, callId);
    const from = bob.mark();
    const data = { kind: 'description', description: { type: 'offer', sdp: 'v=0 _' } };
    const frame = Buffer.from(JSON.stringify({ type: 'signal', callId, data }));
    frame[frame.indexOf('_')] = 0xff;
    alice.ws.send(frame, { binary: false });
    expect((await alice.waitClose()).code).toBe(1007);
    await pingPong(bob);
    expect(framesOf(bob, 'signal', from)).toEqual([]);
  });

  it('a video invite accepted with audio only becomes an audio call', async () => {
    const callId = await ring(alice, bob, 'video');
    bob.send({ type: 'callAccept', callId, media: 'audio' });
    expect((await alice.next('callAccepted')).media).toBe('audio');
  });

  it('the caller can hang up an active call too', async () => {
    const callId = await ring(alice, bob);
    await accept(alice, bob, callId);
    alice.send({ type: 'callHangup', callId });
    expect((await ended(bob, callId)).reason).toBe('hangup');
    expect((await ended(alice, callId)).reason).toBe('hangup');
    // Both may call again at once.
    await ring(bob, alice);
  });

  it('decline ends the call for both; only the callee may accept or decline', async () => {
    const callId = await ring(alice, bob);
    const from = alice.mark();
    alice.send({ type: 'callAccept', callId, media: 'audio', ref: 'self-accept' });
    alice.send({ type: 'callDecline', callId, ref: 'self-decline' });
    expect((await alice.next('error', (m) => m.ref === 'self-accept', 5000, from)).code).toBe(
      'call_state',
    );
    expect((await alice.next('error', (m) => m.ref === 'self-decline', 5000, from)).code).toBe(
      'call_state',
    );
    carol.send({ type: 'callAccept', callId, media: 'audio', ref: 'steal' });
    expect((await carol.error('call_not_found')).ref).toBe('steal');

    bob.send({ type: 'callDecline', callId });
    for (const c of [alice, bob]) expect((await ended(c, callId)).reason).toBe('declined');
    // No presence change was announced: the call never became active.
    await pingPong(carol);
    expect(changedOf(carol)).toEqual([]);
  });

  it('a user in a call is busy; the third caller hears busy, the parties hear nothing', async () => {
    const callId = await ring(alice, bob);
    const af = alice.mark();
    const bf = bob.mark();
    // Busy while ringing...
    carol.send({ type: 'callInvite', to: bob.user!.id, media: 'audio', ref: 'busy1' });
    const busy = await carol.next('callEnded');
    expect(busy).toEqual({
      type: 'callEnded',
      callId: expect.any(String) as string,
      reason: 'busy',
      ref: 'busy1',
    });
    expect(busy.callId).not.toBe(callId);
    // ...and while active.
    await accept(alice, bob, callId);
    const cf = carol.mark();
    carol.send({ type: 'callInvite', to: alice.user!.id, media: 'audio', ref: 'busy2' });
    expect((await carol.next('callEnded', () => true, 5000, cf)).reason).toBe('busy');

    await pingPong(alice);
    await pingPong(bob);
    expect(
      alice.received.slice(af).filter((m) => m.type === 'callIncoming' || m.type === 'callEnded'),
    ).toEqual([]);
    expect(
      bob.received.slice(bf).filter((m) => m.type === 'callIncoming' || m.type === 'callEnded'),
    ).toEqual([]);

    // A party cannot start a second call.
    alice.send({ type: 'callInvite', to: carol.user!.id, media: 'audio', ref: 'second' });
    expect((await alice.error('already_in_call')).ref).toBe('second');
    await pingPong(carol);
    expect(framesOf(carol, 'callIncoming')).toEqual([]);
  });

  it('the caller can cancel while it rings', async () => {
    const callId = await ring(alice, bob);
    const from = bob.mark();
    bob.send({ type: 'callCancel', callId, ref: 'not-yours' });
    expect((await bob.error('call_state', from)).ref).toBe('not-yours');
    alice.send({ type: 'callCancel', callId });
    for (const c of [alice, bob]) expect((await ended(c, callId)).reason).toBe('cancelled');
    const late = bob.mark();
    bob.send({ type: 'callAccept', callId, media: 'audio', ref: 'too-late' });
    expect((await bob.error('call_not_found', late)).ref).toBe('too-late');
  });

  it('hang-up while ringing counts as cancel for the caller and decline for the callee', async () => {
    const first = await ring(alice, bob);
    alice.send({ type: 'callHangup', callId: first });
    expect((await ended(bob, first)).reason).toBe('cancelled');
    const second = await ring(alice, bob);
    bob.send({ type: 'callHangup', callId: second });
    expect((await ended(alice, second)).reason).toBe('declined');
  });

  it('while it rings only the caller may signal (the early offer); the callee answers after its accept', async () => {
    const callId = await ring(alice, bob);
    // The caller's offer and candidates go to the callee at once.
    for (const data of [offer, candidate(1), candidate(2)]) alice.send({ type: 'signal', callId, data });
    await until(() => framesOf(bob, 'signal').length === 3);
    expect(framesOf(bob, 'signal')).toEqual(
      [offer, candidate(1), candidate(2)].map((data) => ({ type: 'signal', callId, from: alice.user!.id, data })),
    );
    // Nothing from the callee, nor media state, before the accept.
    bob.send({ type: 'signal', callId, data: answer, ref: 'early-answer' });
    expect((await bob.error('call_state')).ref).toBe('early-answer');
    alice.send({ type: 'callMedia', callId, audio: false, video: false, ref: 'early-media' });
    expect((await alice.next('error', (m) => m.ref === 'early-media')).code).toBe('call_state');
    await pingPong(alice);
    expect(framesOf(alice, 'signal')).toEqual([]);
    // The callee accepts and answers at once, without waiting for callAccepted: the caller hears
    // the accept first, then the answer.
    const from = alice.mark();
    bob.send({ type: 'callAccept', callId, media: 'video' });
    bob.send({ type: 'signal', callId, data: answer });
    await alice.next('signal', () => true, 5000, from);
    const seen = alice.received.slice(from).filter((m) => m.type === 'callAccepted' || m.type === 'signal');
    expect(seen).toEqual([
      { type: 'callAccepted', callId, media: 'video' },
      { type: 'signal', callId, from: bob.user!.id, data: answer },
    ]);
  });

  it('refuses calls to oneself or to users outside one’s rooms, and signals for calls one is not in', async () => {
    alice.send({ type: 'callInvite', to: alice.user!.id, media: 'audio', ref: 'me' });
    expect((await alice.error('call_self')).ref).toBe('me');
    alice.send({ type: 'callInvite', to: 'u-ghost', media: 'audio', ref: 'ghost' });
    expect((await alice.error('user_not_found')).ref).toBe('ghost');
    carol.send({ type: 'leave', room: 'lobby' });
    await carol.next('roomLeft');
    const from = alice.mark();
    alice.send({ type: 'callInvite', to: carol.user!.id, media: 'audio', ref: 'apart' });
    expect((await alice.error('user_not_found', from)).ref).toBe('apart');

    const callId = await ring(alice, bob);
    await accept(alice, bob, callId);
    carol.send({ type: 'signal', callId, data: offer, ref: 'intrude' });
    carol.send({ type: 'callHangup', callId, ref: 'hangup-theirs' });
    carol.send({ type: 'callMedia', callId, audio: true, video: true, ref: 'media-theirs' });
    for (const ref of ['intrude', 'hangup-theirs', 'media-theirs']) {
      expect((await carol.next('error', (m) => m.ref === ref)).code).toBe('call_not_found');
    }
    await pingPong(alice);
    await pingPong(bob);
    expect(framesOf(alice, 'signal')).toEqual([]);
    expect(framesOf(bob, 'signal')).toEqual([]);
    expect(framesOf(alice, 'callEnded')).toEqual([]);
  });

  it('a party’s disconnect ends the call only after the grace period, as disconnected', async () => {
    const callId = await ring(alice, bob);
    await accept(alice, bob, callId);
    const from = alice.mark();
    const dropped = Date.now();
    bob.ws.terminate();
    const end = await ended(alice, callId, from);
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(end).toEqual({ type: 'callEnded', callId, reason: 'disconnected', ref: null });
    await alice.next('members', (m) => m.left.includes(bob.user!.id), 5000, from);
    // Alice is free again.
    const cf = carol.mark();
    alice.send({ type: 'callInvite', to: carol.user!.id, media: 'audio' });
    await carol.next('callIncoming', () => true, 5000, cf);
  });

  it('a ringing call to someone who disconnects ends as disconnected after the grace period', async () => {
    const callId = await ring(alice, bob);
    bob.ws.terminate();
    expect((await ended(alice, callId)).reason).toBe('disconnected');
  });

  it('a call survives a signaling reconnect within the grace period', async () => {
    const callId = await ring(alice, bob);
    await accept(alice, bob, callId);
    alice.send({ type: 'signal', callId, data: offer });
    await bob.next('signal');
    const token = bob.token!;
    const af = alice.mark();

    await dropAndWaitDetached(t, bob);
    // Alice renegotiates (an ICE restart) while Bob is away: the server keeps it for him.
    const whileAway = [offer, candidate(7), endOfCandidates];
    for (const data of whileAway) alice.send({ type: 'signal', callId, data });
    alice.send({ type: 'callMedia', callId, audio: true, video: true });
    await pingPong(alice);

    const again = client();
    const welcome = await again.resume(token);
    expect(welcome.calls).toEqual([
      {
        callId,
        peer: { id: alice.user!.id, name: 'Alice', presence: 'inCall', kind: 'parley' },
        media: 'video',
        role: 'callee',
        state: 'active',
      },
    ]);
    await again.next('callMedia');
    expect(again.received.filter((m) => m.type === 'signal' || m.type === 'callMedia')).toEqual([
      ...whileAway.map((data) => ({ type: 'signal', callId, from: alice.user!.id, data })),
      { type: 'callMedia', callId, from: alice.user!.id, audio: true, video: true },
    ]);

    // The call goes on: Bob answers over the new connection.
    again.send({ type: 'signal', callId, data: answer });
    expect((await alice.next('signal', () => true, 5000, af)).from).toBe(bob.user!.id);
    // Well past the grace period, nobody saw the call end.
    await new Promise((r) => setTimeout(r, GRACE_MS + 100));
    expect(framesOf(alice, 'callEnded')).toEqual([]);
    expect(framesOf(again, 'callEnded')).toEqual([]);
    expect(leftOf(alice)).toEqual([]);
    again.send({ type: 'callHangup', callId });
    expect((await ended(alice, callId, af)).reason).toBe('hangup');
  });

  it('the caller learns of a ringing call again when resuming', async () => {
    const callId = await ring(alice, bob, 'audio');
    const token = alice.token!;
    await dropAndWaitDetached(t, alice);
    const again = client();
    const welcome = await again.resume(token);
    expect(welcome.calls).toEqual([
      {
        callId,
        peer: { id: bob.user!.id, name: 'Bob', presence: 'online', kind: 'parley' },
        media: 'audio',
        role: 'caller',
        state: 'ringing',
      },
    ]);
    bob.send({ type: 'callAccept', callId, media: 'audio' });
    await again.next('callAccepted');
  });
});

describe('call timeout', () => {
  const { t, clients } = useParleyServer({ callTimeoutMs: 300 });

  it('an unanswered call ends with timeout for both sides', async () => {
    const alice = new ParleyClient(t.url);
    const bob = new ParleyClient(t.url);
    clients.push(alice, bob);
    await alice.hello('Alice');
    await bob.hello('Bob');
    const started = Date.now();
    alice.send({ type: 'callInvite', to: bob.user!.id, media: 'audio' });
    const { callId } = await bob.next('callIncoming');
    for (const c of [alice, bob]) {
      expect(await c.next('callEnded')).toEqual({
        type: 'callEnded',
        callId,
        reason: 'timeout',
        ref: null,
      });
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    bob.send({ type: 'callAccept', callId, media: 'audio', ref: 'late' });
    expect((await bob.error('call_not_found')).ref).toBe('late');
  });

  it('an accepted call does not time out', async () => {
    const alice = new ParleyClient(t.url);
    const bob = new ParleyClient(t.url);
    clients.push(alice, bob);
    await alice.hello('Alice');
    await bob.hello('Bob');
    alice.send({ type: 'callInvite', to: bob.user!.id, media: 'audio' });
    const { callId } = await bob.next('callIncoming');
    bob.send({ type: 'callAccept', callId, media: 'audio' });
    await alice.next('callAccepted');
    await new Promise((r) => setTimeout(r, 400));
    expect(framesOf(alice, 'callEnded')).toEqual([]);
    alice.send({ type: 'signal', callId, data: offer });
    await bob.next('signal');
  });
});
