import { describe, expect, it } from 'vitest';
import { signedIn } from '../helpers/parley.js';
import {
  answerSdp,
  ChatClient,
  chatUrl,
  chatUser,
  iceCandidate,
  type LegacyFrame,
  loginUser,
  offerSdp,
  useLegacyServer,
} from '../helpers/legacy.js';

const { t, restart, userId } = useLegacyServer();

const sorted = (users: unknown): string[] => [...(users as string[])].sort();

/** Puts two chat-protocol clients in an active call, `caller` → `callee`. */
async function legacyCall(caller: ChatClient, callee: ChatClient): Promise<void> {
  const calleeFrom = callee.mark();
  const callerFrom = caller.mark();
  caller.sendJson({ type: 'video-offer', name: caller.name, target: callee.name, sdp: offerSdp });
  await callee.next('video-offer', () => true, calleeFrom);
  callee.sendJson({ type: 'video-answer', name: callee.name, target: caller.name, sdp: answerSdp });
  await caller.next('video-answer', () => true, callerFrom);
}

describe('legacy chat protocol: sign-in and user list', () => {
  it('sends an id first, agrees on the json subprotocol and lists the user after username', async () => {
    const c = new ChatClient(chatUrl(t), 'json');
    await c.opened;
    expect(c.ws.protocol).toBe('json');
    await c.next('id');
    expect(c.received[0]).toEqual({ type: 'id', id: expect.any(Number) as number });
    expect(await c.signIn('Lea')).toBe('Lea');
    expect(c.all('rejectusername')).toEqual([]);
    expect(c.all('userlist').at(-1)).toEqual({ type: 'userlist', users: ['Lea'] });
  });

  it('gives each connection its own id', async () => {
    const a = await chatUser(t, 'Ann');
    const b = await chatUser(t, 'Ben');
    expect(a.id).not.toBe(b.id);
  });

  it('renames a taken name (also a Parley user’s) and tells only that client with rejectusername', async () => {
    const a = await chatUser(t, 'Lea');
    const b = await chatUser(t, 'Lea');
    expect(b.name).toBe('Lea2');
    expect(b.all('rejectusername')).toEqual([{ type: 'rejectusername', id: b.id, name: 'Lea2' }]);
    expect(a.all('rejectusername')).toEqual([]);
    await a.next('userlist', (m) => sorted(m.users).join() === 'Lea,Lea2');

    const pia = await signedIn(t.url, 'Pia');
    const c = await chatUser(t, 'pia');
    expect(c.name).toBe('pia2');
    pia.close();
  });

  it('strips characters a name may not hold and falls back to guest when nothing is left', async () => {
    const zoe = await chatUser(t, '<b>Zoë</b>');
    expect(zoe.name).toBe('bZoëb');
    expect(zoe.all('rejectusername')).toEqual([{ type: 'rejectusername', id: zoe.id, name: 'bZoëb' }]);
    const g1 = await chatUser(t, '<>&"');
    expect(g1.name).toBe('guest');
    const g2 = await chatUser(t, '');
    expect(g2.name).toBe('guest2');
    const long = await chatUser(t, 'x'.repeat(100));
    expect(long.name).toBe('x'.repeat(32));
  });

  it('lists named users only, Parley and login users included, and never to unnamed connections', async () => {
    const unnamed = new ChatClient(chatUrl(t), 'json');
    await unnamed.next('id');
    const pia = await signedIn(t.url, 'Pia');
    const lou = await loginUser(t, 'Lou');
    const lea = await chatUser(t, 'Lea');
    await lea.next('userlist', (m) => sorted(m.users).join() === 'Lea,Lou,Pia');
    expect(unnamed.all('userlist')).toEqual([]);
    expect(await unnamed.quiet(100)).toEqual([]);
    pia.close();
    lou.close();
  });

  it('sends a fresh user list after a disconnect', async () => {
    const a = await chatUser(t, 'Ann');
    const b = await chatUser(t, 'Ben');
    await a.next('userlist', (m) => sorted(m.users).join() === 'Ann,Ben');
    const from = a.mark();
    b.close();
    expect(await a.next('userlist', () => true, from)).toEqual({ type: 'userlist', users: ['Ann'] });
  });

  it('coalesces user lists: 50 sign-ins in a burst cost far fewer than 50×50 frames', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `user${i}`);
    const clients = await Promise.all(names.map((n) => chatUser(t, n)));
    await Promise.all(clients.map((c) => c.next('userlist', (m) => (m.users as string[]).length === 50)));
    const lists = clients.flatMap((c) => c.all('userlist'));
    // Uncoalesced, client i would get a list for every sign-in from its own on: 1275 frames.
    expect(lists.length).toBeLessThan(400);
    for (const c of clients) {
      const mine = c.all('userlist').map((m) => JSON.stringify(m));
      // Never the same list twice in a row.
      expect(mine.every((json, i) => i === 0 || json !== mine[i - 1])).toBe(true);
      expect(sorted(c.all('userlist').at(-1)!.users)).toEqual([...names].sort());
    }
  });
});

