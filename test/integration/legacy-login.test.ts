import { describe, expect, it } from 'vitest';
import { signedIn } from '../helpers/parley.js';
import {
  answerSdp,
  chatUser,
  iceCandidate,
  LoginClient,
  loginUrl,
  loginUser,
  offerSdp,
  useLegacyServer,
} from '../helpers/legacy.js';

const { t, userId } = useLegacyServer();

/** Two login clients in a call, `a` calling `b`, with offer and answer exchanged as the demo does. */
async function loginCall(a: LoginClient, aName: string, b: LoginClient, bName: string): Promise<void> {
  const aFrom = a.mark();
  const bFrom = b.mark();
  a.sendJson({ type: 'offer', offer: offerSdp, name: bName });
  await b.next('offer', () => true, bFrom);
  b.sendJson({ type: 'answer', answer: answerSdp, name: aName });
  await a.next('answer', () => true, aFrom);
}

describe('legacy login protocol: login', () => {
  it('sends nothing before login (no "Hello world") and answers login with success', async () => {
    const c = new LoginClient(loginUrl(t));
    await c.opened;
    expect(c.ws.protocol).toBe('');
    expect(await c.quiet(100)).toEqual([]);
    expect(await c.login('Lou')).toBe(true);
    expect(c.received).toEqual([{ type: 'login', success: true }]);
  });

  it('refuses a taken name, whoever holds it, and a second login on one connection', async () => {
    const lou = await loginUser(t, 'Lou');
    const dup = new LoginClient(loginUrl(t));
    expect(await dup.login('Lou')).toBe(false);
    expect(await dup.login('lou')).toBe(false);
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    expect(await dup.login('Pia')).toBe(false);
    expect(await dup.login('Lea')).toBe(false);
    expect(await dup.login('Dee')).toBe(true);
    expect(await dup.login('Another')).toBe(false);
    expect(t.server.hub.findByName('Another')).toBeUndefined();
    expect(lou.closed).toBeNull();
    pia.close();
    lea.close();
  });

  it('refuses a login without a usable name field, and cleans the name otherwise', async () => {
    const c = new LoginClient(loginUrl(t));
    await c.opened;
    c.sendJson({ type: 'login' });
    expect(await c.next('login')).toEqual({ type: 'login', success: false });
    expect(await c.login('<Lou>!')).toBe(true);
    expect(t.server.hub.findByName('Lou')?.kind).toBe('login');
    // Callers reach the user by the name its owner typed, since targets are cleaned the same way.
    const ann = await loginUser(t, 'Ann');
    ann.sendJson({ type: 'offer', offer: offerSdp, name: '<Lou>!' });
    expect(await c.next('offer')).toEqual({ type: 'offer', offer: offerSdp, name: 'Ann' });
  });

  it('puts login users in the lobby, where Parley users see them', async () => {
    const pia = await signedIn(t.url, 'Pia');
    await loginUser(t, 'Lou');
    const joined = await pia.next('members', (m) => m.joined.some((j) => j.name === 'Lou'));
    expect(joined.joined.find((j) => j.name === 'Lou')).toMatchObject({
      id: userId('Lou'),
      kind: 'login',
      presence: 'online',
    });
    pia.close();
  });

  it('refuses call frames before login', async () => {
    const c = new LoginClient(loginUrl(t));
    await c.opened;
    c.sendJson({ type: 'offer', offer: offerSdp, name: 'Someone' });
    expect(await c.next('error')).toMatchObject({ code: 'not_signed_in' });
    expect(await c.login('Lou')).toBe(true);
  });
});

