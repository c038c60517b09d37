import { describe, expect, it } from 'vitest';
import { type Client, sleep, useBrowserAndServer } from './harness.js';

const e2e = useBrowserAndServer();
const ROOM = 'team';

interface Inbound {
  audio: number;
  video: number;
  /** The remote tile's video width (0 until frames are decoded). */
  width: number;
}

/** Inbound bytes from each other participant (by name), read from that peer's own connection. */
function perPeer(c: Client): Promise<Record<string, Inbound>> {
  return c.page.evaluate(async () => {
    type Hook = { groupPeers: () => { name: string; pc: RTCPeerConnection }[] };
    const hook = (window as unknown as { __parleyTest?: Hook }).__parleyTest;
    const out: Record<string, { audio: number; video: number; width: number }> = {};
    for (const { name, pc } of hook?.groupPeers() ?? []) {
      const o = { audio: 0, video: 0, width: 0 };
      const stats = await pc.getStats();
      stats.forEach((s: { type: string; kind?: string; bytesReceived?: number }) => {
        if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) o[s.kind] += s.bytesReceived ?? 0;
      });
      const video = document.querySelector<HTMLVideoElement>(
        `[data-testid="tile"][data-name="${CSS.escape(name)}"] video`,
      );
      o.width = video?.videoWidth ?? 0;
      out[name] = o;
    }
    return out;
  });
}

/** Waits until `c` decodes video from each of `names` and its audio and video bytes keep growing. */
async function expectFramesFromEach(c: Client, names: string[]): Promise<void> {
  const deadline = Date.now() + 40_000;
  let first = await perPeer(c);
  for (;;) {
    await sleep(1000);
    const second = await perPeer(c);
    const flowing = names.every((n) => {
      const a = first[n];
      const b = second[n];
      return a && b && b.width > 0 && b.video > a.video && b.audio > a.audio;
    });
    if (flowing && Object.keys(second).sort().join() === [...names].sort().join()) return;
    if (Date.now() > deadline) {
      throw new Error(`${c.name}: not receiving from each of ${names.join(', ')}: ${JSON.stringify({ first, second })}`);
    }
    first = second;
  }
}

const tiles = (c: Client) => c.page.getByTestId('group-grid').getByTestId('tile');
const inCallMarks = (c: Client) => c.page.locator('[data-testid="member"] [data-testid="in-room-call"]');

describe('group calls in a room', () => {
  it('four people in one room call each receive the other three; one leaves and the grid shrinks', { timeout: 240_000 }, async () => {
    const names = ['alice', 'bob', 'carol', 'dave'];
    const clients: Client[] = [];
    for (const name of names) {
      // dave is on a phone and uses the keyboard.
      const opts = name === 'dave' ? { path: `/r/${ROOM}`, viewport: { width: 360, height: 640 } } : { path: `/r/${ROOM}` };
      clients.push(await e2e.user(name, opts));
    }
    const [alice, bob, carol, dave] = clients as [Client, Client, Client, Client];
    for (const c of clients) {
      await expect.poll(() => c.page.getByTestId('chat-title').textContent()).toBe(`#${ROOM}`);
    }
    await alice.waitForMember('dave');

    // alice starts the call; the others see it in the header and join.
    const join = (c: Client) => c.page.getByTestId('group-join');
    await expect(join(alice).textContent()).resolves.toBe('Start a call');
    await join(alice).click();
    await alice.page.locator('[data-testid="group-call"][data-state="active"]').waitFor({ timeout: 20_000 });
    await expect.poll(() => join(bob).textContent()).toBe('Join the call (1 person)');
    await join(bob).click();
    await expect.poll(() => join(carol).textContent()).toBe('Join the call (2 people)');
    await join(carol).click();
    await expect.poll(() => join(dave).textContent()).toBe('Join the call (3 people)');
    await join(dave).focus();
    await dave.page.keyboard.press('Enter');

    for (const c of clients) {
      await c.page.locator('[data-testid="group-call"][data-state="active"]').waitFor({ timeout: 20_000 });
      await expect.poll(() => tiles(c).count(), { timeout: 20_000 }).toBe(4);
    }
    // The keyboard user lands on the call's controls.
    await expect.poll(() => dave.page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('group-mic');
    for (const c of clients) {
      await expectFramesFromEach(c, names.filter((n) => n !== c.name));
    }
    await dave.screenshot('group-call-phone');

    // The member list marks who is in the room call (in every list, the phone's included).
    for (const c of clients) await expect.poll(() => inCallMarks(c).count()).toBe(4);
    await expect(alice.member('bob').getByTestId('in-room-call').count()).resolves.toBe(1);
    await expect.poll(() => alice.member('bob').textContent()).toContain('in a call');

    // Mute and camera state show on the others' tiles.
    await bob.page.getByTestId('group-mic').click();
    await carol.page.getByTestId('group-camera').click();
    const tile = (c: Client, name: string) => tiles(c).and(c.page.locator(`[data-name="${name}"]`));
    await expect.poll(() => tile(alice, 'bob').getByTestId('tile-muted').count()).toBe(1);
    await expect.poll(() => tile(dave, 'carol').getByTestId('tile-camera-off').count()).toBe(1);
    await expect.poll(() => tile(alice, 'carol').getByTestId('tile-camera-off').count()).toBe(1);
    await carol.page.getByTestId('group-camera').click();
    await expect.poll(() => tile(alice, 'carol').getByTestId('tile-camera-off').count()).toBe(0);
    await expect.poll(() => alice.page.getByTestId('group-status').textContent()).toBe('Call in #team · 4 people in the call');
    await alice.screenshot('group-call');

    // A 1:1 call is not possible from inside the room call.
    await expect(alice.member('bob').getByTestId('call-video').isDisabled()).resolves.toBe(true);

    // dave leaves, by keyboard (mute, camera, leave): the others' grids shrink and their member
    // lists update.
    await dave.page.keyboard.press('Tab');
    await dave.page.keyboard.press('Tab');
    await expect(dave.page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('group-hangup');
    await dave.page.keyboard.press('Enter');
    await expect.poll(() => dave.page.getByTestId('group-call').count()).toBe(0);
    for (const c of [alice, bob, carol]) {
      await expect.poll(() => tiles(c).count(), { timeout: 15_000 }).toBe(3);
      await expect.poll(() => inCallMarks(c).count()).toBe(3);
      await expect(c.member('dave').getByTestId('in-room-call').count()).resolves.toBe(0);
    }
    await expect.poll(() => join(dave).textContent()).toBe('Join the call (3 people)');
    // The three left still hear and see each other.
    await expectFramesFromEach(alice, ['bob', 'carol']);

    // Everyone leaves: the call is over.
    for (const c of [alice, bob, carol]) await c.page.getByTestId('group-hangup').click();
    for (const c of clients) await expect.poll(() => join(c).textContent()).toBe('Start a call');
    for (const c of clients) await expect.poll(() => inCallMarks(c).count()).toBe(0);
    e2e.watch.assertClean();
  });
});
