import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { expectMediaFlowing, startCall, useBrowserAndServer } from './harness.js';

/*
 * Screen sharing. Chromium's fake device layer (--use-fake-device-for-media-stream) also fakes a
 * 1280×720 "screen", and --use-fake-ui-for-media-stream accepts the browser's picker, so
 * getDisplayMedia succeeds headless with the harness's usual flags. (Checked on Chromium 156:
 * --auto-select-desktop-capture-source without the fake UI leaves the picker waiting, and the fake
 * UI without the fake devices fails with NotReadableError.) The camera is 640×480 (4:3), the
 * screen 16:9, so the peer's video changing shape shows which one it receives.
 */

const e2e = useBrowserAndServer();

interface Hook {
  __parleyTest: { pc: () => RTCPeerConnection | null; descriptionsSent: () => number };
}

function descriptions(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as Hook).__parleyTest.descriptionsSent());
}

/** What the page sends as video: a screen ('monitor', 'window', 'browser'), the camera, or nothing. */
function sendingVideo(page: Page): Promise<string> {
  return page.evaluate(() => {
    const pc = (window as unknown as Hook).__parleyTest.pc();
    const track = pc?.getSenders().find((s) => s.track?.kind === 'video')?.track;
    if (!track) return 'none';
    const settings = track.getSettings() as MediaTrackSettings & { displaySurface?: string };
    return settings.displaySurface ?? 'camera';
  });
}

/** The shape of the peer's video as shown, and the frames decoded so far. */
function remoteVideo(page: Page): Promise<{ width: number; height: number; frames: number; visible: boolean }> {
  return page.evaluate(async () => {
    const pc = (window as unknown as Hook).__parleyTest.pc();
    let frames = 0;
    (await pc?.getStats())?.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    });
    const el = document.querySelector<HTMLVideoElement>('[data-testid="remote-video"]');
    return {
      width: el?.videoWidth ?? 0,
      height: el?.videoHeight ?? 0,
      frames,
      visible: el !== null && !el.classList.contains('hidden'),
    };
  });
}

/** Waits until the peer's video has the given shape (height / width) and frames keep coming. */
async function expectShape(page: Page, ratio: number): Promise<void> {
  await expect
    .poll(async () => {
      const v = await remoteVideo(page);
      return v.width > 0 ? Math.round((v.height / v.width) * 100) / 100 : 0;
    }, { timeout: 15_000 })
    .toBe(ratio);
  const before = (await remoteVideo(page)).frames;
  await expect.poll(async () => (await remoteVideo(page)).frames, { timeout: 10_000 }).toBeGreaterThan(before + 10);
}

const CAMERA = 0.75; // 640×480
const SCREEN = 0.56; // 1280×720

