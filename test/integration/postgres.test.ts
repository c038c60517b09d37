/**
 * The whole server on PostgreSQL (DATABASE_URL): chat is stored there, survives a restart of the
 * server, and /readyz reports the database. Needs a real PostgreSQL (test/helpers/postgres.ts).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { closeAll } from '../helpers/integration.js';
import { ParleyClient, startServer, type TestServer } from '../helpers/parley.js';
import { postgresTest } from '../helpers/postgres.js';

const pgt = postgresTest();

pgt.describe('the server on PostgreSQL', () => {
  const servers: TestServer[] = [];
  const clients: ParleyClient[] = [];
  const start = async () => {
    const t = await startServer({ databaseUrl: await pgt.url() });
    servers.push(t);
    return t;
  };
  const signedIn = async (t: TestServer, name: string) => {
    const c = new ParleyClient(t.url);
    clients.push(c);
    await c.hello(name);
    await c.next('roomJoined', (m) => m.room === 'lobby');
    return c;
  };

  beforeEach(async () => {
    await pgt.reset();
  });
  afterEach(async () => {
    closeAll(clients);
    for (const t of servers.splice(0)) await t.close();
  });

  it('stores chat in PostgreSQL, keeps it across a restart, and drops a re-send after it', async () => {
    const first = await start();
    const ready = await fetch(`http://127.0.0.1:${first.ports.port}/readyz`);
    expect(ready.status).toBe(200);
    const alice = await signedIn(first, 'Alice');
    const bob = await signedIn(first, 'Bob');
    alice.send({ type: 'chat', room: 'lobby', clientId: 'k1', text: 'stored in postgres' });
    const ack = await alice.next('ack', (m) => m.clientId === 'k1');
    expect((await bob.next('message')).message.text).toBe('stored in postgres');
    closeAll(clients);
    await first.close();

    const second = await start();
    const again = await signedIn(second, 'alice');
    again.send({ type: 'history', room: 'lobby', ref: 'h' });
    const history = await again.next('history', (m) => m.ref === 'h');
    expect(history.messages.map((m) => [m.id, m.text])).toEqual([[ack.id, 'stored in postgres']]);
    // The web app re-sends what it never saw acknowledged, under the same name: not stored twice.
    again.send({ type: 'chat', room: 'lobby', clientId: 'k1', text: 'stored in postgres' });
    expect((await again.next('ack', (m) => m.clientId === 'k1')).id).toBe(ack.id);
  });

  it('two servers on one database share the history', async () => {
    const [one, two] = await Promise.all([start(), start()]);
    const alice = await signedIn(one, 'Alice');
    const bob = await signedIn(two, 'Bob');
    alice.send({ type: 'chat', room: 'lobby', clientId: 'a1', text: 'from one' });
    await alice.next('ack');
    bob.send({ type: 'chat', room: 'lobby', clientId: 'b1', text: 'from two' });
    await bob.next('ack');
    bob.send({ type: 'history', room: 'lobby', ref: 'h' });
    const history = await bob.next('history', (m) => m.ref === 'h');
    expect(history.messages.map((m) => m.text)).toEqual(['from one', 'from two']);
  });
});
