/**
 * Browser-test harness: a real Parley server (in-process, on loopback) serving the built app, and
 * Chromium with fake media devices. Page objects below keep selectors out of the tests.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { buildServer, type ParleyServer } from '../../src/server/app.js';
import { type Config, defaults } from '../../src/server/config.js';
import { CHROMIUM_PATH, chromiumArgs } from './chromium.js';

export const WEB_ROOT = resolve('dist/client');
export const SCREENSHOTS = resolve('docs/screenshots');

/**
 * Chromium with fake media devices. `fakeDevices` is the fake device layer's option string, e.g.
 * "device-count=2" for two cameras (it always has three microphones and three speakers).
 */
export async function launchBrowser(opts: { fakeDevices?: string } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: chromiumArgs(opts.fakeDevices) });
}

export interface App {
  server: ParleyServer;
  port: number;
  url: string;
  config: Config;
  /** The tutorials' "chat" protocol endpoint, when the overrides turned it on (port 0: any). */
  legacyChatUrl: string | null;
  /** Stops the server and starts a new one on the same port and database file. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startApp(overrides: Partial<Config> = {}): Promise<App> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-e2e-'));
  const config: Config = {
    ...defaults,
    host: '127.0.0.1',
    port: 0,
    legacyChatPort: null,
    legacyLoginPort: null,
    dbPath: join(dir, 'parley.db'),
    imagesDir: join(dir, 'images'),
    dbSync: 'normal',
    logLevel: 'silent',
    webRoot: WEB_ROOT,
    ...overrides,
  };
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  let server = buildServer(config, { logger });
  const listening = await server.listen();
  const port = listening.port;
  config.port = port;
  let stopped = false;
  const app: App = {
    get server() {
      return server;
    },
    port,
    url: `http://127.0.0.1:${port}`,
    config,
    legacyChatUrl: listening.legacyChatPort === null ? null : `ws://127.0.0.1:${listening.legacyChatPort}/`,
    async stop() {
      stopped = true;
      await server.close();
    },
    async restart() {
      if (!stopped) await server.close();
      server = buildServer(config, { logger });
      await server.listen();
      stopped = false;
    },
    async close() {
      if (!stopped) await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return app;
}

/** Console errors and uncaught exceptions of every page, checked at the end of each test. */
export class ConsoleWatch {
  readonly errors: string[] = [];
  /** Messages the browser itself logs for expected network failures (server restarts). */
  allow: RegExp[] = [];

  attach(page: Page, label: string): void {
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.errors.push(`${label}: ${msg.text()}`);
    });
    page.on('pageerror', (error) => {
      this.errors.push(`${label}: uncaught ${error.message}`);
    });
  }

  assertClean(): void {
    const real = this.errors.filter((e) => !this.allow.some((re) => re.test(e)));
    expect(real).toEqual([]);
  }
}

export interface OpenOptions {
  viewport?: { width: number; height: number };
  /** Make getUserMedia fail for video with this DOMException name. */
  failVideo?: 'NotAllowedError' | 'NotFoundError' | 'NotReadableError';
  path?: string;
  /** The browser's language (navigator.languages); English unless given. */
  locale?: string;
}

export class Client {
  constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  static async open(browser: Browser, app: App, name: string, watch: ConsoleWatch, opts: OpenOptions = {}): Promise<Client> {
    const context = await browser.newContext({
      viewport: opts.viewport ?? { width: 1280, height: 800 },
      locale: opts.locale ?? 'en-US',
    });
    await context.addInitScript(
      ({ failVideo }) => {
        localStorage.setItem('parley.test', '1');
        if (failVideo) {
          const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
          navigator.mediaDevices.getUserMedia = (constraints?: MediaStreamConstraints) =>
            constraints?.video
              ? Promise.reject(new DOMException('blocked by test', failVideo))
              : original(constraints);
        }
      },
      { failVideo: opts.failVideo ?? null },
    );
    const page = await context.newPage();
    watch.attach(page, name);
    await page.goto(app.url + (opts.path ?? '/'));
    return new Client(name, context, page);
  }