describe('screen sharing', () => {
  it('replaces the camera with the screen and back, without renegotiating; the peer is told', async () => {
    const [a, b] = await e2e.pair();
    await startCall(a, b, { media: 'video', flowing: 'callee' });
    await expectShape(b.page, CAMERA);
    const before = { a: await descriptions(a.page), b: await descriptions(b.page) };

    await a.page.getByTestId('toggle-share').click();
    await a.page.getByTestId('sharing').waitFor();
    await expect.poll(() => sendingVideo(a.page)).toBe('monitor');
    await expect.poll(() => b.page.getByTestId('peer-media').textContent()).toContain('alice is sharing their screen');
    await expectShape(b.page, SCREEN);
    const shared = await remoteVideo(b.page);
    expect(shared.width).toBeGreaterThan(640);
    await b.screenshot('call-screen-share-desktop');

    // Stop with the button: back to the camera.
    await a.page.getByTestId('toggle-share').click();
    await expect.poll(() => sendingVideo(a.page)).toBe('camera');
    await expect.poll(() => b.page.getByTestId('peer-media').textContent()).toBe('');
    await expectShape(b.page, CAMERA);

    // Stop with the browser's own "Stop sharing" (the track ends): back to the camera too.
    await a.page.getByTestId('toggle-share').click();
    await expect.poll(() => sendingVideo(a.page)).toBe('monitor');
    await expectShape(b.page, SCREEN);
    await a.page.evaluate(() => {
      const pc = (window as unknown as Hook).__parleyTest.pc();
      pc?.getSenders().find((s) => s.track?.kind === 'video')?.track?.dispatchEvent(new Event('ended'));
    });
    await expect.poll(() => sendingVideo(a.page)).toBe('camera');
    await expect(a.page.getByTestId('sharing').count()).resolves.toBe(0);
    await expect.poll(() => b.page.getByTestId('peer-media').textContent()).toBe('');
    await expectShape(b.page, CAMERA);

    // replaceTrack on the camera's sender: no offer or answer on either side.
    await expect(descriptions(a.page)).resolves.toBe(before.a);
    await expect(descriptions(b.page)).resolves.toBe(before.b);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('in a voice call the screen adds a video sender once; the peer shows it, then hides it', async () => {
    const [a, b] = await e2e.pair();
    await startCall(a, b, { media: 'audio', flowing: 'callee' });
    await expect.poll(() => sendingVideo(a.page)).toBe('none');
    expect((await remoteVideo(b.page)).visible).toBe(false);
    const start = await descriptions(a.page);

    await a.page.getByTestId('toggle-share').click();
    await expect.poll(() => sendingVideo(a.page)).toBe('monitor');
    await expect.poll(async () => (await remoteVideo(b.page)).visible).toBe(true);
    await expectShape(b.page, SCREEN);
    // A voice call had no video sender: perfect negotiation renegotiated.
    expect(await descriptions(a.page)).toBeGreaterThan(start);

    await a.page.getByTestId('toggle-share').click();
    await expect.poll(() => sendingVideo(a.page)).toBe('none');
    await expect.poll(async () => (await remoteVideo(b.page)).visible).toBe(false);
    await expect.poll(() => b.page.getByTestId('peer-media').textContent()).toBe('');
    await expectMediaFlowing(b, ['audio']);

    // Sharing again reuses the idle sender: no further offer.
    const afterFirst = { a: await descriptions(a.page), b: await descriptions(b.page) };
    await a.page.getByTestId('toggle-share').click();
    await expect.poll(() => sendingVideo(a.page)).toBe('monitor');
    await expect.poll(async () => (await remoteVideo(b.page)).visible).toBe(true);
    await expectShape(b.page, SCREEN);
    await expect(descriptions(a.page)).resolves.toBe(afterFirst.a);
    await expect(descriptions(b.page)).resolves.toBe(afterFirst.b);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });
  it('after a voice answer to a video call, either side shares a screen and the other sees it', async () => {
    const [a, b] = await e2e.pair();
    await startCall(a, b, { answer: 'audio', flowing: 'callee' });
    for (const c of [a, b]) await expect.poll(() => sendingVideo(c.page)).toBe('none');
    // Alice's video sender stayed from the video call, idle: her screen takes it without an offer.
    const before = await descriptions(a.page);
    await a.page.getByTestId('toggle-share').click();
    await expect.poll(() => sendingVideo(a.page)).toBe('monitor');
    await expect.poll(async () => (await remoteVideo(b.page)).visible).toBe(true);
    await expectShape(b.page, SCREEN);
    await expect(descriptions(a.page)).resolves.toBe(before);
    await a.page.getByTestId('toggle-share').click();
    await expect.poll(async () => (await remoteVideo(b.page)).visible).toBe(false);
    // Bob's side never sent video: his screen negotiates a sender once.
    await b.page.getByTestId('toggle-share').click();
    await expect.poll(() => sendingVideo(b.page)).toBe('monitor');
    await expect.poll(async () => (await remoteVideo(a.page)).visible).toBe(true);
    await expectShape(a.page, SCREEN);
    await b.page.getByTestId('hangup').click();
    await a.waitForCallState('ended');
    e2e.watch.assertClean();
  });
});
