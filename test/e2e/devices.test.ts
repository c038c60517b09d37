import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { expectMediaFlowing, startCall, useBrowserAndServer } from './harness.js';

// Three fake cameras (the fake layer always has three microphones and three speakers). Chromium's
// fake_device_1 emulates a depth camera (16-bit Y16 frames) that WebRTC cannot encode, even in a
// fresh call, so the tests switch to fake_device_2 (MJPEG, like most USB webcams).
const e2e = useBrowserAndServer({ fakeDevices: 'device-count=3' });

interface Hook {
  __parleyTest: {
    pc: () => RTCPeerConnection | null;
    descriptionsSent: () => number;
  };
}

/** Offers and answers a page has sent in the current call. */
function descriptions(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as Hook).__parleyTest.descriptionsSent());
}

/** The deviceId of the track the peer connection is sending, per kind. */
function sending(page: Page, kind: 'audio' | 'video'): Promise<string | null> {
  return page.evaluate((k) => {
    const pc = (window as unknown as Hook).__parleyTest.pc();
    const track = pc?.getSenders().find((s) => s.track?.kind === k)?.track;
    return track?.getSettings().deviceId ?? null;
  }, kind);
}

/** Frames the page has decoded from the peer's video. */
function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (window as unknown as Hook).__parleyTest.pc();
    let n = 0;
    (await pc?.getStats())?.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded ?? 0;
    });
    return n;
  });
}

/** Picks a device other than the current one (the one labelled `label` if given); returns its id. */
async function pickOther(page: Page, testId: string, label?: string): Promise<string> {
  const select = page.getByTestId(testId);
  const current = await select.inputValue();
  const options = await select
    .locator('option')
    .evaluateAll((os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, label: o.textContent })));
  const other = options.find(
    (o) => o.value !== current && o.value !== '' && o.value !== 'default' && (label === undefined || o.label === label),
  );
  if (!other) throw new Error(`${testId}: only ${JSON.stringify(options)}`);
  await select.selectOption(other.value);
  return other.value;
}

describe('device choice', () => {
  it('switches camera and microphone mid-call without renegotiating; frames keep arriving', async () => {
    const [a, b] = await e2e.pair();
    await startCall(a, b, { flowing: 'callee' });
    const before = { a: await descriptions(a.page), b: await descriptions(b.page) };
    expect(before.a + before.b).toBeGreaterThanOrEqual(2); // at least an offer and an answer
    const firstCamera = await sending(a.page, 'video');

    await a.page.getByTestId('toggle-devices').click();
    const cameras = a.page.getByTestId('device-camera').locator('option:not([value=""])'); // plus "System default"
    await expect.poll(() => cameras.count()).toBe(3);
    await expect(a.page.getByTestId('device-camera').inputValue()).resolves.toBe(firstCamera);
    const camera = await pickOther(a.page, 'device-camera', 'fake_device_2');
    await expect.poll(() => sending(a.page, 'video')).toBe(camera);

    // The peer keeps receiving and decoding video from the new camera.
    const decoded = await framesDecoded(b.page);
    await expectMediaFlowing(b, ['video']);
    await expect.poll(() => framesDecoded(b.page)).toBeGreaterThan(decoded + 10);

    const mic = await pickOther(a.page, 'device-microphone');
    await expect.poll(() => sending(a.page, 'audio')).toBe(mic);
    await expectMediaFlowing(b, ['audio']);

    // Nothing was renegotiated, on either side.
    await expect(descriptions(a.page)).resolves.toBe(before.a);
    await expect(descriptions(b.page)).resolves.toBe(before.b);
    await expect(a.page.getByTestId('device-problem').count()).resolves.toBe(0);

    // Speaker: the remote media element plays through the chosen output.
    await expect(a.page.getByTestId('device-speaker').inputValue()).resolves.toBe('default');
    const speaker = await pickOther(a.page, 'device-speaker');
    await expect
      .poll(() => a.page.getByTestId('remote-video').evaluate((el) => (el as HTMLVideoElement).sinkId))
      .toBe(speaker);
    await a.screenshot('call-devices-desktop');

    // Remembered for the next call, and across a reload.
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    await a.page.getByTestId('dismiss-call').click();
    await b.page.getByTestId('dismiss-call').click();
    await a.page.reload();
    await a.page.locator('[data-testid="connection"][data-state="open"]').waitFor();
    await a.waitForMember('bob');
    await startCall(a, b, { flowing: 'callee' });
    await expect.poll(() => sending(a.page, 'video')).toBe(camera);
    await expect.poll(() => sending(a.page, 'audio')).toBe(mic);
    await expect(a.page.getByTestId('device-fallback').count()).resolves.toBe(0);
    await a.page.getByTestId('hangup').click();
    e2e.watch.assertClean();
  });

  it('a remembered camera that is gone falls back to another and says so; no speaker picker without setSinkId', async () => {
    const [a, b] = await e2e.pair();
    // As in browsers that cannot choose the audio output.
    await a.context.addInitScript(() => {
      delete (HTMLMediaElement.prototype as { setSinkId?: unknown }).setSinkId;
    });
    await a.page.evaluate(() => {
      localStorage.setItem('parley.devices', JSON.stringify({ camera: { id: 'unplugged', label: 'Old webcam' } }));
    });
    await a.page.reload();
    await a.page.locator('[data-testid="connection"][data-state="open"]').waitFor();
    await a.waitForMember('bob');
    await startCall(a, b, { flowing: 'callee' });
    await expect.poll(() => sending(a.page, 'video')).toBeTruthy();
    await a.page.getByTestId('device-fallback').waitFor();
    await expect(a.page.getByTestId('device-fallback').textContent()).resolves.toContain('not connected');
    // Choosing a camera clears the notice and replaces the memory.
    await a.page.getByTestId('toggle-devices').click();
    await a.page.getByTestId('device-microphone').waitFor();
    await expect(a.page.getByTestId('device-speaker').count()).resolves.toBe(0);
    const camera = await pickOther(a.page, 'device-camera', 'fake_device_2');
    await expect.poll(() => sending(a.page, 'video')).toBe(camera);
    await expectMediaFlowing(b, ['video']);
    await expect(a.page.getByTestId('device-fallback').count()).resolves.toBe(0);
    await a.page.getByTestId('hangup').click();
    e2e.watch.assertClean();
  });
});