describe('legacy login protocol: calls between login clients', () => {
  it('relays offer, answer and candidates, naming the caller to the callee', async () => {
    const ann = await loginUser(t, 'Ann');
    const ben = await loginUser(t, 'Ben');
    ann.sendJson({ type: 'offer', offer: offerSdp, name: 'Ben' });
    expect(await ben.next('offer')).toEqual({ type: 'offer', offer: offerSdp, name: 'Ann' });
    ann.sendJson({ type: 'candidate', candidate: iceCandidate, name: 'Ben' });
    expect(await ben.next('candidate')).toEqual({ type: 'candidate', candidate: iceCandidate });
    ben.sendJson({ type: 'answer', answer: answerSdp, name: 'Ann' });
    expect(await ann.next('answer')).toEqual({ type: 'answer', answer: answerSdp });
    ben.sendJson({ type: 'candidate', candidate: iceCandidate, name: 'Ann' });
    expect(await ann.next('candidate')).toEqual({ type: 'candidate', candidate: iceCandidate });
    expect(t.server.hub.callCount).toBe(1);
  });

  it('ends the call on leave and tells the peer, not the sender', async () => {
    const ann = await loginUser(t, 'Ann');
    const ben = await loginUser(t, 'Ben');
    await loginCall(ann, 'Ann', ben, 'Ben');
    ann.sendJson({ type: 'leave', name: 'Ben' });
    expect(await ben.next('leave')).toEqual({ type: 'leave' });
    await ann.quiet(100);
    expect(ann.all('leave')).toEqual([]);
    expect(t.server.hub.callCount).toBe(0);
  });

  it('tells the peer with leave when a user disconnects', async () => {
    const ann = await loginUser(t, 'Ann');
    const ben = await loginUser(t, 'Ben');
    await loginCall(ann, 'Ann', ben, 'Ben');
    ann.close();
    expect(await ben.next('leave')).toEqual({ type: 'leave' });
    expect(t.server.hub.findByName('Ann')).toBeUndefined();
  });

  it('survives leave and disconnect after the peer has gone', async () => {
    const ann = await loginUser(t, 'Ann');
    const ben = await loginUser(t, 'Ben');
    await loginCall(ann, 'Ann', ben, 'Ben');
    ben.close();
    await ann.next('leave');
    ann.sendJson({ type: 'leave', name: 'Ben' });
    ann.sendJson({ type: 'leave' });
    ann.sendJson({ type: 'leave', name: 'Nobody' });
    expect((await ann.quiet(100)).filter((m) => m.type === 'error')).toEqual([]);
    ann.close();
    await ann.waitClose();
    // The server and both names are fine.
    expect(await new LoginClient(loginUrl(t)).login('Ben')).toBe(true);
    expect(await new LoginClient(loginUrl(t)).login('Ann')).toBe(true);
  });

  it('does not end anyone else’s call on a leave naming a user in another call', async () => {
    const ann = await loginUser(t, 'Ann');
    const ben = await loginUser(t, 'Ben');
    const cid = await loginUser(t, 'Cid');
    const dee = await loginUser(t, 'Dee');
    await loginCall(ann, 'Ann', ben, 'Ben');
    await loginCall(cid, 'Cid', dee, 'Dee');
    ann.sendJson({ type: 'leave', name: 'Dee' });
    await dee.quiet(100);
    expect(dee.all('leave')).toEqual([]);
    expect(cid.all('leave')).toEqual([]);
    expect(t.server.hub.callCount).toBe(2);
  });

  it('refuses an offer to an unknown user and a malformed offer with an error', async () => {
    const ann = await loginUser(t, 'Ann');
    await loginUser(t, 'Ben');
    ann.sendJson({ type: 'offer', offer: offerSdp, name: 'Nobody' });
    expect(await ann.next('error')).toMatchObject({ code: 'user_not_found' });
    ann.sendJson({ type: 'offer', offer: { type: 'offer' }, name: 'Ben' });
    expect(await ann.next('error', (m) => m.code === 'bad_frame')).toBeDefined();
    ann.sendJson({ type: 'offer', offer: offerSdp });
    expect(await ann.next('error', () => ann.all('error').length === 3)).toMatchObject({ code: 'bad_frame' });
  });
});

describe('legacy login protocol: faults of the original server', () => {
  it('answers an unknown type or invalid JSON with "Command not found" and keeps the connection', async () => {
    const ann = await loginUser(t, 'Ann');
    ann.sendJson({ type: 'hack', name: 'x' });
    expect(await ann.next('error')).toEqual({ type: 'error', message: 'Command not found: hack' });
    ann.sendRaw('Hello world');
    expect(await ann.next('error', () => ann.all('error').length === 2)).toEqual({
      type: 'error',
      message: expect.stringMatching(/^Command not found: /) as string,
    });
    ann.sendJson({ name: 'no type' });
    expect(await ann.next('error', () => ann.all('error').length === 3)).toEqual({
      type: 'error',
      message: 'Command not found: undefined',
    });
    expect(ann.closed).toBeNull();
    expect(await new LoginClient(loginUrl(t)).login('Ben')).toBe(true);
  });

  it('closes only the sender on a binary frame, with 1003', async () => {
    const ann = await loginUser(t, 'Ann');
    const ben = await loginUser(t, 'Ben');
    ann.sendRaw(Buffer.from([0xff]));
    expect((await ann.waitClose()).code).toBe(1003);
    expect(ben.closed).toBeNull();
  });
});

