import { describe, expect, it } from 'vitest';
import { expectMediaFlowing, sleep, startCall, useBrowserAndServer } from './harness.js';

const e2e = useBrowserAndServer();

function count(list: string[], text: string): number {
  return list.filter((t) => t === text).length;
}

describe('server restart', () => {
  it('keeps the call, signs in again, and loses or doubles no message', async () => {
    const app = await e2e.startApp();
    const watch = e2e.watch;
    // While the server is down the browser itself logs each refused WebSocket connection.
    watch.allow = [/WebSocket connection to .* failed/];
    const [a, b] = await e2e.pair();
    await startCall(a, b, { flowing: 'both' });

    await a.send('before restart');
    await expect.poll(() => b.texts()).toContain('before restart');

    await app.stop();
    await expect.poll(() => a.page.getByTestId('connection').textContent()).toMatch(/reconnecting/i);
    await a.send('alice while down');
    await b.send('bob while down');
    await expect(a.page.locator('[data-testid="message"][data-status="pending"]').count()).resolves.toBe(1);
    // Media does not need the server.
    await expectMediaFlowing(a);
    await expectMediaFlowing(b);
    await sleep(500);

    await app.restart();
    for (const c of [a, b]) {
      await c.page.getByTestId('connection').getByText('Connected').waitFor({ timeout: 20_000 });
    }
    await a.send('after restart');
    for (const c of [a, b]) {
      await expect
        .poll(() => c.texts(), { timeout: 15_000 })
        .toEqual(expect.arrayContaining(['before restart', 'alice while down', 'bob while down', 'after restart']));
      await expect.poll(() => c.page.locator('[data-testid="message"][data-status="pending"]').count()).toBe(0);
    }
    await sleep(1000); // give any duplicate a chance to show up
    for (const c of [a, b]) {
      const texts = await c.texts();
      for (const t of ['before restart', 'alice while down', 'bob while down', 'after restart']) {
        expect(count(texts, t), `${c.name} sees "${t}" once`).toBe(1);
      }
    }
    // The call survived the restart: still active, media still flowing both ways.
    expect(await a.callState()).toBe('active');
    expect(await b.callState()).toBe('active');
    await expectMediaFlowing(a);
    await expectMediaFlowing(b);
    // And the new server sees both users again.
    await a.waitForMember('bob');
    // Hanging up still reaches the peer (directly, since the new server never knew the call).
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    watch.assertClean();
  });
});
