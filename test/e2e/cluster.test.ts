/**
 * Two Parley instances joined by a real Redis over one real PostgreSQL, each serving the web app:
 * a user on one and a user on the other see each other, chat, and make a video call whose
 * signaling crosses the bus, with frames arriving on both sides.
 * (An instance killed and its users resuming on the other: test/integration/cluster.test.ts.)
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresProvision, provisionPostgres } from '../helpers/postgresServer.js';
import { type RedisHandle, redisTest } from '../helpers/redis.js';
import { type App, Client, ConsoleWatch, expectMediaFlowing, launchBrowser, startApp, startCall } from './harness.js';

const rt = redisTest();

rt.describe('two instances, one community', () => {
  let redis: RedisHandle;
  let postgres: PostgresProvision;
  let browser: Browser;
  const apps: App[] = [];
  const clients: Client[] = [];
  const watch = new ConsoleWatch();

  beforeAll(async () => {
    postgres = await provisionPostgres(process.env);
    if (postgres.url === null) {
      if (process.env.PARLEY_REQUIRE_POSTGRES === '1') throw new Error(postgres.reason);
      return;
    }
    redis = await rt.start();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await browser?.close();
    for (const app of apps) await app.close();
    await redis?.kill();
    postgres?.stop();
  });

  it('a user on each instance chats and makes a video call with frames arriving both ways', async (ctx) => {
    if (postgres.url === null) {
      ctx.skip(`no PostgreSQL: ${postgres.reason}`);
      return;
    }
    const cluster = { redisUrl: redis.url, databaseUrl: postgres.url, busHeartbeatMs: 200, busDeadAfterMs: 1000 };
    apps.push(await startApp(cluster), await startApp(cluster));
    const [a, b] = apps as [App, App];
    expect(a.port).not.toBe(b.port);

    const alice = await Client.open(browser, a, 'alice', watch);
    const bob = await Client.open(browser, b, 'bob', watch);
    clients.push(alice, bob);
    await alice.signIn();
    await bob.signIn();
    await alice.waitForMember('bob');
    await bob.waitForMember('alice');

    await alice.send('hello from the first instance');
    await bob.page.getByTestId('message-text').filter({ hasText: 'hello from the first instance' }).waitFor();
    await bob.send('and hello from the second');
    await alice.page.getByTestId('message-text').filter({ hasText: 'and hello from the second' }).waitFor();

    await startCall(alice, bob, { media: 'video' });
    await expectMediaFlowing(alice, ['audio', 'video']);
    await expectMediaFlowing(bob, ['audio', 'video']);
    const seen = await alice.media();
    expect(seen.videoWidth).toBeGreaterThan(0);

    // The call is run by Alice's instance; Bob's replica knows it too.
    expect(a.server.hub.callCount).toBe(1);
    expect(b.server.hub.callCount).toBe(1);
    await bob.page.getByTestId('hangup').click();
    await alice.waitForCallState('ended');
    await expect.poll(() => alice.member('bob').textContent()).toContain('online');
    expect(a.server.hub.callCount + b.server.hub.callCount).toBe(0);
    watch.assertClean();
  });
});