  /** Signs in by the form's structure, not its words, so it works in every UI language. */
  async signIn(name = this.name): Promise<void> {
    await this.page.locator('#signin-name').fill(name);
    await this.page.getByTestId('signin').locator('button[type="submit"]').click();
    await this.page.locator('[data-testid="connection"][data-state="open"]').waitFor();
  }

  member(name: string) {
    return this.page.locator(`[data-testid="member"][data-name="${name}"]`);
  }

  async waitForMember(name: string): Promise<void> {
    // Attached, not visible: on a phone the member list sits in the closed menu.
    await this.member(name).waitFor({ state: 'attached' });
  }

  async send(text: string): Promise<void> {
    await this.page.getByTestId('composer').fill(text);
    await this.page.getByTestId('composer').press('Enter');
  }

  messages() {
    return this.page.getByTestId('message-text');
  }

  async texts(): Promise<string[]> {
    return this.messages().allTextContents();
  }

  /** Clicks the member's voice or video call button (by test id: works in every UI language). */
  async call(name: string, media: 'audio' | 'video'): Promise<void> {
    await this.member(name).getByTestId(`call-${media}`).click();
  }

  callStatus() {
    return this.page.getByTestId('call-status');
  }

  callState(): Promise<string | null> {
    return this.page.getByTestId('call').getAttribute('data-state', { timeout: 2000 }).catch(() => 'idle');
  }

  /** The call connection's negotiation so far: description types and ICE gathering (null: none). */
  negotiation(): Promise<{ local: string | null; remote: string | null; gathering: string | null }> {
    return this.page.evaluate(() => {
      const pc = (window as unknown as { __parleyTest: { pc: () => RTCPeerConnection | null } }).__parleyTest.pc();
      return {
        local: pc?.localDescription?.type ?? null,
        remote: pc?.remoteDescription?.type ?? null,
        gathering: pc?.iceGatheringState ?? null,
      };
    });
  }

  async waitForCallState(state: string, timeout = 20_000): Promise<void> {
    await this.page.locator(`[data-testid="call"][data-state="${state}"]`).waitFor({ timeout });
  }

  /** What this page's call looks like, connection included: for the message of a test that failed. */
  async diagnose(): Promise<string> {
    const state = await this.callState();
    const status = await this.callStatus().textContent({ timeout: 1000 }).catch(() => null);
    const pc = await this.page
      .evaluate(async () => {
        const c = (window as unknown as { __parleyTest: { pc: () => RTCPeerConnection | null } }).__parleyTest.pc();
        if (!c) return null;
        const pairs: string[] = [];
        let local = 0;
        let remote = 0;
        (await c.getStats()).forEach((r: { type: string; state?: string; nominated?: boolean }) => {
          if (r.type === 'candidate-pair') pairs.push(`${r.state}${r.nominated ? '*' : ''}`);
          if (r.type === 'local-candidate') local++;
          if (r.type === 'remote-candidate') remote++;
        });
        return {
          signaling: c.signalingState,
          connection: c.connectionState,
          ice: c.iceConnectionState,
          gathering: c.iceGatheringState,
          local: c.localDescription?.type ?? null,
          remote: c.remoteDescription?.type ?? null,
          transceivers: c.getTransceivers().map((t) => `${t.mid}:${t.direction}/${t.currentDirection}:${t.sender.track?.kind ?? '-'}`),
          candidates: { local, remote, pairs },
        };
      })
      .catch((error: unknown) => String(error));
    return `${this.name}: ${JSON.stringify({ state, status, pc })}`;
  }

