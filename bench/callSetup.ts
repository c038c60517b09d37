/**
 * Scenario 5: call setup in Chromium. From the callee's accept to the first remote video frame on
 * each side, for a real Parley call (two browser contexts, signaling through a Parley server child
 * process) and, interleaved in the same run with the same pages and the same RTCPeerConnection
 * code, for the floor: no server, SDP and ICE handed from page to page by the bench through a
 * Playwright binding. See bench/callPage.ts for the in-page half and the negotiation flow.
 * A third mode, interleaved with the two, calls through the real built web app (dist/client, served
 * by the same Parley child) the way a user does; see bench/callApp.ts.
 *
 * Must run in a loopback-only network namespace so that every ICE candidate is 127.0.0.1;
 * bench/run.ts starts it that way. Standalone:
 *   unshare -n sh -c 'ip link set lo up; exec npx tsx bench/callSetup.ts --calls=10'
 * Progress goes to stderr; the result is one JSON line on stdout.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { loadavg, networkInterfaces } from 'node:os';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { SignalData } from '../src/protocol/protocol.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/e2e/chromium.js';
import { appCall, appClock, type AppUser, openAppUser, requireBuiltApp, waitForMember } from './callApp.js';
import { type CallBench, installCallPage } from './callPage.js';
import { freePort, median, ROOT, type RunningServer, startServer } from './lib.js';

const FRAME_TIMEOUT_MS = 20_000;

export interface CallSample {
  /** First remote frame on the caller's page, ms after T0. */
  callerMs: number;
  /** First remote frame on the callee's page, ms after T0. */
  calleeMs: number;
  /** Every mark of both pages, ms after T0 (prefixed caller./callee.). */
  marks: Record<string, number>;
  /**
   * Web app only: main-thread long tasks of each page, [start ms after T0, duration ms], and the
   * time they overlapped the span from T0 to that page's first frame.
   */
  longTasks?: { caller: [number, number][]; callee: [number, number][]; callerMs: number; calleeMs: number };
}

export interface CallSeries {
  samples: CallSample[];
  medianCallerMs: number;
  medianCalleeMs: number;
  /** Median over calls of the later of the two sides: both see each other. */
  medianBothMs: number;
  /** Median over calls of the later side's ICE+DTLS 'connected': the signaling part of the setup. */
  medianConnectedMs: number;
  medianMarks: Record<string, number>;
  /** Web app only: median over calls of each page's long-task time between T0 and its first frame. */
  medianLongTaskMs?: { caller: number; callee: number };
}

export interface CallSetupResult {
  calls: number;
  warmupCalls: number;
  chromium: string;
  interfaces: string[];
  /** Distinct addresses in all local ICE candidates of all calls, and how many candidates. */
  candidateAddresses: string[];
  candidates: number;
  /** Callee page clock minus caller page clock (estimated through Date.now()), ms. */
  clockSkewMs: number;
  firstFrameVia: string[];
  parley: CallSeries;
  floor: CallSeries;
  /** Both connections in one page, no relay: what the floor would be with zero signaling latency. */
  local: CallSeries;
  /**
   * The real web app on both sides (bench/callApp.ts): T0 is the click on the callee's accept
   * button, so its getUserMedia and the perfect-negotiation flow are inside the span.
   */
  app: CallSeries;
  /** Callee app page clock minus caller app page clock, ms. */
  appClockSkewMs: number;
  loadavg: number[];
}

type Method = keyof CallBench;

/** Calls a method of the page's CallBench. */
async function on<M extends Method>(
  page: Page,
  method: M,
  ...args: Parameters<CallBench[M]>
): Promise<Awaited<ReturnType<CallBench[M]>>> {
  const out: unknown = await page.evaluate(
    ({ method, args }) => {
      const bench = (window as unknown as { __callBench: Record<string, (...a: unknown[]) => unknown> }).__callBench;
      return bench[method]!(...args);
    },
    { method, args },
  );
  return out as Awaited<ReturnType<CallBench[M]>>;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function blankPageServer(): Promise<{ server: Server; url: string }> {
  return new Promise((done, fail) => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><meta charset="utf-8"><title>Parley call setup bench</title><body></body>');
    });
    server.once('error', fail);
    void freePort().then((port) => {
      server.listen(port, '127.0.0.1', () => {
        done({ server, url: `http://127.0.0.1:${port}/` });
      });
    });
  });
}

/** Chromium as the browser tests launch it (test/e2e/chromium.ts). */
function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
}

/** What sample() needs of a side; bench/callPage.ts's Side and bench/callApp.ts's AppSide both have it. */
interface Seen {
  firstFrameAt: number;
  marks: Record<string, number>;
}

function sample(caller: Seen, callee: Seen, t0: number): CallSample {
  const marks: Record<string, number> = {};
  for (const [side, s] of [
    ['caller', caller],
    ['callee', callee],
  ] as const) {
    for (const [name, at] of Object.entries(s.marks)) marks[`${side}.${name}`] = at - t0;
  }
  return { callerMs: caller.firstFrameAt - t0, calleeMs: callee.firstFrameAt - t0, marks };
}

