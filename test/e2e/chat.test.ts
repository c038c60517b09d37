import { describe, expect, it } from 'vitest';
import { useBrowserAndServer } from './harness.js';

const e2e = useBrowserAndServer({ appEach: {} });

describe('chat in the browser', () => {
  it('two users sign in, see each other and chat both ways', async () => {
    const alice = await e2e.open('alice');
    await alice.screenshot('sign-in-desktop');
    await alice.signIn();
    const bob = await e2e.open('bob');
    await bob.signIn();
    await alice.waitForMember('bob');
    await bob.waitForMember('alice');

    await alice.send('hello bob');
    await expect.poll(() => bob.texts()).toContain('hello bob');
    await bob.send('hi alice');
    await expect.poll(() => alice.texts()).toContain('hi alice');
    // Own messages end up acknowledged.
    await expect.poll(() => alice.page.locator('[data-testid="message"][data-status="sent"]').count()).toBe(2);
    await alice.screenshot('room-chat-desktop');
    e2e.watch.assertClean();
  });

  it('three users chat in a room opened by URL, with history and unread counts', async () => {
    const a = await e2e.open('ann');
    await a.signIn();
    await a.send('before the others came');
    const b = await e2e.open('ben', { path: '/r/dev' });
    await b.signIn();
    const c = await e2e.open('cat', { path: '/r/dev' });
    await c.signIn();
    await expect(b.page.getByTestId('chat-title').textContent()).resolves.toBe('#dev');
    await b.waitForMember('cat');
    await c.waitForMember('ben');
    await b.send('in dev');
    await expect.poll(() => c.texts()).toContain('in dev');
    await c.send('me too');
    await expect.poll(() => b.texts()).toContain('me too');
    // ann is in the lobby only; the lobby has her earlier message as history for the others.
    await b.page.getByRole('button', { name: '#lobby' }).click();
    await expect.poll(() => b.texts()).toContain('before the others came');
    await a.send('lobby ping');
    await expect.poll(() => b.texts()).toContain('lobby ping');
    // cat is in #dev, so the lobby message is unread there.
    await expect.poll(() => c.page.getByTestId('unread').textContent()).toMatch(/1/);
    expect(new URL(b.page.url()).pathname).toBe('/r/lobby');
    // Direct message.
    await c.member('ben').getByRole('button', { name: 'Message ben' }).click();
    await c.send('just for you');
    await b.page.getByTestId('dms').getByRole('button', { name: /cat/ }).click();
    await expect.poll(() => b.texts()).toContain('just for you');
    e2e.watch.assertClean();
  });

  it('shows hostile text as inert text', async () => {
    const alice = await e2e.open('alice');
    await alice.signIn();
    const bob = await e2e.open('bob');
    await bob.signIn();
    await bob.waitForMember('alice');
    let dialogs = 0;
    for (const c of [alice, bob]) {
      c.page.on('dialog', (d) => {
        dialogs++;
        void d.dismiss();
      });
    }
    const long = 'x'.repeat(3000);
    const corpus = [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(2)//',
      '<a href="javascript:alert(3)">click</a>',
      'javascript:alert(4)',
      '"><svg onload=alert(5)>',
      'see https://example.com/a?b=<c> and http://x.test/',
      long,
    ];
    for (const text of corpus) await alice.send(text);
    await expect.poll(() => bob.texts(), { timeout: 10_000 }).toEqual(expect.arrayContaining(corpus.map((t) => t)));
    for (const c of [alice, bob]) {
      const injected = await c.page.evaluate(() => ({
        scripts: document.querySelectorAll('.messages script').length,
        imgs: document.querySelectorAll('.messages img, .messages svg').length,
        badLinks: Array.from(document.querySelectorAll<HTMLAnchorElement>('.messages a')).filter(
          (a) => !/^https?:/.test(a.href) || a.rel !== 'noopener noreferrer',
        ).length,
        links: document.querySelectorAll('.messages a').length,
        overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
      }));
      expect(injected).toEqual({ scripts: 0, imgs: 0, badLinks: 0, links: 2, overflow: false });
      await expect.poll(() => c.page.getByText('<script>alert(1)</script>').isVisible()).toBe(true);
    }
    expect(dialogs).toBe(0);
    e2e.watch.assertClean();
  });

  it('a taken name shows the suggestion; the name is remembered', async () => {
    const a = await e2e.open('dana');
    await a.signIn();
    const b = await e2e.open('dana2');
    await b.page.getByLabel('Your name').fill('dana');
    await b.page.getByRole('button', { name: 'Sign in' }).click();
    await b.page.getByTestId('use-suggestion').waitFor();
    await b.page.getByTestId('use-suggestion').click();
    await b.page.getByTestId('me').getByText('dana2').waitFor();
    const remembered = await b.page.evaluate(() => localStorage.getItem('parley.name'));
    expect(remembered).toBe('dana2');
    e2e.watch.assertClean();
  });

  it('a dropped connection resumes the same session and replays what was missed', async () => {
    const alice = await e2e.open('alice');
    await alice.signIn();
    const bob = await e2e.open('bob');
    await bob.signIn();
    await alice.waitForMember('bob');
    const session = e2e.app.server.hub.findByName('alice');
    const firstId = session?.id;
    // Drop alice's socket from the server side (as a network cut would); her session waits.
    session?.sink?.close(1011, 'test drop');
    await bob.send('while alice was away');
    await expect.poll(() => alice.texts(), { timeout: 15_000 }).toContain('while alice was away');
    await alice.page.getByTestId('connection').getByText('Connected').waitFor();
    expect(e2e.app.server.hub.findByName('alice')?.id).toBe(firstId);
    await expect(alice.page.getByTestId('me').textContent()).resolves.toBe('alice');
    await alice.send('back again');
    await expect.poll(() => bob.texts()).toContain('back again');
    expect((await bob.texts()).filter((t) => t === 'back again')).toHaveLength(1);
    e2e.watch.assertClean();
  });

  it('loads older messages when scrolling up', async () => {
    const alice = await e2e.open('alice');
    await alice.signIn();
    await alice.page.evaluate(() => {
      const hook = (window as unknown as { __parleyTest: { app: { chat: { send(t: string): void } } } }).__parleyTest;
      for (let i = 1; i <= 70; i++) hook.app.chat.send(`old ${i}`);
    });
    await expect.poll(() => alice.page.locator('[data-testid="message"][data-status="sent"]').count()).toBe(70);
    const bob = await e2e.open('bob');
    await bob.signIn();
    await expect.poll(() => bob.texts()).toContain('old 70');
    expect(await bob.texts()).not.toContain('old 1');
    await bob.page.getByTestId('messages').evaluate((el) => {
      el.scrollTop = 0;
    });
    await expect.poll(() => bob.texts()).toContain('old 1');
    await expect(bob.page.getByText('Beginning of the conversation').isVisible()).resolves.toBe(true);
    expect(await bob.texts()).toHaveLength(70);
    e2e.watch.assertClean();
  });

  it('works at 360x640 by keyboard alone', async () => {
    const a = await e2e.open('kim', { viewport: { width: 360, height: 640 } });
    await a.screenshot('sign-in-phone');
    await a.page.keyboard.type('kim');
    await a.page.keyboard.press('Enter');
    await a.page.getByTestId('connection').getByText('Connected').waitFor();
    // Tab to the composer and send.
    await a.page.getByTestId('composer').focus();
    await a.page.keyboard.type('typed by keyboard');
    await a.page.keyboard.press('Enter');
    await expect.poll(() => a.texts()).toContain('typed by keyboard');
    const overflow = await a.page.evaluate(
      () => document.documentElement.scrollWidth > document.documentElement.clientWidth,
    );
    expect(overflow).toBe(false);
    await a.screenshot('room-chat-phone');
    e2e.watch.assertClean();
  });
});