describe('legacy chat protocol: chat', () => {
  it('stores a legacy message in the lobby, delivers it to Parley users and echoes it to the sender', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const joined = (await pia.next('members', (m) => m.joined.some((j) => j.name === 'Lea'))).joined.find(
      (j) => j.name === 'Lea',
    )!;
    expect(joined.kind).toBe('chat');

    lea.say('hello there');
    const got = await pia.next('message');
    expect(got.message).toMatchObject({
      from: { id: joined.id, name: 'Lea' },
      room: 'lobby',
      text: 'hello there',
    });
    const echo = await lea.next('message');
    expect(echo).toEqual({ type: 'message', name: 'Lea', text: 'hello there', date: got.message.ts });

    // Every legacy message is a new one, even with the same text.
    const from = pia.mark();
    lea.say('hello there');
    const again = await pia.next('message', () => true, 3000, from);
    expect(again.message.id).toBeGreaterThan(got.message.id);
    expect(again.message.clientId).not.toBe(got.message.clientId);

    pia.send({ type: 'history', room: 'lobby' });
    const history = await pia.next('history');
    expect(history.messages.map((m) => m.text)).toEqual(['hello there', 'hello there']);
    pia.close();
  });

  it('delivers Parley lobby messages to legacy clients with the text HTML-escaped', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    pia.send({ type: 'chat', clientId: 'c1', room: 'lobby', text: `a < b & "c" 'd' > e` });
    const got = await lea.next('message');
    expect(got).toEqual({
      type: 'message',
      name: 'Pia',
      text: 'a &lt; b &amp; &quot;c&quot; &#39;d&#39; &gt; e',
      date: expect.any(Number) as number,
    });
    pia.close();
  });

  it('does not deliver messages of other rooms to legacy clients', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    pia.send({ type: 'join', room: 'side' });
    await pia.next('roomJoined', (m) => m.room === 'side');
    pia.send({ type: 'chat', clientId: 'c1', room: 'side', text: 'elsewhere' });
    await pia.next('ack');
    expect((await lea.quiet(100)).filter((m) => m.type === 'message')).toEqual([]);
    pia.close();
  });

  it('sends a message with a target to that user only, both ways between protocols', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');

    lea.say('psst Pia', 'Pia');
    const dm = await pia.next('message');
    expect(dm.message).toMatchObject({ from: { id: userId('Lea'), name: 'Lea' }, to: pia.user!.id, text: 'psst Pia' });
    expect(await lea.next('message')).toMatchObject({ name: 'Lea', text: 'psst Pia', target: 'Pia' });

    lea.say('psst Max', 'max');
    expect(await max.next('message')).toMatchObject({ name: 'Lea', text: 'psst Max', target: 'Max' });

    pia.send({ type: 'dm', clientId: 'd1', to: userId('Lea'), text: 'back at you <3' });
    expect(await lea.next('message', (m) => m.name === 'Pia')).toEqual({
      type: 'message',
      name: 'Pia',
      text: 'back at you &lt;3',
      date: expect.any(Number) as number,
      target: 'Lea',
    });

    // Max saw only the message meant for him; Pia none of Lea's other ones.
    await pia.quiet(50);
    expect(max.all('message').map((m) => m.text)).toEqual(['psst Max']);
    expect(pia.received.filter((m) => m.type === 'message')).toHaveLength(1);
    pia.close();
  });

  it('refuses a direct message to an unknown or a login user and keeps the connection', async () => {
    const lea = await chatUser(t, 'Lea');
    const lou = await loginUser(t, 'Lou');
    lea.say('anyone?', 'Nobody');
    expect(await lea.next('error')).toMatchObject({ code: 'user_not_found' });
    lea.say('hi Lou', 'Lou');
    expect(await lea.next('error', (m) => m.code === 'not_supported')).toMatchObject({ type: 'error' });
    lea.say('still here');
    expect(await lea.next('message')).toMatchObject({ text: 'still here' });
    expect(lou.received.filter((m) => m.type === 'message')).toEqual([]);
    lou.close();
  });
});

