import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framesOf, pingPong } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';
import { ParleyClient, startServer, type TestServer } from '../helpers/parley.js';

const MAX_FRAME = 4096;

const cases: { what: string; frame: string; code: string; ref: string | null }[] = [
  { what: 'invalid JSON', frame: '{"type": "ping", ', code: 'bad_json', ref: null },
  { what: 'not JSON at all', frame: 'hello there', code: 'bad_json', ref: null },
  { what: 'an empty frame', frame: '', code: 'bad_json', ref: null },
  { what: 'a JSON array', frame: '[{"type":"ping"}]', code: 'bad_json', ref: null },
  { what: 'a JSON string', frame: '"ping"', code: 'bad_json', ref: null },
  { what: 'a JSON number', frame: '42', code: 'bad_json', ref: null },
  { what: 'JSON null', frame: 'null', code: 'bad_json', ref: null },
  {
    what: 'an unknown type',
    frame: '{"type":"launchMissiles","ref":"u1"}',
    code: 'unknown_type',
    ref: 'u1',
  },
  {
    what: 'a server-only type',
    frame: '{"type":"welcome","ref":"u2"}',
    code: 'unknown_type',
    ref: 'u2',
  },
  {
    what: 'a prototype key as type',
    frame: '{"type":"__proto__","ref":"u3"}',
    code: 'unknown_type',
    ref: 'u3',
  },
  { what: 'a missing type', frame: '{"room":"lobby","ref":"u4"}', code: 'unknown_type', ref: 'u4' },
  { what: 'a non-string type', frame: '{"type":7,"ref":"u5"}', code: 'unknown_type', ref: 'u5' },
  {
    what: 'chat without text',
    frame: '{"type":"chat","room":"lobby","clientId":"x","ref":"f1"}',
    code: 'bad_frame',
    ref: 'f1',
  },
  {
    what: 'chat with a numeric clientId',
    frame: '{"type":"chat","room":"lobby","clientId":5,"text":"hi","ref":"f2"}',
    code: 'bad_frame',
    ref: 'f2',
  },
  {
    what: 'chat with blank text',
    frame: '{"type":"chat","room":"lobby","clientId":"x","text":"   ","ref":"f3"}',
    code: 'bad_frame',
    ref: 'f3',
  },
  {
    what: 'chat with text over 4000 characters',
    frame: JSON.stringify({
      type: 'chat',
      room: 'lobby',
      clientId: 'x',
      text: 'y'.repeat(4001),
      ref: 'f4',
    }),
    code: 'bad_frame',
    ref: 'f4',
  },
  {
    what: 'join with a room object',
    frame: '{"type":"join","room":{"name":"x"},"ref":"f5"}',
    code: 'bad_frame',
    ref: 'f5',
  },
  {
    what: 'signal with an unknown kind',
    frame: '{"type":"signal","callId":"c1","data":{"kind":"magic"},"ref":"f6"}',
    code: 'bad_frame',
    ref: 'f6',
  },
  {
    what: 'callInvite with bad media',
    frame: '{"type":"callInvite","to":"u1","media":"hologram","ref":"f7"}',
    code: 'bad_frame',
    ref: 'f7',
  },
  {
    what: 'a ref that is too long',
    frame: JSON.stringify({ type: 'ping', ref: 'r'.repeat(65) }),
    code: 'bad_frame',
    ref: null,
  },
  { what: 'a numeric ref', frame: '{"type":"ping","ref":12}', code: 'bad_frame', ref: null },
];

/**
 * Every bad frame is answered with {type:"error", code, ref} and the connection lives on (each
 * case ends with a ping/pong); binary frames and floods close only the offending connection.
 */
describe('bad frames, each on one shared connection', () => {
  // The table shares one server and one pair of clients: a bad frame changes no state, and the
  // ping/pong after each case proves the connection is still in order for the next one.
  let shared: TestServer;
  let alice: ParleyClient;
  let bob: ParleyClient;
  beforeAll(async () => {
    shared = await startServer({ maxFrameBytes: MAX_FRAME });
    alice = new ParleyClient(shared.url);
    bob = new ParleyClient(shared.url);
    await alice.hello('Alice');
    await bob.hello('Bob');
    await pingPong(bob);
  });
  afterAll(async () => {
    alice.ws.terminate();
    bob.ws.terminate();
    await shared.close();
  });

  it.each(cases)(
    'answers $what with $code and keeps the connection',
    async ({ frame, code, ref }) => {
      const from = alice.mark();
      const bobFrom = bob.mark();
      alice.sendRaw(frame);
      const err = await alice.next('error', () => true, 5000, from);
      expect(err).toEqual({ type: 'error', code, message: expect.any(String) as string, ref });
      expect(err.message.length).toBeGreaterThan(0);
      await pingPong(alice);
      expect(framesOf(alice, 'error', from)).toHaveLength(1);
      // Nothing was relayed to anyone else.
      await pingPong(bob);
      expect(bob.received.slice(bobFrom).map((m) => m.type)).toEqual(['pong']);
    },
  );
});

