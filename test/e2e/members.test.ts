import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useBrowserAndServer } from './harness.js';

// Large above 5 members, so a room of 131 gets the count and the first page of 100.
const e2e = useBrowserAndServer({ appEach: { roomFullPresenceMax: 5 } });
const sockets: WebSocket[] = [];

afterEach(() => {
  for (const ws of sockets.splice(0)) ws.terminate();
});

/** Signs a protocol-level user in (no browser), resolved once it is in the lobby. */
function bot(name: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${e2e.app.url.replace('http', 'ws')}/ws`);
    sockets.push(ws);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', versions: [1], name }));
    });
    ws.on('message', (data: Buffer) => {
      if (data.toString('utf8').includes('"type":"roomJoined"')) resolve(ws);
    });
    ws.on('error', reject);
  });
}

describe('a large room in the browser', () => {
  it('shows the count and the first page, loads the rest, and keeps it current', async () => {
    for (let i = 0; i < 130; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => bot(`p${String(i + j).padStart(3, '0')}`)));
    }
    const zed = await e2e.open('zed');
    await zed.signIn();

    const members = zed.page.getByTestId('member');
    const people = zed.page.locator('#sidebar h2', { hasText: 'People in #lobby' });
    await expect.poll(() => people.textContent()).toContain('(131)');
    await expect.poll(() => members.count()).toBe(100);
    // The first page, by name: zed sorts last and is not in it yet.
    expect(await zed.member('p000').count()).toBe(1);
    expect(await zed.member('zed').count()).toBe(0);

    // A click without scrolling: scrolling the list to its end loads the rest by itself, which
    // would race the click (the button goes away while Playwright scrolls to it).
    await zed.page.getByTestId('more-members').dispatchEvent('click');
    await expect.poll(() => members.count()).toBe(131);
    expect(await zed.member('zed').count()).toBe(1);
    expect(await zed.page.getByTestId('more-members').count()).toBe(0);

    // With the whole list loaded, every change arrives: someone leaves, someone joins.
    // (Closing the socket would not do: the session waits out its grace period, still present.)
    sockets[0]!.send(JSON.stringify({ type: 'leave', room: 'lobby' }));
    await expect.poll(() => zed.member('p000').count()).toBe(0);
    await bot('aaron');
    await expect.poll(() => zed.member('aaron').count()).toBe(1);
    await expect.poll(() => people.textContent()).toContain('(131)');
    // Any listed member can be called or messaged: the buttons are there as in a small room.
    expect(await zed.member('p129').getByTestId('call-audio').count()).toBe(1);
    e2e.watch.assertClean();
  });
});