describe('legacy chat protocol: calls', () => {
  it('a Parley user calls a legacy client: accepted at once, signaling relayed both ways, re-offer allowed', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const leaId = userId('Lea');
    pia.send({ type: 'callInvite', to: leaId, media: 'video' });
    const { callId } = await pia.next('callAccepted');

    pia.send({ type: 'signal', callId, data: { kind: 'description', description: offerSdp } });
    expect(await lea.next('video-offer')).toEqual({ type: 'video-offer', name: 'Pia', target: 'Lea', sdp: offerSdp });
    pia.send({ type: 'signal', callId, data: { kind: 'candidate', candidate: iceCandidate } });
    pia.send({ type: 'signal', callId, data: { kind: 'candidate', candidate: null } });
    expect(await lea.next('new-ice-candidate')).toEqual({
      type: 'new-ice-candidate',
      name: 'Pia',
      target: 'Lea',
      candidate: iceCandidate,
    });

    lea.sendJson({ type: 'video-answer', name: 'Lea', target: 'Pia', sdp: answerSdp });
    const answer = await pia.next('signal');
    expect(answer).toEqual({
      type: 'signal',
      callId,
      from: leaId,
      data: { kind: 'description', description: answerSdp },
    });
    lea.sendJson({ type: 'new-ice-candidate', target: 'Pia', candidate: iceCandidate });
    await pia.next('signal', (m) => m.data.kind === 'candidate');

    // The MDN callee offers again after answering.
    const from = pia.mark();
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Pia', sdp: offerSdp });
    const reoffer = await pia.next('signal', () => true, 3000, from);
    expect(reoffer.data).toEqual({ kind: 'description', description: offerSdp });
    pia.send({ type: 'signal', callId, data: { kind: 'description', description: answerSdp } });
    expect(await lea.next('video-answer')).toEqual({ type: 'video-answer', name: 'Pia', target: 'Lea', sdp: answerSdp });

    // The null end-of-candidates marker is not passed on (legacy clients would throw on it).
    expect(lea.all('new-ice-candidate')).toHaveLength(1);

    // No echo of its own hang-up to the legacy client.
    lea.sendJson({ type: 'hang-up', name: 'Lea', target: 'Pia' });
    expect(await pia.next('callEnded')).toMatchObject({ callId, reason: 'hangup' });
    await lea.quiet(100);
    expect(lea.all('hang-up')).toEqual([]);
    pia.close();
  });

  it('tells the legacy client with hang-up when the Parley user hangs up', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    pia.send({ type: 'callInvite', to: userId('Lea'), media: 'audio' });
    const { callId } = await pia.next('callAccepted');
    pia.send({ type: 'callHangup', callId });
    expect(await lea.next('hang-up')).toEqual({ type: 'hang-up', name: 'Pia', target: 'Lea' });
    pia.close();
  });

  it('a legacy client calls a Parley user: it rings with the offer and candidates (an early offer); the answer comes after accept', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const from = pia.mark();
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Pia', sdp: offerSdp });
    const incoming = await pia.next('callIncoming', () => true, 3000, from);
    expect(incoming.from).toMatchObject({ id: userId('Lea'), name: 'Lea', kind: 'chat' });
    expect(incoming.media).toBe('video');
    lea.sendJson({ type: 'new-ice-candidate', target: 'Pia', candidate: iceCandidate });
    lea.sendJson({ type: 'new-ice-candidate', target: null, candidate: { ...iceCandidate, sdpMLineIndex: 1 } });
    await pia.next('signal', (m) => m.data.kind === 'candidate' && m.data.candidate?.sdpMLineIndex === 1, 3000, from);
    // While it rings: callIncoming first, then the offer and the candidates in the order sent.
    const frames = pia.received.slice(from).filter((m) => m.type === 'callIncoming' || m.type === 'signal');
    expect(frames.map((m) => (m.type === 'signal' ? m.data : m.type))).toEqual([
      'callIncoming',
      { kind: 'description', description: offerSdp },
      { kind: 'candidate', candidate: iceCandidate },
      { kind: 'candidate', candidate: { ...iceCandidate, sdpMLineIndex: 1 } },
    ]);
    // An answer from the caller's side has nothing to answer while it rings; the connection lives.
    const leaFrom = lea.mark();
    lea.sendJson({ type: 'video-answer', name: 'Lea', target: 'Pia', sdp: answerSdp });
    expect(await lea.next('error', () => true, leaFrom)).toMatchObject({ code: 'call_state' });
    // Nor may the callee answer before it accepts.
    pia.send({ type: 'signal', callId: incoming.callId, data: { kind: 'description', description: answerSdp } });
    expect(await pia.next('error', () => true, 3000, from)).toMatchObject({ code: 'call_state' });
    expect((await lea.quiet(100)).filter((m) => m.type === 'video-answer')).toEqual([]);

    const accepted = pia.mark();
    pia.send({ type: 'callAccept', callId: incoming.callId, media: 'video' });
    pia.send({ type: 'signal', callId: incoming.callId, data: { kind: 'description', description: answerSdp } });
    expect(await lea.next('video-answer')).toEqual({ type: 'video-answer', name: 'Pia', target: 'Lea', sdp: answerSdp });
    await pia.next('callAccepted', () => true, 3000, accepted);
    // Nothing was delivered twice: the early offer is the only one.
    expect(pia.received.slice(accepted).filter((m) => m.type === 'signal')).toEqual([]);
    pia.close();
  });

  it('tells the legacy caller with hang-up when the Parley user declines', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Pia', sdp: offerSdp });
    const incoming = await pia.next('callIncoming');
    pia.send({ type: 'callDecline', callId: incoming.callId });
    expect(await lea.next('hang-up')).toEqual({ type: 'hang-up', name: 'Pia', target: 'Lea' });
    // The early offer reached Pia's app while it rang; nothing went the other way.
    expect(pia.received.filter((m) => m.type === 'signal').map((m) => m.data)).toEqual([
      { kind: 'description', description: offerSdp },
    ]);
    expect(lea.all('video-answer')).toEqual([]);
    expect(t.server.hub.callCount).toBe(0);
    pia.close();
  });

  it('tells the legacy caller with hang-up when the Parley user is busy', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const max = await chatUser(t, 'Max');
    pia.send({ type: 'callInvite', to: userId('Max'), media: 'video' });
    await pia.next('callAccepted');
    const lea = await chatUser(t, 'Lea');
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Pia', sdp: offerSdp });
    expect(await lea.next('hang-up')).toEqual({ type: 'hang-up', name: 'Pia', target: 'Lea' });
    expect(pia.received.filter((m) => m.type === 'callIncoming')).toEqual([]);
    expect(max.all('hang-up')).toEqual([]);
    pia.close();
  });

  it('tells the legacy caller with hang-up when the call rings out', async () => {
    await restart({ userlistCoalesceMs: 20, callTimeoutMs: 150 });
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Pia', sdp: offerSdp });
    await pia.next('callIncoming');
    expect(await lea.next('hang-up')).toEqual({ type: 'hang-up', name: 'Pia', target: 'Lea' });
    expect(await pia.next('callEnded')).toMatchObject({ reason: 'timeout' });
    pia.close();
  });

  it('a legacy hang-up while the Parley user is still ringing cancels the call', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Pia', sdp: offerSdp });
    await pia.next('callIncoming');
    lea.sendJson({ type: 'hang-up', name: 'Lea', target: null });
    expect(await pia.next('callEnded')).toMatchObject({ reason: 'cancelled' });
    pia.close();
  });

  it('two legacy clients call each other, with the callee’s re-offer and candidates both ways', async () => {
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Max', sdp: offerSdp });
    lea.sendJson({ type: 'new-ice-candidate', target: 'Max', candidate: iceCandidate });
    expect(await max.next('video-offer')).toEqual({ type: 'video-offer', name: 'Lea', target: 'Max', sdp: offerSdp });
    expect(await max.next('new-ice-candidate')).toMatchObject({ name: 'Lea', candidate: iceCandidate });
    max.sendJson({ type: 'video-answer', name: 'Max', target: 'Lea', sdp: answerSdp });
    expect(await lea.next('video-answer')).toEqual({ type: 'video-answer', name: 'Max', target: 'Lea', sdp: answerSdp });
    max.sendJson({ type: 'video-offer', name: 'Max', target: 'Lea', sdp: offerSdp });
    expect(await lea.next('video-offer')).toEqual({ type: 'video-offer', name: 'Max', target: 'Lea', sdp: offerSdp });
    lea.sendJson({ type: 'video-answer', name: 'Lea', target: 'Max', sdp: answerSdp });
    await max.next('video-answer');
    max.sendJson({ type: 'new-ice-candidate', target: 'Lea', candidate: iceCandidate });
    expect(await lea.next('new-ice-candidate')).toMatchObject({ name: 'Max', target: 'Lea' });
    max.sendJson({ type: 'hang-up', name: 'Max', target: 'Lea' });
    expect(await lea.next('hang-up')).toEqual({ type: 'hang-up', name: 'Max', target: 'Lea' });
    expect(t.server.hub.callCount).toBe(0);
  });

  it('refuses an offer to an unknown user, to oneself, or while in another call', async () => {
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    const ann = await chatUser(t, 'Ann');
    lea.sendJson({ type: 'video-offer', target: 'Nobody', sdp: offerSdp });
    expect(await lea.next('error')).toMatchObject({ code: 'user_not_found' });
    lea.sendJson({ type: 'video-offer', target: 'Lea', sdp: offerSdp });
    expect(await lea.next('error', (m) => m.code === 'call_self')).toBeDefined();
    await legacyCall(lea, max);
    lea.sendJson({ type: 'video-offer', target: 'Ann', sdp: offerSdp });
    expect(await lea.next('error', (m) => m.code === 'already_in_call')).toBeDefined();
    lea.sendJson({ type: 'video-answer', target: 'Ann', sdp: answerSdp });
    expect(await lea.next('error', (m) => m.code === 'call_not_found')).toBeDefined();
    lea.sendJson({ type: 'video-offer', target: 'Max', sdp: answerSdp });
    expect(await lea.next('error', (m) => m.code === 'bad_frame')).toBeDefined();
    expect(ann.all('video-offer')).toEqual([]);
  });
});

