/**
 * Scenario 5, web-app mode: a call between two copies of the real, built Parley web app
 * (dist/client, served by the Parley child of bench/callSetup.ts), driven the way a user drives it
 * and the way test/e2e drives it: sign in by name, click the callee's video-call button in the
 * member list, click "accept" on the callee, later "hang up" and "close".
 *
 * Nothing in src/client is changed for the bench. What the bench needs from inside the page is
 * installed before the app loads, as an init script (`installAppProbe`, serialized by Playwright,
 * so it must not use anything from this module's scope at run time: only types are imported):
 *
 * - T0: a capture-phase click listener on the window notes when the accept button is clicked;
 *   capture on the window runs before the button's own handler, so T0 is before the app's
 *   getUserMedia, which is part of what the user waits for.
 * - End: the first requestVideoFrameCallback of the app's remote <video> (data-testid
 *   "remote-video", as the e2e tests find it), or, without rVFC, its first `resize` with a width.
 *   Media events do not bubble, but a capture-phase listener on the window still sees them on the
 *   way down, so the probe learns of each new srcObject ('loadstart') without a MutationObserver.
 * - A step timeline for the breakdown, from the app's own traffic: getUserMedia calls, the Parley
 *   frames it sends and receives (a WebSocket subclass that listens before the app does), its
 *   RTCPeerConnection's events (a subclass), the call state machine's own transitions (it logs
 *   "call: a -> b" with console.debug), and the remote video's first `play`, `loadstart` and
 *   `loadedmetadata` (its stream set, its player loading, its first frame's size known). These
 *   wrappers only take a time stamp; they cost
 *   microseconds against a setup of a few hundred milliseconds.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';

/** What one app page saw of one call; times are performance.timeOrigin + performance.now(), in ms. */
export interface AppSide {
  /** When the accept button was clicked (the callee's page only). */
  t0: number | null;
  firstFrameAt: number;
  via: 'rvfc' | 'resize';
  /** Steps on the way; see installAppProbe for the names. */
  marks: Record<string, number>;
  /** The local ICE candidates the app's connection gathered (candidate lines). */
  candidates: string[];
  /**
   * Long tasks (≥ 50 ms, the Long Tasks API) of the page's main thread that began between the
   * arm and the first frame: [start, duration] in ms (start on the same clock as the marks).
   */
  longTasks: [number, number][];
}

export interface AppProbe {
  /** Forgets the previous call and starts recording a new one. */
  arm(): void;
  /** Resolves once the remote video of the armed call has shown its first frame. */
  result(timeoutMs: number): Promise<AppSide>;
  /** Page clock minus Date.now(), mean of many samples (for the skew between the two pages). */
  clockMinusDateMs(): number;
}

export interface AppUser {
  name: string;
  context: BrowserContext;
  page: Page;
}

/** Where the built web app must be; the Parley child serves it (WEB_ROOT in bench/lib.ts). */
export function requireBuiltApp(root: string): void {
  const index = join(root, 'dist/client/index.html');
  if (!existsSync(index)) {
    throw new Error(
      `${index} is missing: scenario 5 calls through the built web app, so run \`npm run build\` first`,
    );
  }
}

