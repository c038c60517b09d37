import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signedIn, startServer, type TestServer } from '../helpers/parley.js';

describe('smoke', () => {
  let t: TestServer;
  beforeEach(async () => {
    t = await startServer();
  });
  afterEach(async () => {
    await t.close();
  });

  it('signs two users in and carries a room message between them', async () => {
    const alice = await signedIn(t.url, 'Alice');
    const bob = await signedIn(t.url, 'Bob');
    await alice.next('members', (m) => m.joined.some((j) => j.name === 'Bob'));
    alice.send({ type: 'chat', clientId: 'c1', room: 'lobby', text: 'hello' });
    const ack = await alice.next('ack');
    const got = await bob.next('message');
    expect(got.message.id).toBe(ack.id);
    expect(got.message.text).toBe('hello');
    alice.close();
    bob.close();
  });
});
