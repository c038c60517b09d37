/**
 * How the browser tests (test/e2e/harness.ts) and the call-setup benchmark (bench/callSetup.ts)
 * launch Debian's Chromium. No test-runner imports here: the benchmark uses it too.
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Chromium's flags: fake media devices that the fake UI grants without a prompt, loopback ICE, and
 * no background work. `fakeDevices` is the fake device layer's option string, e.g.
 * "device-count=2" for two cameras (it always has three microphones and three speakers).
 */
export function chromiumArgs(fakeDevices?: string): string[] {
  return [
    fakeDevices ? `--use-fake-device-for-media-stream=${fakeDevices}` : '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--autoplay-policy=no-user-gesture-required',
  ];
}

/** The flags with the default fake devices (one camera). */
export const CHROMIUM_ARGS: readonly string[] = chromiumArgs();