function series(samples: CallSample[]): CallSeries {
  const names = new Set(samples.flatMap((s) => Object.keys(s.marks)));
  const medianMarks: Record<string, number> = {};
  for (const name of [...names].sort()) {
    medianMarks[name] = median(samples.map((s) => s.marks[name]).filter((v): v is number => v !== undefined));
  }
  return {
    samples,
    medianCallerMs: median(samples.map((s) => s.callerMs)),
    medianCalleeMs: median(samples.map((s) => s.calleeMs)),
    medianBothMs: median(samples.map((s) => Math.max(s.callerMs, s.calleeMs))),
    medianConnectedMs: median(
      samples.map((s) => Math.max(s.marks['caller.connected'] ?? NaN, s.marks['callee.connected'] ?? NaN)),
    ),
    medianMarks,
    ...(samples.every((s) => s.longTasks)
      ? {
          medianLongTaskMs: {
            caller: median(samples.map((s) => s.longTasks!.callerMs)),
            callee: median(samples.map((s) => s.longTasks!.calleeMs)),
          },
        }
      : {}),
  };
}

/** Long tasks relative to T0, and how much of them fell between T0 and `endMs` (ms after T0). */
function stalls(tasks: [number, number][], t0: number, endMs: number): { list: [number, number][]; inSpanMs: number } {
  const list = tasks.map(([start, duration]): [number, number] => [start - t0, duration]);
  let inSpanMs = 0;
  for (const [start, duration] of list) inSpanMs += Math.max(0, Math.min(start + duration, endMs) - Math.max(start, 0));
  return { list, inSpanMs };
}

/** The address field of a candidate line: "candidate:<foundation> <component> <proto> <prio> <address> …". */
function candidateAddress(line: string): string {
  return line.split(' ')[4] ?? '?';
}