describe('legacy chat protocol: faults of the original server', () => {
  it('answers invalid JSON with an error and keeps every connection open', async () => {
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    lea.sendRaw('{"type": "message", "text": ');
    expect(await lea.next('error')).toMatchObject({ code: 'bad_json', message: expect.any(String) as string });
    lea.sendRaw('[1, 2, 3]');
    await lea.next('error', (m) => m.code === 'bad_json' && lea.all('error').length === 2);
    lea.say('after the bad frame');
    expect(await max.next('message')).toMatchObject({ name: 'Lea', text: 'after the bad frame' });
    expect(lea.closed).toBeNull();
  });

  it('ignores a missing or unknown id in username and message: the connection is the identity', async () => {
    const max = await chatUser(t, 'Max');
    const c = new ChatClient(chatUrl(t), 'json');
    await c.next('id');
    c.sendJson({ type: 'message', text: 'too early' });
    expect(await c.next('error')).toMatchObject({ code: 'not_signed_in' });
    c.sendJson({ type: 'username', name: 'Noid' });
    await max.next('userlist', (m) => (m.users as string[]).includes('Noid'));
    c.sendJson({ type: 'message', text: 'unknown id', id: 987654321, date: 1 });
    c.sendJson({ type: 'message', text: 'no id' });
    await max.next('message', (m) => m.text === 'no id');
    expect(max.all('message').map((m) => [m.name, m.text])).toEqual([
      ['Noid', 'unknown id'],
      ['Noid', 'no id'],
    ]);
    c.sendJson({ type: 'username', name: 'Again', id: c.id });
    expect(await c.next('error', (m) => m.code === 'already_signed_in')).toBeDefined();
  });

  it('answers a message without text with an error and keeps the connection', async () => {
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    lea.sendJson({ type: 'message', id: lea.id, date: Date.now() });
    lea.sendJson({ type: 'message', text: '   ', id: lea.id });
    lea.sendJson({ type: 'message', text: 42, id: lea.id });
    await lea.next('error', () => lea.all('error').length === 3);
    expect(lea.all('error').map((m) => m.code)).toEqual(['bad_frame', 'bad_frame', 'bad_frame']);
    lea.say('fine now');
    expect(await max.next('message')).toMatchObject({ text: 'fine now' });
    expect(max.all('message')).toHaveLength(1);
  });

  it('serves a connection that does not offer the json subprotocol', async () => {
    const max = await chatUser(t, 'Max');
    const plain = new ChatClient(chatUrl(t));
    await plain.opened;
    expect(plain.ws.protocol).toBe('');
    expect(await plain.signIn('Plain')).toBe('Plain');
    plain.say('no subprotocol here');
    expect(await max.next('message')).toMatchObject({ name: 'Plain', text: 'no subprotocol here' });
  });

  it('takes the sender from the connection, never from id or name in the frame', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    const mal = await chatUser(t, 'Mallory');
    mal.sendJson({ type: 'message', text: 'I am Lea', id: lea.id, name: 'Lea', date: 0 });
    expect(await max.next('message')).toMatchObject({ name: 'Mallory', text: 'I am Lea' });
    expect(await lea.next('message')).toMatchObject({ name: 'Mallory' });
    expect((await pia.next('message')).message.from).toEqual({ id: userId('Mallory'), name: 'Mallory' });

    mal.sendJson({ type: 'video-offer', name: 'Lea', id: lea.id, target: 'Max', sdp: offerSdp });
    expect(await max.next('video-offer')).toMatchObject({ name: 'Mallory', target: 'Max' });
    pia.close();
  });

  it('ends only the sender’s own call on a hang-up with target null', async () => {
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    const ann = await chatUser(t, 'Ann');
    const ben = await chatUser(t, 'Ben');
    const bystander = await chatUser(t, 'Cy');
    await legacyCall(lea, max);
    await legacyCall(ann, ben);
    expect(t.server.hub.callCount).toBe(2);

    lea.sendJson({ type: 'hang-up', name: 'Lea', target: null });
    expect(await max.next('hang-up')).toEqual({ type: 'hang-up', name: 'Lea', target: 'Max' });
    await ben.quiet(100);
    for (const c of [lea, ann, ben, bystander]) expect(c.all('hang-up')).toEqual([]);
    expect(t.server.hub.callCount).toBe(1);

    // Ann and Ben's call goes on.
    ann.sendJson({ type: 'new-ice-candidate', target: 'Ben', candidate: iceCandidate });
    expect(await ben.next('new-ice-candidate')).toMatchObject({ name: 'Ann' });
  });

  it('tells the peer with hang-up when a caller disconnects', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    await legacyCall(lea, max);
    lea.close();
    expect(await max.next('hang-up')).toEqual({ type: 'hang-up', name: 'Lea', target: 'Max' });
    await max.next('userlist', (m) => sorted(m.users).join() === 'Max,Pia');

    // And a Parley peer hears of it as well.
    max.sendJson({ type: 'video-offer', target: 'Pia', sdp: offerSdp });
    const incoming = await pia.next('callIncoming');
    pia.send({ type: 'callAccept', callId: incoming.callId, media: 'video' });
    await pia.next('signal');
    max.close();
    expect(await pia.next('callEnded')).toMatchObject({ callId: incoming.callId, reason: 'disconnected' });
    pia.close();
  });

  it('escapes the unclosed-tag XSS <img src=x onerror=...// for legacy clients; Parley gets plain text', async () => {
    const payload = '<img src=x onerror=alert(document.cookie)//';
    const escaped = '&lt;img src=x onerror=alert(document.cookie)//';
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    lea.say(payload);
    expect((await max.next('message')).text).toBe(escaped);
    expect((await lea.next('message')).text).toBe(escaped);
    expect((await pia.next('message')).message.text).toBe(payload);

    pia.send({ type: 'chat', clientId: 'x1', room: 'lobby', text: payload });
    expect((await max.next('message', (m) => m.name === 'Pia')).text).toBe(escaped);
    const texts = max.all('message').map((m) => m.text as string);
    expect(texts.some((s) => /[<>"']/.test(s))).toBe(false);
    pia.close();
  });
});

describe('legacy chat protocol: limits', () => {
  it('answers an unknown type with an error and relays nothing', async () => {
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    lea.sendJson({ type: 'evil', target: 'Max', payload: 1 });
    lea.sendJson({ text: 'no type' });
    await lea.next('error', () => lea.all('error').length === 2);
    expect(lea.all('error').map((m) => m.code)).toEqual(['unknown_type', 'unknown_type']);
    expect((await max.quiet(50)).filter((m: LegacyFrame) => m.type !== 'userlist')).toEqual([]);
  });

  it('answers an oversized frame with frame_too_large and keeps the connection', async () => {
    const lea = await chatUser(t, 'Lea');
    lea.say('x'.repeat(t.config.maxFrameBytes + 10));
    expect(await lea.next('error')).toMatchObject({ code: 'frame_too_large' });
    lea.say('small');
    expect(await lea.next('message')).toMatchObject({ text: 'small' });
  });

  it('closes the connection with 1003 on a binary frame, and only that one', async () => {
    const lea = await chatUser(t, 'Lea');
    const max = await chatUser(t, 'Max');
    lea.sendRaw(Buffer.from([1, 2, 3]));
    expect((await lea.waitClose()).code).toBe(1003);
    await max.next('userlist', (m) => sorted(m.users).join() === 'Max');
    expect(max.closed).toBeNull();
  });

  it('rate-limits a flooding client and finally closes it with 1008', async () => {
    await restart({ userlistCoalesceMs: 20, rateLimit: 1, rateBurst: 5 });
    const lea = await chatUser(t, 'Lea');
    for (let i = 0; i < 8; i++) lea.say(`m${i}`);
    expect(await lea.next('error')).toMatchObject({ code: 'rate_limited' });
    for (let i = 0; i < 10; i++) lea.say(`more${i}`);
    expect((await lea.waitClose()).code).toBe(1008);
  });
});