describe('legacy login protocol: with Parley and chat users', () => {
  it('a Parley user calls a login user: offer, answer, candidates, then leave on hang-up', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lou = await loginUser(t, 'Lou');
    const louId = userId('Lou');
    pia.send({ type: 'callInvite', to: louId, media: 'video' });
    const { callId } = await pia.next('callAccepted');
    pia.send({ type: 'signal', callId, data: { kind: 'description', description: offerSdp } });
    expect(await lou.next('offer')).toEqual({ type: 'offer', offer: offerSdp, name: 'Pia' });
    pia.send({ type: 'signal', callId, data: { kind: 'candidate', candidate: iceCandidate } });
    expect(await lou.next('candidate')).toEqual({ type: 'candidate', candidate: iceCandidate });
    lou.sendJson({ type: 'answer', answer: answerSdp, name: 'Pia' });
    expect(await pia.next('signal')).toEqual({
      type: 'signal',
      callId,
      from: louId,
      data: { kind: 'description', description: answerSdp },
    });
    lou.sendJson({ type: 'candidate', candidate: iceCandidate, name: 'Pia' });
    expect((await pia.next('signal', (m) => m.data.kind === 'candidate')).data).toEqual({
      kind: 'candidate',
      candidate: iceCandidate,
    });
    pia.send({ type: 'callHangup', callId });
    expect(await lou.next('leave')).toEqual({ type: 'leave' });
    pia.close();
  });

  it('a login user calls a Parley user: declined → leave; the offer rings with the call; accepted → the answer goes back', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lou = await loginUser(t, 'Lou');
    lou.sendJson({ type: 'offer', offer: offerSdp, name: 'Pia' });
    const first = await pia.next('callIncoming');
    expect(first.from).toMatchObject({ name: 'Lou', kind: 'login' });
    pia.send({ type: 'callDecline', callId: first.callId });
    expect(await lou.next('leave')).toEqual({ type: 'leave' });

    const from = pia.mark();
    lou.sendJson({ type: 'offer', offer: offerSdp, name: 'Pia' });
    lou.sendJson({ type: 'candidate', candidate: iceCandidate, name: 'Pia' });
    const second = await pia.next('callIncoming', () => true, 3000, from);
    // The offer and the candidate arrive while it rings, after callIncoming.
    await pia.next('signal', (m) => m.data.kind === 'candidate', 3000, from);
    const early = pia.received.slice(from).filter((m) => m.type === 'callIncoming' || m.type === 'signal');
    expect(early.map((m) => (m.type === 'signal' ? m.data : m.type))).toEqual([
      'callIncoming',
      { kind: 'description', description: offerSdp },
      { kind: 'candidate', candidate: iceCandidate },
    ]);
    pia.send({ type: 'callAccept', callId: second.callId, media: 'video' });
    pia.send({ type: 'signal', callId: second.callId, data: { kind: 'description', description: answerSdp } });
    expect(await lou.next('answer')).toEqual({ type: 'answer', answer: answerSdp });
    lou.sendJson({ type: 'leave', name: 'Pia' });
    expect(await pia.next('callEnded', (m) => m.callId === second.callId)).toMatchObject({ reason: 'hangup' });
    pia.close();
  });

  it('a chat-protocol client and a login client call each other', async () => {
    const lea = await chatUser(t, 'Lea');
    const lou = await loginUser(t, 'Lou');
    lea.sendJson({ type: 'video-offer', name: 'Lea', target: 'Lou', sdp: offerSdp });
    expect(await lou.next('offer')).toEqual({ type: 'offer', offer: offerSdp, name: 'Lea' });
    lou.sendJson({ type: 'answer', answer: answerSdp, name: 'Lea' });
    expect(await lea.next('video-answer')).toEqual({ type: 'video-answer', name: 'Lou', target: 'Lea', sdp: answerSdp });
    lea.sendJson({ type: 'new-ice-candidate', target: 'Lou', candidate: iceCandidate });
    expect(await lou.next('candidate')).toEqual({ type: 'candidate', candidate: iceCandidate });
    lou.sendJson({ type: 'leave', name: 'Lea' });
    expect(await lea.next('hang-up')).toEqual({ type: 'hang-up', name: 'Lou', target: 'Lea' });
  });

  it('has no chat: direct messages to login users are refused and room chat does not reach them', async () => {
    const pia = await signedIn(t.url, 'Pia');
    const lea = await chatUser(t, 'Lea');
    const lou = await loginUser(t, 'Lou');
    pia.send({ type: 'dm', clientId: 'd1', to: userId('Lou'), text: 'hi' });
    expect(await pia.error('not_supported')).toBeDefined();
    pia.send({ type: 'chat', clientId: 'c1', room: 'lobby', text: 'hello lobby' });
    expect(await lea.next('message')).toMatchObject({ name: 'Pia', text: 'hello lobby' });
    lea.say('and from Lea');
    await pia.next('message');
    expect(await lou.quiet(100)).toEqual([]);
    expect(lou.received).toEqual([{ type: 'login', success: true }]);
    pia.close();
  });
});
