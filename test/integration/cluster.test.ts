/**
 * Two (or three) Parley instances joined by a real Redis (REDIS_URL) over one real PostgreSQL
 * (DATABASE_URL): users on different instances see each other, chat, send DMs and call each other;
 * names are unique across instances; legacy clients take part; a dead instance's users expire
 * after the grace period and their call peers are told, or resume on another instance; losing
 * Redis makes /readyz say not ready until it is back, and chat sent meanwhile still arrives.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { ChatMessage, Member } from '../../src/protocol/protocol.js';
import type { Config } from '../../src/server/config.js';
import { closeAll, framesOf, joinedOf, leftOf, pingPong, until } from '../helpers/integration.js';
import { answerSdp, ChatClient, iceCandidate, LoginClient, offerSdp } from '../helpers/legacy.js';
import { type Running, startMain } from '../helpers/mainProcess.js';
import { ParleyClient, startServer, type TestServer } from '../helpers/parley.js';
import { postgresTest } from '../helpers/postgres.js';
import { type RedisHandle, redisTest } from '../helpers/redis.js';

const pgt = postgresTest();
const rt = redisTest();

const describeBoth = (name: string, body: () => void) => {
  if (!pgt.available) pgt.describe(name, body);
  else rt.describe(name, body);
};

describeBoth('instances joined by Redis', () => {
  let redis: RedisHandle;
  const servers: TestServer[] = [];
  const clients: ParleyClient[] = [];
  const legacy: (ChatClient | LoginClient)[] = [];

  const start = async (overrides: Partial<Config> = {}) => {
    const t = await startServer({
      redisUrl: redis.url,
      databaseUrl: await pgt.url(),
      busHeartbeatMs: 100,
      busDeadAfterMs: 500,
      graceMs: 1500,
      callTimeoutMs: 5000,
      rateLimit: 10_000,
      rateBurst: 10_000,
      ...overrides,
    });
    servers.push(t);
    return t;
  };
  const signedIn = async (t: { url: string }, name: string) => {
    const c = new ParleyClient(t.url);
    clients.push(c);
    await c.hello(name);
    await c.next('roomJoined', (m) => m.room === 'lobby');
    return c;
  };
  /** Waits until `c` has seen a member named `name` join the lobby (or had it in its first list). */
  const sees = (c: ParleyClient, name: string) =>
    until(
      () =>
        framesOf(c, 'roomJoined').some((m) => m.members.some((x: Member) => x.name === name)) ||
        joinedOf(c, 'lobby').some((m) => m.name === name),
      5000,
      `${c.user?.name} to see ${name}`,
    );
  const say = async (c: ParleyClient, room: string, clientId: string, text: string) => {
    const from = c.mark();
    c.send({ type: 'chat', room, clientId, text, ref: clientId });
    return c.next('ack', (m) => m.clientId === clientId, 5000, from);
  };
  const messagesOf = (c: ParleyClient): ChatMessage[] => framesOf(c, 'message').map((m) => m.message);

  beforeAll(async () => {
    redis = await rt.start();
  });
  beforeEach(async () => {
    await pgt.reset();
    await redis.flush();
  });
  afterEach(async () => {
    closeAll(clients);
    for (const l of legacy.splice(0)) l.close();
    for (const t of servers.splice(0)) await t.close();
    await redis.restart();
  });
  afterAll(async () => {
    await redis.kill();
  });

  it('users on different instances see each other, chat, DM and change presence; nothing lost or doubled', async () => {
    const a = await start();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(b, 'Bob');
    await sees(alice, 'Bob');
    await sees(bob, 'Alice');
    // A user who arrives later gets both in the first list.
    const carol = await signedIn(b, 'Carol');
    const first = await carol.next('roomJoined', (m) => m.room === 'lobby');
    expect(first.members.map((m) => m.name).sort()).toEqual(['Alice', 'Bob', 'Carol']);

    // 30 messages each way, interleaved: every one arrives once, in each sender's order.
    for (let i = 0; i < 30; i++) {
      await Promise.all([say(alice, 'lobby', `a${i}`, `from Alice ${i}`), say(bob, 'lobby', `b${i}`, `from Bob ${i}`)]);
    }
    await until(() => messagesOf(bob).length >= 30 && messagesOf(alice).length >= 30 && messagesOf(carol).length >= 60);
    await bob.quiet(200);
    const texts = (c: ParleyClient, who: string) =>
      messagesOf(c)
        .filter((m) => m.from.name === who)
        .map((m) => m.text);
    const expected = (who: string) => Array.from({ length: 30 }, (_, i) => `from ${who} ${i}`);
    expect(texts(bob, 'Alice')).toEqual(expected('Alice'));
    expect(texts(alice, 'Bob')).toEqual(expected('Bob'));
    expect(texts(carol, 'Alice')).toEqual(expected('Alice'));
    expect(texts(carol, 'Bob')).toEqual(expected('Bob'));
    expect(texts(alice, 'Alice')).toEqual([]); // never echoed to the sender

    // Rooms other than the lobby, joined on both sides.
    for (const c of [alice, bob]) {
      const from = c.mark();
      c.send({ type: 'join', room: 'ops', ref: 'j' });
      await c.next('roomJoined', (m) => m.room === 'ops', 5000, from);
    }
    await until(() => joinedOf(alice, 'ops').some((m) => m.name === 'Bob') || framesOf(alice, 'roomJoined').some((m) => m.room === 'ops' && m.members.length === 2));
    await say(bob, 'ops', 'ops1', 'deploy done');
    await alice.next('message', (m) => m.message.text === 'deploy done');
    expect(messagesOf(carol).some((m) => m.text === 'deploy done')).toBe(false);

    // DMs both ways.
    alice.send({ type: 'dm', to: bob.user!.id, clientId: 'd1', text: 'psst' });
    const dm = await bob.next('message', (m) => m.message.text === 'psst');
    expect(dm.message.from).toEqual(alice.user);
    bob.send({ type: 'dm', to: alice.user!.id, clientId: 'd2', text: 'hi back' });
    await alice.next('message', (m) => m.message.text === 'hi back');

    // Presence.
    const mark = alice.mark();
    bob.send({ type: 'presence', status: 'away' });
    await alice.next('members', (m) => m.changed.some((x) => x.name === 'Bob' && x.presence === 'away'), 5000, mark);

    // History is one: either instance pages the same PostgreSQL.
    const from = carol.mark();
    carol.send({ type: 'history', room: 'lobby', limit: 100, ref: 'h' });
    const history = await carol.next('history', (m) => m.ref === 'h', 5000, from);
    expect(history.messages).toHaveLength(60);

    // The bus's latency is measured; each instance counts its own users.
    const metrics = await (await fetch(`http://127.0.0.1:${a.ports.port}/metrics`)).text();
    const busCount = /^parley_bus_latency_seconds_count (\d+)/m.exec(metrics);
    expect(Number(busCount?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/^parley_signed_in_users 1$/m);

    // Leaving shows on the other instance.
    const left = bob.mark();
    carol.close();
    await until(() => leftOf(bob, 'lobby', left).includes(first.members.find((m) => m.name === 'Carol')!.id) || leftOf(alice, 'lobby').length > 0, 5000, 'Carol to leave');
  });

  it('names are unique across instances, case-insensitively, with a suggestion', async () => {
    const a = await start();
    const b = await start();
    await signedIn(a, 'Dana');
    const other = new ParleyClient(b.url);
    clients.push(other);
    await other.opened;
    other.send({ type: 'hello', versions: [1], name: 'dana', ref: 'h' });
    const refused = await other.error('name_taken');
    expect(refused.suggestion).toBe('dana2');
    await other.hello('dana2');
    // Both at once on two instances: exactly one gets it.
    const racers = [new ParleyClient(a.url), new ParleyClient(b.url)];
    clients.push(...racers);
    await Promise.all(racers.map((r) => r.opened));
    for (const r of racers) r.send({ type: 'hello', versions: [1], name: 'Eve', ref: 'h' });
    const outcomes = await Promise.all(racers.map((r) => r.waitFor((m) => m.type === 'welcome' || m.type === 'error')));
    expect(outcomes.map((m) => m.type).sort()).toEqual(['error', 'welcome']);
    // A name frees up when its user leaves.
    const dana = clients[0]!;
    dana.close();
    await until(() => !b.server.hub.findByName('Dana'), 5000, 'Dana to leave');
    await signedIn(b, 'Dana');
  });

  it('a call between users on different instances: ring, accept, signal, media state, busy, hang up', async () => {
    const a = await start();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(b, 'Bob');
    const carol = await signedIn(b, 'Carol');
    await sees(alice, 'Bob');
    await sees(carol, 'Alice');

    alice.send({ type: 'callInvite', to: bob.user!.id, media: 'video', ref: 'inv' });
    const ringing = await alice.next('callRinging');
    const incoming = await bob.next('callIncoming');
    expect(incoming.callId).toBe(ringing.callId);
    expect(incoming.from.name).toBe('Alice');
    const callId = ringing.callId;

    // Not accepted yet: signaling is refused, on the callee's instance too.
    bob.send({ type: 'signal', callId, data: { kind: 'candidate', candidate: null }, ref: 'early' });
    expect((await bob.error('call_state')).ref).toBe('early');

    bob.send({ type: 'callAccept', callId, media: 'video' });
    await alice.next('callAccepted');
    await bob.next('callAccepted');
    // Both show as in a call, on both instances.
    await carol.next('members', (m) => m.changed.some((x) => x.name === 'Alice' && x.presence === 'inCall'));
    await until(() => a.server.hub.findById(bob.user!.id)?.presence === 'inCall');

    const offer = { kind: 'description', description: { type: 'offer', sdp: 'v=0\r\n' } } as const;
    alice.send({ type: 'signal', callId, data: offer });
    const relayed = await bob.next('signal');
    expect(relayed).toMatchObject({ callId, from: alice.user!.id, data: offer });
    const answer = { kind: 'description', description: { type: 'answer', sdp: 'v=0\r\n' } } as const;
    bob.send({ type: 'signal', callId, data: answer });
    expect((await alice.next('signal')).from).toBe(bob.user!.id);
    bob.send({ type: 'callMedia', callId, audio: false, video: true });
    await alice.next('callMedia', (m) => !m.audio);

    // Carol (Bob's instance) calls Alice (the other one): busy.
    carol.send({ type: 'callInvite', to: alice.user!.id, media: 'audio', ref: 'c' });
    expect((await carol.next('callEnded', (m) => m.ref === 'c')).reason).toBe('busy');

    bob.send({ type: 'callHangup', callId });
    expect((await alice.next('callEnded', (m) => m.callId === callId)).reason).toBe('hangup');
    expect((await bob.next('callEnded', (m) => m.callId === callId)).reason).toBe('hangup');
    await until(() => a.server.hub.callCount === 0 && b.server.hub.callCount === 0, 5000, 'the call to be gone everywhere');
    await pingPong(alice);
    await pingPong(bob);
  });

  it('legacy "login" clients on two instances call each other: offer, answer, candidates, leave', async () => {
    const a = await start();
    const b = await start();
    const ann = new LoginClient(`ws://127.0.0.1:${a.ports.legacyLoginPort}`);
    const ben = new LoginClient(`ws://127.0.0.1:${b.ports.legacyLoginPort}`);
    legacy.push(ann, ben);
    expect(await ann.login('Ann')).toBe(true);
    expect(await ben.login('Ben')).toBe(true);
    // The name is taken across instances for this protocol too.
    const twin = new LoginClient(`ws://127.0.0.1:${b.ports.legacyLoginPort}`);
    legacy.push(twin);
    expect(await twin.login('ann')).toBe(false);
    await until(() => a.server.hub.findByName('Ben') !== undefined, 5000, 'Ben to be known on A');
    ann.sendJson({ type: 'offer', offer: offerSdp, name: 'Ben' });
    expect(await ben.next('offer')).toEqual({ type: 'offer', offer: offerSdp, name: 'Ann' });
    ben.sendJson({ type: 'answer', answer: answerSdp, name: 'Ann' });
    expect(await ann.next('answer')).toEqual({ type: 'answer', answer: answerSdp });
    ben.sendJson({ type: 'candidate', candidate: iceCandidate, name: 'Ann' });
    expect(await ann.next('candidate')).toEqual({ type: 'candidate', candidate: iceCandidate });
    ann.sendJson({ type: 'candidate', candidate: iceCandidate, name: 'Ben' });
    expect(await ben.next('candidate')).toEqual({ type: 'candidate', candidate: iceCandidate });
    ben.sendJson({ type: 'leave', name: 'Ann' });
    expect(await ann.next('leave')).toEqual({ type: 'leave' });
    await until(() => a.server.hub.callCount === 0 && b.server.hub.callCount === 0, 5000, 'the call to end');
  });

  it('a room call across instances: one call id, everyone sees who is in it, mesh signaling crosses the bus', async () => {
    const a = await start();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(b, 'Bob');
    const carol = await signedIn(a, 'Carol');
    const dave = await signedIn(b, 'Dave'); // in the room, never in the call
    for (const c of [alice, bob, carol, dave]) {
      const from = c.mark();
      c.send({ type: 'join', room: 'design' });
      await c.next('roomJoined', (m) => m.room === 'design', 5000, from);
    }
    await until(() => b.server.hub.memberSessions('design').size === 4 && a.server.hub.memberSessions('design').size === 4);
    const names = (m: { participants: { name: string }[] }) => m.participants.map((p) => p.name).join();
    const joinCall = async (c: ParleyClient) => {
      const ref = `rc-${c.user!.name}`;
      const from = c.mark();
      c.send({ type: 'roomCallJoin', room: 'design', media: 'video', ref });
      return c.next('roomCall', (m) => m.ref === ref, 5000, from);
    };
    // Alice (A) and Bob (B) start the room's call at the same moment: one call, not two.
    const [fromAlice, fromBob] = await Promise.all([joinCall(alice), joinCall(bob)]);
    expect(fromAlice.callId).toBe(fromBob.callId);
    const callId = fromAlice.callId;
    await joinCall(carol);
    for (const c of [alice, bob, carol, dave]) {
      await c.next('roomCall', (m) => m.room === 'design' && m.participants.length === 3);
    }
    const last = framesOf(dave, 'roomCall').at(-1)!;
    expect(names(last).split(',').sort()).toEqual(['Alice', 'Bob', 'Carol']);
    // In a call, on the other instance too.
    await until(() => a.server.hub.findById(bob.user!.id)?.presence === 'inCall', 5000, 'Bob in a call on A');

    // Mesh signaling between instances, to one participant, identity stamped.
    const offer = { kind: 'description', description: { type: 'offer', sdp: 'v=0\r\n' } } as const;
    bob.send({ type: 'signal', callId, to: carol.user!.id, data: offer });
    const got = await carol.next('signal', (m) => m.callId === callId);
    expect(got.from).toBe(bob.user!.id);
    expect(framesOf(alice, 'signal')).toHaveLength(0);
    carol.send({ type: 'callMedia', callId, audio: false, video: true });
    await bob.next('callMedia', (m) => m.from === carol.user!.id && !m.audio);
    // Dave is not in the call: signaling to him is refused on his own instance.
    bob.send({ type: 'signal', callId, to: dave.user!.id, data: offer, ref: 'x' });
    expect((await bob.next('error', (m) => m.ref === 'x')).code).toBe('user_not_found');

    // A newcomer on B sees the call as it is, its media state included.
    const erin = await signedIn(b, 'Erin');
    const from = erin.mark();
    erin.send({ type: 'join', room: 'design' });
    const seen = await erin.next('roomCall', (m) => m.room === 'design', 5000, from);
    expect(seen.participants.find((p) => p.name === 'Carol')).toMatchObject({ audio: false, video: true });

    // Everyone leaves; the call is over everywhere, and the next one gets a new id.
    for (const c of [alice, bob, carol]) c.send({ type: 'roomCallLeave', room: 'design' });
    await dave.next('roomCall', (m) => m.room === 'design' && m.participants.length === 0);
    await until(() => a.server.hub.roomCallCount === 0 && b.server.hub.roomCallCount === 0, 5000, 'the call to end everywhere');
    expect((await joinCall(dave)).callId).not.toBe(callId);
  });

  it('a legacy "chat" client on one instance chats with a Parley user on another', async () => {
    const a = await start();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const old = new ChatClient(`ws://127.0.0.1:${b.ports.legacyChatPort}`, 'json');
    legacy.push(old);
    const name = await old.signIn('Oldie');
    expect(name).toBe('Oldie');
    await old.next('userlist', (m) => (m.users as string[]).includes('Alice'));
    await sees(alice, 'Oldie');
    await say(alice, 'lobby', 'x1', 'hello old friend');
    await old.next('message', (m) => m.text === 'hello old friend');
    old.say('hello from the past');
    await alice.next('message', (m) => m.message.text === 'hello from the past' && m.message.from.name === 'Oldie');
    // A legacy name taken on the other instance is renamed, as the protocol does.
    const twin = new ChatClient(`ws://127.0.0.1:${b.ports.legacyChatPort}`, 'json');
    legacy.push(twin);
    expect(await twin.signIn('alice')).not.toBe('alice');
  });

  /** Instance A as a real process (src/server/main.ts), so that it can die by SIGKILL. */
  const startProcess = async () => {
    const running = await startMain({
      REDIS_URL: redis.url,
      DATABASE_URL: await pgt.url(),
      BUS_HEARTBEAT_MS: '100',
      BUS_DEAD_AFTER_MS: '500',
      GRACE_SECONDS: '1.5',
      LEGACY_CHAT_PORT: '0',
      LEGACY_LOGIN_PORT: '0',
      WEB_ROOT: '/nonexistent',
      DB_PATH: '/nonexistent/parley.db',
      IMAGES_DIR: '/tmp/parley-cluster-images',
    });
    procs.push(running);
    return running;
  };
  const procs: Running[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) p.proc.kill('SIGKILL');
  });
  const crash = async (p: Running) => {
    p.proc.kill('SIGKILL');
    await p.exited;
  };

  it('a dead instance: its users leave after the grace period and their call peers are told', async () => {
    const a = await startProcess();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(b, 'Bob');
    await sees(alice, 'Bob');
    alice.send({ type: 'callInvite', to: bob.user!.id, media: 'audio' });
    const incoming = await bob.next('callIncoming');
    bob.send({ type: 'callAccept', callId: incoming.callId, media: 'audio' });
    await bob.next('callAccepted');

    // Instance A stops without a word: its bus connections and sockets just go.
    const started = Date.now();
    await crash(a);
    const ended = await bob.next('callEnded', (m) => m.callId === incoming.callId, 10_000);
    expect(ended.reason).toBe('disconnected');
    await until(() => leftOf(bob, 'lobby').includes(alice.user!.id), 10_000, 'Alice to leave');
    const took = Date.now() - started;
    // Dead after 500 ms of silence, then 1.5 s of grace; bounded well under ten seconds.
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(8000);
    // Her name is free again.
    await signedIn(b, 'Alice');
  });

  it('a dead instance: its users resume on another one with their rooms, calls and missed chat', async () => {
    const a = await startProcess();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(b, 'Bob');
    await sees(alice, 'Bob');
    const join = alice.mark();
    alice.send({ type: 'join', room: 'team' });
    await alice.next('roomJoined', (m) => m.room === 'team', 5000, join);
    bob.send({ type: 'join', room: 'team' });
    await bob.next('roomJoined', (m) => m.room === 'team');
    alice.send({ type: 'callInvite', to: bob.user!.id, media: 'audio' });
    const incoming = await bob.next('callIncoming');
    bob.send({ type: 'callAccept', callId: incoming.callId, media: 'audio' });
    await alice.next('callAccepted');
    const ack = await say(alice, 'team', 'before', 'before the crash');

    await crash(a);
    await say(bob, 'team', 'missed', 'while you were away');
    // Alice's app reconnects, to B this time, and resumes.
    const again = new ParleyClient(b.url);
    clients.push(again);
    const welcome = await again.resume(alice.token!, ack.id);
    expect(welcome.resumed).toBe(true);
    expect(welcome.user).toEqual(alice.user);
    expect(welcome.rooms.sort()).toEqual(['lobby', 'team']);
    expect(welcome.calls.map((c) => c.callId)).toEqual([incoming.callId]);
    await again.next('message', (m) => m.message.text === 'while you were away');
    // Nobody saw her leave, and the call goes on: signaling flows through B now.
    await bob.quiet(2500); // past the grace period
    expect(leftOf(bob, 'lobby')).not.toContain(alice.user!.id);
    again.send({ type: 'signal', callId: incoming.callId, data: { kind: 'candidate', candidate: null } });
    await bob.next('signal', (m) => m.from === alice.user!.id);
    bob.send({ type: 'callHangup', callId: incoming.callId });
    expect((await again.next('callEnded')).reason).toBe('hangup');
  });

  it('a user whose connection moves to another running instance resumes there; the first lets go', async () => {
    const a = await start();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(a, 'Bob');
    alice.send({ type: 'callInvite', to: bob.user!.id, media: 'audio' });
    const incoming = await bob.next('callIncoming');
    bob.send({ type: 'callAccept', callId: incoming.callId, media: 'audio' });
    await alice.next('callAccepted');
    await until(() => b.server.hub.callCount === 1, 5000, 'B to hear of the call');
    // The load balancer sends Alice's reconnect to B while her old connection is still open on A.
    const moved = new ParleyClient(b.url);
    clients.push(moved);
    const welcome = await moved.resume(alice.token!);
    expect(welcome.user).toEqual(alice.user);
    expect(welcome.calls.map((c) => c.callId)).toEqual([incoming.callId]);
    expect((await alice.waitClose()).code).toBe(4001);
    await until(() => a.server.hub.findById(alice.user!.id)?.origin !== null, 5000, 'A to let go');
    // The call (run by A) goes on through B; chat from A reaches her on B; she is still there
    // after the grace period.
    moved.send({ type: 'signal', callId: incoming.callId, data: { kind: 'candidate', candidate: null } });
    await bob.next('signal', (m) => m.from === alice.user!.id);
    bob.send({ type: 'signal', callId: incoming.callId, data: { kind: 'candidate', candidate: null } });
    await moved.next('signal', (m) => m.from === bob.user!.id);
    await say(bob, 'lobby', 'hey', 'still there?');
    await moved.next('message', (m) => m.message.text === 'still there?');
    await bob.quiet(1800);
    expect(leftOf(bob, 'lobby')).not.toContain(alice.user!.id);
    expect(a.server.hub.sessionCount).toBe(1);
    expect(b.server.hub.sessionCount).toBe(1);
  });

  it('a resume sends again the messages just before the newest the app has (instances\' messages can cross)', async () => {
    const a = await start();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(b, 'Bob');
    await sees(bob, 'Alice');
    const first = await say(bob, 'lobby', 'm1', 'stored first');
    const second = await say(alice, 'lobby', 'm2', 'stored second');
    expect(second.id).toBeGreaterThan(first.id);
    // Say the app got the second message (its own) but the first one was still crossing the bus.
    alice.close();
    await alice.waitClose();
    const again = new ParleyClient(a.url);
    clients.push(again);
    await again.resume(alice.token!, second.id);
    const replayed = await again.next('message', (m) => m.message.clientId === 'm1');
    expect(replayed.message.id).toBe(first.id);
  });

  it('Redis lost: /readyz says not ready; when it is back it is ready again and chat sent meanwhile arrives', async () => {
    const a = await start();
    const b = await start();
    const alice = await signedIn(a, 'Alice');
    const bob = await signedIn(b, 'Bob');
    await sees(alice, 'Bob');
    const readyz = async (t: TestServer) => (await fetch(`http://127.0.0.1:${t.ports.port}/readyz`)).status;
    expect(await readyz(a)).toBe(200);

    await redis.kill();
    const deadline = Date.now() + 5000;
    while ((await readyz(a)) !== 503 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await readyz(a)).toBe(503);
    expect(await readyz(b)).toBe(503);
    // Chat still works on each instance (it is stored in PostgreSQL and acknowledged).
    await say(alice, 'lobby', 'outage', 'said while Redis was down');

    await redis.restart();
    const back = Date.now() + 10_000;
    while (((await readyz(a)) !== 200 || (await readyz(b)) !== 200) && Date.now() < back) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await readyz(a)).toBe(200);
    expect(await readyz(b)).toBe(200);
    await bob.next('message', (m) => m.message.text === 'said while Redis was down', 10_000);
    // And the bus works again, both ways.
    await say(bob, 'lobby', 'after', 'after the outage');
    await alice.next('message', (m) => m.message.text === 'after the outage');
    await pingPong(alice);
  });
});