describe('bad frames', () => {
  const { t, clients, signedIn } = useParleyServer({ maxFrameBytes: MAX_FRAME });

  it('answers bad JSON before sign-in too', async () => {
    const c = new ParleyClient(t.url);
    clients.push(c);
    await c.opened;
    c.sendRaw('{{{');
    expect((await c.error('bad_json')).ref).toBeNull();
    c.sendRaw('{"type":"nope","ref":"n"}');
    expect((await c.error('unknown_type')).ref).toBe('n');
    await c.hello('Alice');
    await pingPong(c);
  });

  it('answers an over-size frame with frame_too_large; the connection keeps working', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const big = JSON.stringify({
      type: 'chat',
      room: 'lobby',
      clientId: 'big',
      text: 'z'.repeat(MAX_FRAME),
      ref: 'big',
    });
    expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_FRAME);
    alice.sendRaw(big);
    const err = await alice.error('frame_too_large');
    expect(err.ref).toBeNull();
    await pingPong(alice);
    // Size is counted in bytes, not characters: 1500 three-byte characters are over 4096 bytes.
    const from = alice.mark();
    alice.send({ type: 'chat', room: 'lobby', clientId: 'wide', text: '€'.repeat(1500) });
    await alice.error('frame_too_large', from);
    // A frame just under the limit is fine.
    alice.send({ type: 'chat', room: 'lobby', clientId: 'ok', text: 'a'.repeat(3900) });
    await alice.next('ack', (m) => m.clientId === 'ok');
    const got = await bob.next('message');
    expect(got.message.clientId).toBe('ok');
    await pingPong(bob);
    expect(framesOf(bob, 'message')).toHaveLength(1);
  });

  it('closes a connection that sends a frame far beyond any limit with 1009, and only that one', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    alice.sendRaw('x'.repeat(2 * 1024 * 1024));
    expect((await alice.waitClose()).code).toBe(1009);
    await pingPong(bob);
  });

  it('answers a request for a room one is not in with not_in_room', async () => {
    const alice = await signedIn('Alice');
    alice.send({ type: 'chat', room: 'elsewhere', clientId: 'x', text: 'hi', ref: 'nr1' });
    alice.send({ type: 'leave', room: 'elsewhere', ref: 'nr2' });
    alice.send({ type: 'history', room: 'elsewhere', ref: 'nr3' });
    for (const ref of ['nr1', 'nr2', 'nr3']) {
      const err = await alice.next('error', (m) => m.ref === ref);
      expect(err.code).toBe('not_in_room');
    }
    await pingPong(alice);
  });

  it('answers a call message for a call one is not in with call_not_found', async () => {
    const alice = await signedIn('Alice');
    const frames = [
      { type: 'callAccept', callId: 'c-nope', media: 'audio', ref: 'k1' },
      { type: 'callDecline', callId: 'c-nope', ref: 'k2' },
      { type: 'callCancel', callId: 'c-nope', ref: 'k3' },
      { type: 'callHangup', callId: 'c-nope', ref: 'k4' },
      { type: 'signal', callId: 'c-nope', data: { kind: 'candidate', candidate: null }, ref: 'k5' },
      { type: 'callMedia', callId: 'c-nope', audio: true, video: true, ref: 'k6' },
    ] as const;
    for (const f of frames) alice.send(f);
    for (const f of frames) {
      expect((await alice.next('error', (m) => m.ref === f.ref)).code).toBe('call_not_found');
    }
    await pingPong(alice);
  });

  it('closes the connection with 1003 on a binary frame; others are unaffected', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    alice.ws.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true });
    expect((await alice.waitClose()).code).toBe(1003);
    await pingPong(bob);
  });
});

describe('flooding', () => {
  const { t, clients } = useParleyServer({ rateLimit: 20, rateBurst: 20 });

  it('answers frames beyond the rate with rate_limited, then closes with 1008; others are unaffected', async () => {
    const alice = new ParleyClient(t.url);
    const bob = new ParleyClient(t.url);
    clients.push(alice, bob);
    await alice.hello('Alice');
    await bob.hello('Bob');

    for (let i = 0; i < 100; i++) alice.send({ type: 'ping', ref: `f${i}` });
    const closed = await alice.waitClose();
    expect(closed.code).toBe(1008);
    const errors = framesOf(alice, 'error');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.every((e) => e.code === 'rate_limited')).toBe(true);
    // The burst was served before the limit kicked in.
    const pongs = framesOf(alice, 'pong');
    expect(pongs.length).toBeGreaterThanOrEqual(15);
    expect(pongs.length).toBeLessThan(100);
    const firstError = alice.received.findIndex((m) => m.type === 'error');
    expect(firstError).toBeGreaterThan(alice.received.indexOf(pongs[0]!));

    // Bob is unaffected: his own budget is intact and his session was not touched.
    for (let i = 0; i < 10; i++) await pingPong(bob);
    expect(framesOf(bob, 'error')).toEqual([]);
    expect(bob.closed).toBeNull();
  });

  it('a client that stays within the rate is never limited', async () => {
    const alice = new ParleyClient(t.url);
    clients.push(alice);
    await alice.hello('Alice');
    // 15 at once (inside the burst), then a steady 10 per second, half the sustained rate.
    for (let i = 0; i < 15; i++) alice.send({ type: 'ping' });
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await pingPong(alice);
    }
    expect(framesOf(alice, 'error')).toEqual([]);
  });
});
