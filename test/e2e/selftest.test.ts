/**
 * The connectivity self-test page (/selftest), in Chromium on a loopback-only network:
 * - with no STUN or TURN configured it finds host candidates, the direct path works, and it says in
 *   plain words that there is no relay;
 * - with a real coturn (credentials from GET /api/ice) the relay-only loopback passes too.
 */
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { en } from '../../src/client/i18n/en.js';
import { ru } from '../../src/client/i18n/ru.js';
import { startTurnserver, type Turn, turnserverOrSkip } from './coturn.js';
import { useBrowserAndServer } from './harness.js';

const TURNSERVER = turnserverOrSkip('selftest.test', 'the self-test relay check did not run');

const e2e = useBrowserAndServer({ assertCleanAfterEach: true });

async function openSelfTest(opts: { locale?: string } = {}): Promise<Page> {
  const c = await e2e.open('selftest', { path: '/selftest', ...opts });
  await c.page.locator('[data-testid="selftest"][data-state="done"]').waitFor({ timeout: 40_000 });
  return c.page;
}

async function checks(page: Page): Promise<Record<string, { state: string; result: string }>> {
  return page.evaluate(() => {
    const out: Record<string, { state: string; result: string }> = {};
    for (const li of Array.from(document.querySelectorAll<HTMLElement>('[data-testid^="check-"][data-state]'))) {
      out[li.dataset.testid!.slice(6)] = {
        state: li.dataset.state!,
        result: li.querySelector('[data-testid="check-result"]')?.textContent ?? '',
      };
    }
    return out;
  });
}

describe('connectivity self-test', () => {
  it('without STUN or TURN: host candidates and the direct path work; it says plainly that there is no relay', async () => {
    await e2e.startApp({ stunUrls: [], turnUrls: [], turnSecret: null });
    // Reached from the app: the sign-in page links to it.
    const c = await e2e.open('linker');
    await c.page.getByTestId('selftest-link').click();
    await c.page.waitForURL(/\/selftest$/);
    await c.page.locator('[data-testid="selftest"][data-state="done"]').waitFor({ timeout: 40_000 });
    const page = c.page;

    const result = await checks(page);
    expect(result.host?.state).toBe('ok');
    expect(result.srflx).toEqual({ state: 'notConfigured', result: en['selftest.noStunServer'] });
    expect(result.relay).toEqual({ state: 'notConfigured', result: en['selftest.noTurnServer'] });
    expect(result.direct?.state).toBe('ok');
    expect(result.direct?.result).toMatch(/^Works: connected in [\d,]+ ms, round trip [\d,]+ ms$/);
    expect(result['relay-path']).toEqual({ state: 'skipped', result: en['selftest.noTurnServer'] });

    const verdict = page.getByTestId('verdict');
    await expect(verdict.getAttribute('data-verdict')).resolves.toBe('noTurn');
    const words = await verdict.textContent();
    expect(words).toContain('Calls on your network will work.');
    expect(words).toContain('No TURN server is configured: people behind strict firewalls may not be able to call you.');
    expect(words).toContain(en['selftest.noStun']);
    await page.screenshot({ path: 'docs/screenshots/selftest-desktop.png', fullPage: true });
    console.log(`[selftest] no STUN/TURN: ${JSON.stringify(result)}`);

    // Run again: the same outcome, and the page works without signing in (no WebSocket at all).
    await page.getByRole('button', { name: en['selftest.runAgain'] }).click();
    await page.locator('[data-testid="selftest"][data-state="done"]').waitFor({ timeout: 40_000 });
    expect((await checks(page)).direct?.state).toBe('ok');
  }, 90_000);

  it('speaks the reader’s language (Russian)', async () => {
    await e2e.startApp();
    const page = await openSelfTest({ locale: 'ru-RU' });
    await expect(page.getByTestId('verdict').textContent()).resolves.toContain(ru['selftest.verdict.noTurn']);
    await expect(page.title()).resolves.toContain(ru['selftest.title']);
    await page.getByRole('button', { name: ru['selftest.runAgain'] }).waitFor();
  }, 60_000);

  describe.skipIf(TURNSERVER === null)('with a real coturn', () => {
    let turn: Turn | null = null;
    afterEach(async () => {
      await turn?.stop();
      turn = null;
    });

    it('gathers a relay candidate and the relay-only loopback passes', async () => {
      const secret = randomBytes(24).toString('base64url');
      turn = await startTurnserver(TURNSERVER!, { secret });
      await e2e.startApp({
        turnUrls: [`turn:127.0.0.1:${turn.port}?transport=udp`],
        turnSecret: secret,
      });
      const page = await openSelfTest();
      const result = await checks(page);
      expect(result.host?.state).toBe('ok');
      expect(result.relay?.state).toBe('ok');
      expect(result.direct?.state).toBe('ok');
      expect(result['relay-path']?.state).toBe('ok');
      expect(result['relay-path']?.result).toMatch(/^Works: connected in/);
      await expect(page.getByTestId('verdict').getAttribute('data-verdict')).resolves.toBe('allGood');
      await expect(page.getByTestId('verdict').textContent()).resolves.toContain(en['selftest.verdict.allGood']);
      // The credentials came from /api/ice for an anonymous self-test id, and coturn allocated for it.
      expect(turn.log()).toMatch(/selftest-[A-Za-z0-9_-]+/);
      expect(turn.log()).toMatch(/ALLOCATE processed, success/);
      console.log(`[selftest] with coturn: ${JSON.stringify(result)}`);
    }, 90_000);

    it('says the relay failed when the TURN server refuses the credentials', async () => {
      turn = await startTurnserver(TURNSERVER!, { secret: randomBytes(24).toString('base64url') });
      await e2e.startApp({
        turnUrls: [`turn:127.0.0.1:${turn.port}?transport=udp`],
        turnSecret: 'not-the-secret-coturn-knows',
      });
      // Chromium logs the refused allocation as a console error; that is what this test provokes.
      e2e.watch.allow.push(/401|TURN|turn/);
      const page = await openSelfTest();
      const result = await checks(page);
      expect(result.relay).toEqual({ state: 'missing', result: en['selftest.refused'] });
      expect(result.direct?.state).toBe('ok');
      expect(result['relay-path']?.state).toBe('failed');
      await expect(page.getByTestId('verdict').getAttribute('data-verdict')).resolves.toBe('relayFailed');
    }, 90_000);
  });
});