export async function callSetup(calls: number, warmupCalls = 1): Promise<CallSetupResult> {
  // Before anything starts: the web-app mode needs the build, and saying so beats a blank page.
  requireBuiltApp(ROOT);
  const interfaces = Object.keys(networkInterfaces());
  let parleyServer: RunningServer | null = null;
  let page: { server: Server; url: string } | null = null;
  let browser: Browser | null = null;
  try {
    parleyServer = await startServer('parley');
    page = await blankPageServer();
    browser = await launch();
    const open = async () => {
      const context = await browser!.newContext({ viewport: { width: 800, height: 600 } });
      // tsx (esbuild keepNames) wraps functions in __name(); the serialized page code needs it too.
      await context.addInitScript('globalThis.__name = (f) => f;');
      const p = await context.newPage();
      p.on('pageerror', (error) => {
        log(`  page error: ${error.message}`);
      });
      await p.goto(page!.url);
      await p.evaluate(installCallPage);
      return p;
    };
    const caller = await open();
    const callee = await open();
    // The floor's signaling path: page → binding → bench → evaluate → other page, no server.
    const relay = (to: Page) => (data: SignalData) => {
      on(to, 'deliver', data).catch((error: unknown) => {
        log(`  floor relay failed: ${(error as Error).message}`);
      });
    };
    await caller.exposeFunction('__relay', relay(callee));
    await callee.exposeFunction('__relay', relay(caller));

    const [a, b] = await Promise.all([on(caller, 'setup'), on(callee, 'setup')]);
    const clockSkewMs = b.clockMinusDateMs - a.clockMinusDateMs;
    const wsUrl = `ws://127.0.0.1:${parleyServer.port}/ws`;
    await on(caller, 'connect', wsUrl, 'caller');
    const { id: calleeId } = await on(callee, 'connect', wsUrl, 'callee');

    // The web app: two more contexts, served by the same Parley child (WEB_ROOT is dist/client).
    // Names differ from the protocol pages' ("caller", "callee"): names are unique in a room.
    const appErrors: string[] = [];
    const appUrl = `http://127.0.0.1:${parleyServer.port}/`;
    const noteError = (message: string) => {
      appErrors.push(message);
      log(`  app page: ${message}`);
    };
    const appCaller: AppUser = await openAppUser(browser, appUrl, 'alice', noteError);
    const appCallee: AppUser = await openAppUser(browser, appUrl, 'bob', noteError);
    await waitForMember(appCaller, appCallee.name);
    const [ca, cb] = await Promise.all([appClock(appCaller), appClock(appCallee)]);
    const appClockSkewMs = cb - ca;

    const candidates: string[] = [];
    const via = new Set<string>();
    const collect = (x: { candidates: string[]; via: string }, y: { candidates: string[]; via: string }) => {
      candidates.push(...x.candidates, ...y.candidates);
      via.add(x.via).add(y.via);
    };

    // The protocol pages' camera and microphone: open only around their own calls (callPage.ts).
    const cameras = (open: boolean, pages: readonly Page[]) => Promise.all(pages.map((p) => on(p, 'camera', open)));

    const parleyCall = async (): Promise<CallSample> => {
      await cameras(true, [caller, callee]);
      const callId = await on(caller, 'invite', calleeId);
      const incoming = await on(callee, 'incoming');
      if (incoming !== callId) throw new Error(`callee got ${incoming}, caller rang ${callId}`);
      await on(callee, 'accept', callId);
      const [x, y] = await Promise.all([on(caller, 'result', FRAME_TIMEOUT_MS), on(callee, 'result', FRAME_TIMEOUT_MS)]);
      await Promise.all([on(caller, 'hangup'), on(callee, 'hangup')]);
      await cameras(false, [caller, callee]);
      collect(x, y);
      return sample(x, y, y.t0!);
    };
    const floorCall = async (): Promise<CallSample> => {
      await cameras(true, [caller, callee]);
      await on(callee, 'armFloor');
      await on(caller, 'startFloor');
      const [x, y] = await Promise.all([on(caller, 'result', FRAME_TIMEOUT_MS), on(callee, 'result', FRAME_TIMEOUT_MS)]);
      await Promise.all([on(caller, 'hangup'), on(callee, 'hangup')]);
      await cameras(false, [caller, callee]);
      collect(x, y);
      return sample(x, y, x.t0!);
    };

    // Both connections in the caller's page, sending its one camera both ways.
    const localCall = async (): Promise<CallSample> => {
      await cameras(true, [caller]);
      const [x, y] = await on(caller, 'localCall', FRAME_TIMEOUT_MS);
      await cameras(false, [caller]);
      collect(x, y);
      return sample(x, y, x.t0!);
    };

    const webAppCall = async (): Promise<CallSample> => {
      const [x, y] = await appCall(appCaller, appCallee, FRAME_TIMEOUT_MS);
      collect(x, y);
      const s = sample(x, y, y.t0!);
      const a = stalls(x.longTasks, y.t0!, s.callerMs);
      const b = stalls(y.longTasks, y.t0!, s.calleeMs);
      return { ...s, longTasks: { caller: a.list, callee: b.list, callerMs: a.inSpanMs, calleeMs: b.inSpanMs } };
    };

    const parley: CallSample[] = [];
    const floor: CallSample[] = [];
    const local: CallSample[] = [];
    const app: CallSample[] = [];
    const run = { parley: parleyCall, floor: floorCall, local: localCall, app: webAppCall };
    // Interleaved, alternating which goes first, so drift in machine load lands on all of them.
    for (let i = -warmupCalls; i < calls; i++) {
      const order =
        i % 2 === 0 ? (['parley', 'floor', 'local', 'app'] as const) : (['app', 'local', 'floor', 'parley'] as const);
      for (const kind of order) {
        const s = await run[kind]();
        const label = i < 0 ? 'warm-up' : `call ${i + 1}/${calls}`;
        log(`  ${label} ${kind.padEnd(6)} caller ${s.callerMs.toFixed(1)} ms, callee ${s.calleeMs.toFixed(1)} ms`);
        if (i >= 0) ({ parley, floor, local, app })[kind].push(s);
      }
    }
    // A console error in the app would mean the figures are of a call that went wrong somewhere.
    if (appErrors.length > 0) throw new Error(`the web app reported errors: ${appErrors.join(' | ')}`);

    return {
      calls,
      warmupCalls,
      chromium: browser.version(),
      interfaces,
      candidateAddresses: [...new Set(candidates.map(candidateAddress))].sort(),
      candidates: candidates.length,
      clockSkewMs,
      firstFrameVia: [...via],
      parley: series(parley),
      floor: series(floor),
      local: series(local),
      app: series(app),
      appClockSkewMs,
      loadavg: loadavg(),
    };
  } finally {
    await browser?.close().catch(() => undefined);
    page?.server.close();
    await parleyServer?.stop();
  }
}

/**
 * Runs this file in a fresh loopback-only network namespace (`unshare -n`, needs root) and returns
 * its JSON; its progress lines go to `log`.
 */
export function callSetupIsolated(calls: number, onLine: (line: string) => void): Promise<CallSetupResult> {
  return new Promise((done, fail) => {
    const script = `ip link set lo up && exec node --import tsx bench/callSetup.ts --calls=${calls}`;
    const child = spawn('unshare', ['-n', 'sh', '-c', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    child.once('error', fail);
    child.once('close', (code) => {
      if (partial) onLine(partial);
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('{')) done(JSON.parse(last) as CallSetupResult);
      else fail(new Error(`call setup exited with ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const calls = Number(args.find((a) => a.startsWith('--calls='))?.slice('--calls='.length) ?? '10');
  const others = Object.keys(networkInterfaces()).filter((name) => name !== 'lo');
  if (others.length > 0 && !args.includes('--any-network')) {
    throw new Error(
      `not in a loopback-only network namespace (interfaces: ${others.join(', ')}); run through ` +
        `unshare -n sh -c 'ip link set lo up; exec …', or pass --any-network`,
    );
  }
  const result = await callSetup(calls);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`call setup failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