  /** Inbound RTP bytes per kind, and the remote video's width, read from the live connection. */
  async media(): Promise<{ audio: number; video: number; videoWidth: number }> {
    return this.page.evaluate(async () => {
      const hook = (window as unknown as { __parleyTest?: { pc: () => RTCPeerConnection | null } }).__parleyTest;
      const pc = hook?.pc();
      const out = { audio: 0, video: 0, videoWidth: 0 };
      if (!pc) return out;
      const stats = await pc.getStats();
      stats.forEach((s: { type: string; kind?: string; bytesReceived?: number }) => {
        if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
          out[s.kind] += s.bytesReceived ?? 0;
        }
      });
      const video = document.querySelector<HTMLVideoElement>('[data-testid="remote-video"]');
      out.videoWidth = video?.videoWidth ?? 0;
      return out;
    });
  }

  async screenshot(name: string): Promise<void> {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await this.page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

/** Waits until inbound audio and video bytes grow between two samples. */
export async function expectMediaFlowing(client: Client, kinds: ('audio' | 'video')[] = ['audio', 'video']): Promise<void> {
  const deadline = Date.now() + 20_000;
  let first = await client.media();
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    const second = await client.media();
    const ok = kinds.every((k) => second[k] > first[k] && second[k] > 0) && (!kinds.includes('video') || second.videoWidth > 0);
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(`${client.name}: media not flowing: ${JSON.stringify({ first, second })}`);
    }
    first = second;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface UseOptions {
  /** Chromium's fake device options (see launchBrowser). */
  fakeDevices?: string;
  /** Start a server before each test, with these overrides ({} for the defaults). */
  appEach?: Partial<Config>;
  /** Check the console after each test, once its pages and server are closed. */
  assertCleanAfterEach?: boolean;
}

/** One file's browser, and each test's server, console watch and pages (see useBrowserAndServer). */
export interface E2E {
  readonly browser: Browser;
  /** This test's server; throws if none was started. */
  readonly app: App;
  /** This test's console watch (a new one for each test). */
  readonly watch: ConsoleWatch;
  /** Starts this test's server (closed after the test). */
  startApp(overrides?: Partial<Config>): Promise<App>;
  /** Opens a page on this test's server, starting one with the defaults if there is none yet. */
  open(name: string, opts?: OpenOptions): Promise<Client>;
  /** Opens a page and signs in as `name`. */
  user(name: string, opts?: OpenOptions): Promise<Client>;
  /** alice and bob signed in on two pages, each in the other's member list. */
  pair(optsA?: OpenOptions, optsB?: OpenOptions): Promise<[Client, Client]>;
}

/**
 * Registers the usual hooks of a browser-test file: Chromium launched once for the file; for each
 * test a new console watch, a server (in beforeEach with `appEach`, else when the test first needs
 * one), and its pages, all closed after the test.
 */
export function useBrowserAndServer(opts: UseOptions = {}): E2E {
  let browser: Browser | null = null;
  let app: App | null = null;
  let watch: ConsoleWatch | null = null;
  const clients: Client[] = [];

  beforeAll(async () => {
    browser = await launchBrowser({ fakeDevices: opts.fakeDevices });
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    watch = new ConsoleWatch();
    if (opts.appEach) app = await startApp(opts.appEach);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => undefined);
    await app?.close();
    app = null;
    if (opts.assertCleanAfterEach) watch?.assertClean();
  });

  const e2e: E2E = {
    get browser() {
      if (!browser) throw new Error('no browser');
      return browser;
    },
    get app() {
      if (!app) throw new Error('no app');
      return app;
    },
    get watch() {
      if (!watch) throw new Error('no console watch');
      return watch;
    },
    async startApp(overrides = {}) {
      if (app) throw new Error('this test already has a server');
      app = await startApp(overrides);
      return app;
    },
    async open(name, openOpts = {}) {
      app ??= await startApp();
      const c = await Client.open(e2e.browser, app, name, e2e.watch, openOpts);
      clients.push(c);
      return c;
    },
    async user(name, openOpts = {}) {
      const c = await e2e.open(name, openOpts);
      await c.signIn();
      return c;
    },
    async pair(optsA = {}, optsB = {}) {
      const a = await e2e.open('alice', optsA);
      const b = await e2e.open('bob', optsB);
      await a.signIn();
      await b.signIn();
      await a.waitForMember('bob');
      await b.waitForMember('alice');
      return [a, b];
    },
  };
  return e2e;
}

