import { describe, expect, it } from 'vitest';
import { ru } from '../../src/client/i18n/ru.js';
import { type Client, type OpenOptions, startCall, useBrowserAndServer } from './harness.js';
import { englishFragments, leaks, pageWords } from './leaks.js';

const e2e = useBrowserAndServer();

async function videoCall(opts: OpenOptions = {}): Promise<[Client, Client]> {
  const [a, b] = await e2e.pair(opts, opts);
  if (opts.viewport && opts.viewport.width < 700) await a.page.locator('.menu-toggle').click();
  await startCall(a, b, { flowing: 'caller' });
  return [a, b];
}

describe('call stats panel', () => {
  it('shows bitrate, round-trip time, loss, resolution, codec and a direct path', async () => {
    const [a] = await videoCall();
    const toggle = a.page.getByTestId('toggle-stats');
    await expect(toggle.getAttribute('aria-expanded')).resolves.toBe('false');
    await toggle.click();
    await expect(toggle.getAttribute('aria-expanded')).resolves.toBe('true');
    const panel = a.page.getByTestId('call-stats');
    await panel.waitFor();
    // Rates need two samples a second apart.
    const bitrate = panel.getByTestId('stats-bitrate');
    await expect.poll(async () => Number(await bitrate.getAttribute('data-in')), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(async () => Number(await bitrate.getAttribute('data-out'))).toBeGreaterThan(0);
    await expect(bitrate.textContent()).resolves.toMatch(/in [\d,]+ kbit\/s · out [\d,]+ kbit\/s/);
    await expect.poll(() => panel.getByTestId('stats-video-in').textContent()).toMatch(/^\d+×\d+/);
    await expect.poll(() => panel.getByTestId('stats-video-out').textContent()).toMatch(/^\d+×\d+/);
    await expect.poll(() => panel.getByTestId('stats-codecs').textContent()).toMatch(/VP8|VP9|H264|AV1/);
    await expect(panel.getByTestId('stats-codecs').textContent()).resolves.toMatch(/opus/i);
    await expect.poll(() => panel.getByTestId('stats-rtt').textContent()).toMatch(/^\d+ ms$/);
    await expect(panel.getByTestId('stats-loss').textContent()).resolves.toMatch(/%/);
    const path = panel.getByTestId('stats-path');
    await expect.poll(() => path.getAttribute('data-path')).toBe('direct');
    await expect(path.textContent()).resolves.toMatch(/^direct \(host ↔ host\)$/);
    await a.screenshot('call-stats-desktop');
    // Closing the panel stops sampling; reopening starts over.
    await toggle.click();
    await expect(panel.count()).resolves.toBe(0);
    await toggle.press('Enter');
    await panel.getByTestId('stats-path').waitFor();
    await a.page.getByTestId('hangup').click();
    e2e.watch.assertClean();
  });

  it('fits a phone screen, with the device pickers open too, and is reachable by keyboard', async () => {
    const [, b] = await videoCall({ viewport: { width: 360, height: 640 } });
    await b.page.getByTestId('toggle-stats').focus();
    await b.page.keyboard.press('Enter');
    const path = b.page.getByTestId('stats-path');
    await expect.poll(() => path.getAttribute('data-path'), { timeout: 10_000 }).toBe('direct');
    const box = await b.page.getByTestId('call-stats').boundingBox();
    expect(box).not.toBeNull();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(360);
    await b.page.getByTestId('toggle-devices').press('Enter');
    await b.page.getByTestId('device-camera').waitFor();
    for (const id of ['device-camera', 'device-microphone', 'call-stats']) {
      const r = await b.page.getByTestId(id).boundingBox();
      expect(r!.x + r!.width, id).toBeLessThanOrEqual(360);
    }
    await b.page.getByTestId('hangup').scrollIntoViewIfNeeded();
    await expect(b.page.getByTestId('hangup').isVisible()).resolves.toBe(true);
    await b.screenshot('call-stats-phone');
    e2e.watch.assertClean();
  });

  it('in Russian, the call with stats and device pickers open shows no English', async () => {
    const [a] = await videoCall({ locale: 'ru-RU' });
    await a.page.getByTestId('toggle-devices').click();
    await a.page.getByTestId('toggle-stats').click();
    await expect.poll(() => a.page.getByTestId('stats-path').getAttribute('data-path'), { timeout: 10_000 }).toBe('direct');
    await a.page.getByTestId('device-camera').waitFor();
    await expect(a.page.getByTestId('stats-path').textContent()).resolves.toContain(ru['stats.direct']);
    expect(leaks(await pageWords(a.page), englishFragments(ru))).toEqual([]);
    await a.screenshot('call-stats-ru');
    e2e.watch.assertClean();
  });
});
