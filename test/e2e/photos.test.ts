/**
 * Still photos in a room, with Chromium's fake camera: take a photo, look at it, retake, send; the
 * other member sees the image (decoded, naturalWidth > 0), and it is in the room's history after
 * a reload.
 */
import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { en } from '../../src/client/i18n/en.js';
import { type Client, useBrowserAndServer } from './harness.js';

const e2e = useBrowserAndServer({ appEach: {}, assertCleanAfterEach: true });

function open(name: string, path: string): Promise<Client> {
  return e2e.user(name, { path });
}

/** Waits until the image has loaded and decoded, and returns its natural size. */
async function decoded(img: Locator): Promise<{ width: number; height: number }> {
  await expect
    .poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0), { timeout: 10_000 })
    .toBe(true);
  return img.evaluate((el: HTMLImageElement) => ({ width: el.naturalWidth, height: el.naturalHeight }));
}

describe('photos', () => {
  it('take a photo, retake, send; the other member sees it, and it is in history after a reload', async () => {
    const alice = await open('alice', '/r/snaps');
    const bob = await open('bob', '/r/snaps');
    await alice.waitForMember('bob');

    // The dialog's code is not part of the first load: it arrives when the button is pressed.
    const before = await alice.page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
    await alice.page.getByRole('button', { name: en['chat.takePhoto'] }).click();
    const dialog = alice.page.getByTestId('photo-dialog');
    await dialog.getByRole('heading', { name: en['photo.title'] }).waitFor();
    const after = await alice.page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
    expect(after.filter((u) => !before.includes(u)).some((u) => /\/assets\/PhotoCapture-[\w-]+\.js$/.test(u))).toBe(true);

    // Camera preview, then a still.
    await alice.page.locator('[data-testid="photo-dialog"][data-step="live"]').waitFor();
    await expect
      .poll(() => alice.page.getByTestId('photo-video').evaluate((v: HTMLVideoElement) => v.videoWidth))
      .toBeGreaterThan(0);
    await dialog.getByRole('button', { name: en['photo.capture'] }).click();
    const preview = alice.page.getByTestId('photo-preview');
    const first = await decoded(preview);
    expect(first.width).toBeGreaterThan(0);
    await expect(preview.getAttribute('alt')).resolves.toBe(en['photo.previewLabel']);
    await alice.screenshot('photo-preview-desktop');

    // Retake: back to the live camera, and a new still.
    await dialog.getByRole('button', { name: en['photo.retake'] }).click();
    await alice.page.locator('[data-testid="photo-dialog"][data-step="live"]').waitFor();
    await expect(preview.count()).resolves.toBe(0);
    await dialog.getByRole('button', { name: en['photo.capture'] }).click();
    await decoded(preview);
    await dialog.getByRole('button', { name: en['photo.send'] }).click();
    await dialog.waitFor({ state: 'detached' });
    // The camera is released once the dialog closes.
    await expect
      .poll(() => alice.page.evaluate(() => document.querySelectorAll('video').length))
      .toBe(0);

    // Alice's own copy shows, and is acknowledged.
    await alice.page.locator('[data-testid="message"][data-status="sent"] [data-testid="message-image"]').waitFor();

    // Bob sees the image, decoded, from the server.
    const img = bob.page.getByTestId('message-image');
    await img.waitFor();
    const seen = await decoded(img);
    expect(seen).toEqual({ width: first.width, height: first.height });
    await expect(img.getAttribute('alt')).resolves.toBe('Photo from alice');
    const src = (await img.getAttribute('src'))!;
    expect(src).toMatch(/^\/api\/images\/[A-Za-z0-9_-]{22}$/);
    const served = await bob.page.request.get(e2e.app.url + src);
    expect(served.headers()['content-type']).toBe('image/jpeg');
    expect(served.headers()['x-content-type-options']).toBe('nosniff');
    await expect(bob.page.getByTestId('message-text').count()).resolves.toBe(0);
    await bob.screenshot('room-photo-desktop');

    // After a reload, the photo is in the room's history.
    await bob.page.reload();
    await bob.page.locator('[data-testid="connection"][data-state="open"]').waitFor();
    const again = bob.page.getByTestId('message-image');
    await again.waitFor();
    expect(await decoded(again)).toEqual(seen);
    await expect(again.getAttribute('src')).resolves.toBe(src);
  }, 60_000);

  it('cancel closes the dialog and releases the camera; a blocked camera is explained', async () => {
    const carol = await open('carol', '/r/snaps');
    await carol.page.getByTestId('photo-button').click();
    await carol.page.locator('[data-testid="photo-dialog"][data-step="live"]').waitFor();
    await carol.page.getByRole('button', { name: en['photo.cancel'] }).click();
    await carol.page.getByTestId('photo-dialog').waitFor({ state: 'detached' });
    await expect(carol.page.evaluate(() => document.querySelectorAll('video').length)).resolves.toBe(0);
    await expect(carol.page.getByTestId('message-image').count()).resolves.toBe(0);

    const dave = await e2e.open('dave', { path: '/r/snaps', failVideo: 'NotAllowedError' });
    await dave.signIn();
    await dave.page.getByTestId('photo-button').click();
    await expect(dave.page.getByTestId('photo-problem').textContent()).resolves.toBe(en['media.denied.camera']);
    await expect(dave.page.getByTestId('photo-capture').isDisabled()).resolves.toBe(true);
    await dave.page.keyboard.press('Escape');
    await dave.page.getByTestId('photo-dialog').waitFor({ state: 'detached' });
  }, 45_000);
});