export function installAppProbe(): void {
  interface Rec {
    t0: number | null;
    marks: Record<string, number>;
    candidates: string[];
    longTasks: [number, number][];
    firstFrameAt: number;
    via: 'rvfc' | 'resize';
    done: Promise<void>;
    resolve: () => void;
  }
  const now = () => performance.timeOrigin + performance.now();
  const fresh = (): Rec => {
    let resolve: () => void = () => undefined;
    const done = new Promise<void>((ok) => {
      resolve = ok;
    });
    return {
      t0: null,
      marks: {},
      candidates: [],
      longTasks: [],
      firstFrameAt: 0,
      via: 'rvfc',
      done,
      resolve,
    };
  };
  let rec = fresh();
  // Only the first occurrence of a step in a call counts (e.g. the first candidate sent).
  const mark = (name: string) => {
    rec.marks[name] ??= now();
  };

  // T0: the accept click, before the app's own click handler runs.
  window.addEventListener(
    'click',
    (event) => {
      const target = event.target;
      if (target instanceof Element && target.closest('[data-testid="accept-video"]')) rec.t0 ??= now();
    },
    true,
  );

  // The first remote video frame. Every new srcObject on the remote video starts a load
  // ('loadstart'); a frame callback is asked for each time, in case a reload drops pending ones.
  const isRemote = (t: EventTarget | null): t is HTMLVideoElement =>
    t instanceof HTMLVideoElement && t.dataset.testid === 'remote-video';
  // A callback of an earlier call's element (r is no longer the armed record) does not count.
  const seen = (r: Rec, via: 'rvfc' | 'resize') => {
    if (r !== rec || r.firstFrameAt) return;
    r.firstFrameAt = now();
    r.via = via;
    r.resolve();
  };
  const rvfc = typeof HTMLVideoElement.prototype.requestVideoFrameCallback === 'function';
  for (const type of ['loadstart', 'loadedmetadata', 'play']) {
    window.addEventListener(
      type,
      (event) => {
        const video = event.target;
        if (!isRemote(video)) return;
        mark(type);
        if (!rvfc) return;
        const r = rec;
        video.requestVideoFrameCallback(() => {
          seen(r, 'rvfc');
        });
      },
      true,
    );
  }
  window.addEventListener(
    'resize',
    (event) => {
      const video = event.target;
      if (!isRemote(video) || video.videoWidth === 0) return;
      mark('resize');
      if (!rvfc) seen(rec, 'resize');
    },
    true,
  );

  // Main-thread stalls: a step that waits behind a long task is late for reasons other than
  // WebRTC or the network.
  if (PerformanceObserver.supportedEntryTypes.includes('longtask')) {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const start = performance.timeOrigin + entry.startTime;
        if (!rec.firstFrameAt) rec.longTasks.push([start, entry.duration]);
      }
    }).observe({ type: 'longtask' });
  }

  // getUserMedia: the callee's happens after the accept click, inside the timed span.
  const media = navigator.mediaDevices;
  const getUserMedia = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints?: MediaStreamConstraints) => {
    mark('gumStart');
    const stream = await getUserMedia(constraints);
    mark('gumDone');
    return stream;
  };

  // The call state machine's own timeline ("call: incoming -> connecting").
  const debug = console.debug.bind(console);
  console.debug = (...args: unknown[]) => {
    const m = typeof args[0] === 'string' ? /^call: \w+ -> (\w+)$/.exec(args[0]) : null;
    if (m) mark(`state.${m[1]!}`);
    debug(...args);
  };

  // The Parley frames that matter for a call, sent and received, as the app's socket sees them.
  const frame = (raw: unknown, dir: 'sent' | 'arrived') => {
    if (typeof raw !== 'string' || (!raw.includes('"call') && !raw.includes('"signal"'))) return;
    let m: { type?: unknown; data?: { kind?: unknown; description?: { type?: unknown } } };
    try {
      m = JSON.parse(raw) as typeof m;
    } catch {
      return;
    }
    if (m.type === 'signal') {
      const kind = m.data?.kind;
      if (kind === 'description') mark(`${String(m.data?.description?.type)}${dir === 'sent' ? 'Sent' : 'Arrived'}`);
      else if (kind === 'candidate') mark(dir === 'sent' ? 'candidateSent' : 'candidateArrived');
      return;
    }
    if (m.type === 'callAccept' && dir === 'sent') mark('acceptSent');
    if (m.type === 'callAccepted' && dir === 'arrived') mark('accepted');
    if (m.type === 'callIncoming' && dir === 'arrived') mark('incoming');
  };
  const NativeSocket = window.WebSocket;
  class ProbedSocket extends NativeSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      // Added in the constructor, so it runs before the app's onmessage.
      this.addEventListener('message', (event: MessageEvent) => {
        frame(event.data, 'arrived');
      });
    }

    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      frame(data, 'sent');
      super.send(data);
    }
  }
  (window as unknown as { WebSocket: typeof WebSocket }).WebSocket = ProbedSocket;

  // The app's peer connection: when it exists, applies descriptions, connects, gets the track.
  const NativePc = window.RTCPeerConnection;
  class ProbedPc extends NativePc {
    constructor(config?: RTCConfiguration) {
      super(config);
      mark('pc');
      this.addEventListener('icecandidate', ({ candidate }) => {
        if (candidate?.candidate) rec.candidates.push(candidate.candidate);
      });
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected') mark('connected');
      });
      this.addEventListener('track', ({ track }) => {
        if (track.kind === 'video') mark('track');
      });
      this.addEventListener('negotiationneeded', () => {
        mark('negotiationNeeded');
      });
    }

    // The app calls it without arguments (perfect negotiation): the offer or answer is made inside.
    override async setLocalDescription(description?: RTCLocalSessionDescriptionInit): Promise<void> {
      mark('localDescriptionStart');
      await super.setLocalDescription(description);
      mark(`${this.localDescription?.type ?? '?'}Made`);
    }

    override async setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void> {
      await super.setRemoteDescription(description);
      mark(`${description.type ?? '?'}Applied`);
    }
  }
  (window as unknown as { RTCPeerConnection: typeof RTCPeerConnection }).RTCPeerConnection = ProbedPc;

  const probe: AppProbe = {
    arm() {
      rec = fresh();
    },
    async result(timeoutMs) {
      const r = rec;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, fail) => {
        timer = setTimeout(() => {
          fail(new Error(`no remote video frame within ${timeoutMs} ms (marks ${JSON.stringify(r.marks)})`));
        }, timeoutMs);
      });
      try {
        await Promise.race([r.done, timeout]);
      } finally {
        clearTimeout(timer);
      }
      return {
        t0: r.t0,
        firstFrameAt: r.firstFrameAt,
        via: r.via,
        marks: r.marks,
        candidates: r.candidates,
        longTasks: r.longTasks,
      };
    },
    clockMinusDateMs() {
      let sum = 0;
      let n = 0;
      const until = performance.now() + 50;
      while (performance.now() < until) {
        sum += performance.timeOrigin + performance.now() - Date.now();
        n++;
      }
      return sum / n;
    },
  };
  (window as unknown as { __appProbe: AppProbe }).__appProbe = probe;
}

