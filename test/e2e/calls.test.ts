import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/server/config.js';
import {
  type App,
  Client,
  ConsoleWatch,
  expectMediaFlowing,
  launchBrowser,
  type OpenOptions,
  startApp,
} from './harness.js';

let browser: Browser;
let app: App | null = null;
let watch: ConsoleWatch;
const clients: Client[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser.close();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await app?.close();
  app = null;
});

async function setup(config: Partial<Config> = {}): Promise<void> {
  app = await startApp(config);
  watch = new ConsoleWatch();
}

async function user(name: string, opts: OpenOptions = {}): Promise<Client> {
  if (!app) throw new Error('no app');
  const c = await Client.open(browser, app, name, watch, opts);
  clients.push(c);
  await c.signIn();
  return c;
}

async function pair(
  optsA: OpenOptions = {},
  optsB: OpenOptions = {},
): Promise<[Client, Client]> {
  const a = await user('alice', optsA);
  const b = await user('bob', optsB);
  await a.waitForMember('bob');
  await b.waitForMember('alice');
  return [a, b];
}

/** alice video-calls bob and bob accepts with video. */
async function connectedCall(a: Client, b: Client, media: 'audio' | 'video' = 'video'): Promise<void> {
  await a.call('bob', media);
  await b.waitForCallState('incoming');
  await b.page.getByTestId(media === 'video' ? 'accept-video' : 'accept-audio').click();
  await a.waitForCallState('active');
  await b.waitForCallState('active');
}

describe('calls in the browser', () => {
  it('a video call carries audio and video both ways; the callee hangs up', async () => {
    await setup();
    const [a, b] = await pair();
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await expect(b.callStatus().textContent()).resolves.toContain('alice is calling (video)');
    await expect.poll(() => a.callStatus().textContent()).toContain('Ringing bob');
    await b.screenshot('incoming-call-desktop');
    await b.page.getByTestId('accept-video').click();
    await a.waitForCallState('active');
    await b.waitForCallState('active');
    await expectMediaFlowing(a);
    await expectMediaFlowing(b);
    // Presence shows the call to others.
    await expect.poll(() => a.member('bob').textContent()).toContain('in a call');
    // Mute and camera state reach the peer.
    await b.page.getByTestId('toggle-mic').click();
    await expect.poll(() => a.page.getByTestId('peer-media').textContent()).toContain('bob is muted');
    await b.page.getByTestId('toggle-camera').click();
    await expect.poll(() => a.page.getByTestId('peer-media').textContent()).toContain("bob's camera is off");
    await b.page.getByTestId('toggle-camera').click();
    await b.page.getByTestId('toggle-mic').click();
    await expect.poll(() => a.page.getByTestId('peer-media').textContent()).toBe('');
    await expect.poll(() => a.callStatus().textContent()).toMatch(/bob · 00:0\d/);
    await a.screenshot('active-call-desktop');
    await b.page.getByTestId('hangup').click();
    await a.waitForCallState('ended');
    await expect(a.callStatus().textContent()).resolves.toContain('Call ended');
    await expect.poll(() => a.member('bob').textContent()).toContain('online');
    watch.assertClean();
  });

  it('on a phone: incoming call, voice answer, caller hangs up', async () => {
    await setup();
    const phone = { viewport: { width: 360, height: 640 } };
    const [a, b] = await pair(phone, phone);
    await a.page.getByRole('button', { name: 'Rooms and people' }).click();
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.screenshot('incoming-call-phone');
    // Keyboard: the accept button has focus; Tab to "voice only" and press Enter.
    await b.page.keyboard.press('Tab');
    await b.page.keyboard.press('Enter');
    await a.waitForCallState('active');
    await b.waitForCallState('active');
    await expectMediaFlowing(a, ['audio']);
    await expectMediaFlowing(b, ['audio']);
    await b.screenshot('active-call-phone');
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    watch.assertClean();
  });

  it('decline, cancel while ringing, and busy', async () => {
    await setup();
    const [a, b] = await pair();
    // Decline.
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.page.getByTestId('decline-call').click();
    await a.waitForCallState('ended');
    await expect(a.callStatus().textContent()).resolves.toContain('Declined');
    await a.page.getByTestId('dismiss-call').click();
    // Cancel while ringing.
    await a.call('bob', 'audio');
    await b.waitForCallState('incoming');
    await expect.poll(() => a.callStatus().textContent()).toContain('Ringing');
    await a.page.getByTestId('cancel-call').click();
    await b.waitForCallState('ended');
    await expect(b.callStatus().textContent()).resolves.toContain('cancelled');
    await a.page.getByTestId('dismiss-call').click();
    // Busy: carol calls alice while alice and bob are in a call.
    await connectedCall(a, b);
    const c = await user('carol');
    await c.waitForMember('alice');
    await c.call('alice', 'video');
    await c.waitForCallState('ended');
    await expect(c.callStatus().textContent()).resolves.toContain('Busy');
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    watch.assertClean();
  });

  it('an unanswered call times out as "no answer"', async () => {
    await setup({ callTimeoutMs: 2000 });
    const [a, b] = await pair();
    await a.call('bob', 'audio');
    await b.waitForCallState('incoming');
    await a.waitForCallState('ended', 10_000);
    await expect(a.callStatus().textContent()).resolves.toContain('No answer');
    await b.waitForCallState('ended');
    watch.assertClean();
  });

  it('the peer closing its tab ends the call', async () => {
    await setup({ graceMs: 60_000 });
    const [a, b] = await pair();
    await connectedCall(a, b);
    await b.page.close();
    await a.waitForCallState('ended', 15_000);
    watch.assertClean();
  });

  it('camera denied: the call goes on as voice and says why', async () => {
    await setup();
    const [a, b] = await pair({}, { failVideo: 'NotAllowedError' });
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.page.getByTestId('accept-video').click();
    await a.waitForCallState('active');
    await b.waitForCallState('active');
    const problem = b.page.getByTestId('media-problem');
    await expect(problem.getAttribute('data-code')).resolves.toBe('NotAllowedError');
    await expect(problem.textContent()).resolves.toContain('Permission to use the camera was denied');
    await expectMediaFlowing(a, ['audio']);
    await expectMediaFlowing(b, ['audio']);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    watch.assertClean();
  });
});