export interface CallOptions {
  /** The call's kind. Video unless given. */
  media?: 'audio' | 'video';
  /** What the callee accepts with: the call's kind unless given ('audio' answers a video call with voice). */
  answer?: 'audio' | 'video';
  /** Whose inbound media (audio, and video for a video call) to wait for once active. */
  flowing?: 'caller' | 'callee' | 'both' | 'none';
}

/** Waits for both sides of a call to be active; if they do not get there, says how each side stands. */
export async function waitBothActive(caller: Client, callee: Client, timeout = 20_000): Promise<void> {
  try {
    await Promise.all([caller.waitForCallState('active', timeout), callee.waitForCallState('active', timeout)]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\n${await caller.diagnose()}\n${await callee.diagnose()}`, { cause: error });
  }
}

/**
 * Reloads the page with its WebSocket link to the server made worse: every message `delayMs`
 * later each way, in order, as on a slow mobile link; and the server's messages of type `hold`
 * kept back until the returned function is called, as a busy page or link might. The page is
 * connected again on return.
 */
export async function shapeLink(c: Client, opts: { delayMs?: number; hold?: string }): Promise<() => Promise<void>> {
  await c.context.addInitScript(
    ({ delayMs, hold }: { delayMs: number; hold: string | null }) => {
      const w = window as unknown as { __releaseHeld: () => void };
      let held: (() => void)[] | null = [];
      w.__releaseHeld = () => {
        for (const deliver of held ?? []) deliver();
        held = null;
      };
      // Timers of equal delay fire in the order they were set, so the link keeps its order.
      const later = (run: () => void): void => {
        if (delayMs > 0) setTimeout(run, delayMs);
        else run();
      };
      const slot = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')!;
      Object.defineProperty(WebSocket.prototype, 'onmessage', {
        configurable: true,
        get(this: WebSocket) {
          return slot.get!.call(this) as unknown;
        },
        set(this: WebSocket, handler: ((event: MessageEvent) => void) | null) {
          slot.set!.call(
            this,
            handler &&
              ((event: MessageEvent) => {
                later(() => {
                  const data: unknown = event.data;
                  if (held && hold && typeof data === 'string' && data.includes(`"type":"${hold}"`)) {
                    held.push(() => {
                      handler(event);
                    });
                  } else {
                    handler(event);
                  }
                });
              }),
          );
        },
      });
      if (delayMs > 0) {
        const send = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'send')!.value as (this: WebSocket, data: string) => void;
        WebSocket.prototype.send = function (this: WebSocket, data: string) {
          later(() => {
            if (this.readyState === WebSocket.OPEN) send.call(this, data);
          });
        };
      }
    },
    { delayMs: opts.delayMs ?? 0, hold: opts.hold ?? null },
  );
  await c.page.reload();
  await c.page.locator('[data-testid="connection"][data-state="open"]').waitFor();
  return () =>
    c.page.evaluate(() => {
      (window as unknown as { __releaseHeld: () => void }).__releaseHeld();
    });
}

/** The caller calls the callee, who accepts; resolves once both are active (and media flows). */
export async function startCall(caller: Client, callee: Client, opts: CallOptions = {}): Promise<void> {
  const media = opts.media ?? 'video';
  const answer = media === 'video' ? (opts.answer ?? media) : 'audio';
  const flowing = opts.flowing ?? 'none';
  await caller.call(callee.name, media);
  await callee.waitForCallState('incoming');
  await callee.page.getByTestId(answer === 'video' ? 'accept-video' : 'accept-audio').click();
  await waitBothActive(caller, callee);
  const kinds: ('audio' | 'video')[] = answer === 'video' ? ['audio', 'video'] : ['audio'];
  if (flowing === 'caller' || flowing === 'both') await expectMediaFlowing(caller, kinds);
  if (flowing === 'callee' || flowing === 'both') await expectMediaFlowing(callee, kinds);
}