function probe<M extends keyof AppProbe>(
  page: Page,
  method: M,
  ...args: Parameters<AppProbe[M]>
): Promise<Awaited<ReturnType<AppProbe[M]>>> {
  return page.evaluate(
    ({ method, args }) => {
      const p = (window as unknown as { __appProbe: Record<string, (...a: unknown[]) => unknown> }).__appProbe;
      return p[method]!(...args);
    },
    { method, args },
  ) as Promise<Awaited<ReturnType<AppProbe[M]>>>;
}

/** Page clock minus Date.now() of an app page. */
export function appClock(user: AppUser): Promise<number> {
  return probe(user.page, 'clockMinusDateMs');
}

/**
 * Opens the web app in a context of its own (as test/e2e/harness.ts does: desktop viewport, so
 * the member list is on screen, English UI) and signs in as `name`.
 */
export async function openAppUser(
  browser: Browser,
  url: string,
  name: string,
  onError: (message: string) => void,
): Promise<AppUser> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  // tsx (esbuild keepNames) wraps functions in __name(); the serialized probe needs it too, first.
  await context.addInitScript('globalThis.__name = (f) => f;');
  await context.addInitScript(installAppProbe);
  const page = await context.newPage();
  page.on('pageerror', (error) => {
    onError(`${name}: ${error.message}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') onError(`${name}: console error: ${msg.text()}`);
  });
  await page.goto(url);
  await page.locator('#signin-name').fill(name);
  await page.getByTestId('signin').locator('button[type="submit"]').click();
  await page.locator('[data-testid="connection"][data-state="open"]').waitFor();
  return { name, context, page };
}

function member(user: AppUser, name: string) {
  return user.page.locator(`[data-testid="member"][data-name="${name}"]`);
}

/** Waits until `user` sees `name` in the member list. */
export async function waitForMember(user: AppUser, name: string): Promise<void> {
  await member(user, name).waitFor({ state: 'attached' });
}

async function waitForCallState(user: AppUser, state: string, timeoutMs: number): Promise<void> {
  await user.page.locator(`[data-testid="call"][data-state="${state}"]`).waitFor({ timeout: timeoutMs });
}

/**
 * One video call between two signed-in app pages, as a user makes it; resolves with what each page
 * saw, once both are back to idle (call panel gone), so the next call starts from the same state.
 */
export async function appCall(caller: AppUser, callee: AppUser, timeoutMs: number): Promise<[AppSide, AppSide]> {
  await Promise.all([probe(caller.page, 'arm'), probe(callee.page, 'arm')]);
  await member(caller, callee.name).getByTestId('call-video').click();
  await waitForCallState(callee, 'incoming', timeoutMs);
  // T0 is taken inside the page, at the click itself; Playwright's own checks before it do not count.
  await callee.page.getByTestId('accept-video').click();
  const [x, y] = await Promise.all([probe(caller.page, 'result', timeoutMs), probe(callee.page, 'result', timeoutMs)]);
  if (y.t0 === null) throw new Error('the accept click was not seen on the callee page');
  await caller.page.getByTestId('hangup').click();
  await Promise.all([waitForCallState(caller, 'ended', timeoutMs), waitForCallState(callee, 'ended', timeoutMs)]);
  // "Close" instead of the app's 6 s auto-dismiss; idle = the call panel is not rendered at all.
  for (const user of [caller, callee]) {
    await user.page.getByTestId('dismiss-call').click();
    await user.page.getByTestId('call').waitFor({ state: 'detached', timeout: timeoutMs });
  }
  return [x, y];
}
