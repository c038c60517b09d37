import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningServer, type ServerKind, startServer } from '../../bench/lib.js';
import { durableChat, fanout, relay, signIn } from '../../bench/scenarios.js';
import { webAppSize } from '../../bench/webapp.js';

// The benchmark's scenarios (bench/scenarios.ts) at a small size, against the same server
// processes `npm run bench` starts: each must do the work it reports on and account for every
// frame, so a protocol change that breaks the benchmark fails here rather than in a figure.
// Nothing here is timed: the speed goals live in `npm run bench`.

const servers: RunningServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

async function start(kind: ServerKind): Promise<RunningServer> {
  const server = await startServer(kind);
  servers.push(server);
  return server;
}

const LONG = 90_000;

describe.each<ServerKind>(['parley', 'bare', 'peerjs'])('the benchmark against %s', (kind) => {
  it(
    'signs everyone in, with presence for Parley, and reads the server memory',
    async () => {
      const result = await signIn(await start(kind), 60, 20_000);
      expect(result).toMatchObject({ users: 60, usersIn: 60, presenceComplete: 1, timedOut: false });
      expect(result.allInMs).toBeGreaterThan(0);
      expect(Number.isFinite(result.rssPerConnBytes)).toBe(true);
    },
    LONG,
  );

  it(
    'relays every signal at a fixed rate and at saturation, none lost',
    async () => {
      const phases = await relay(await start(kind), {
        pairs: 4,
        rates: [200],
        phaseMs: 400,
        warmupMs: 100,
        saturationWindow: 2,
      });
      expect(phases.map((p) => p.offered)).toEqual([200, 'saturation']);
      for (const phase of phases) {
        expect(phase.sent).toBeGreaterThan(0);
        expect(phase.lost).toBe(0);
        expect(phase.delivered).toBe(phase.sent);
        expect(phase.p50Ms).toBeGreaterThan(0);
        expect(phase.p99Ms).toBeGreaterThanOrEqual(phase.p50Ms);
      }
      // 200 msg/s for 0.4 s, and the 0.1 s warm-up's frames before them.
      expect(phases[0]!.sent).toBeGreaterThanOrEqual(60);
    },
    LONG,
  );
});

describe.each<ServerKind>(['parley', 'bare'])('the benchmark against %s', (kind) => {
  it(
    'fans a message and a burst out to every member',
    async () => {
      const result = await fanout(await start(kind), { members: 25, burst: 3, reps: 2 });
      expect(result.members).toBe(25);
      expect(result.oneMs).toBeGreaterThan(0);
      expect(result.burstMs).toBeGreaterThan(0);
      expect(result.deliveriesPerSec).toBeCloseTo((3 * 24 * 1000) / result.burstMs, 6);
      expect(result.p99Ms).toBeGreaterThan(0);
    },
    LONG,
  );
});

describe('the benchmark against parley', () => {
  it(
    'a large lobby: everyone signs in and learns the full count from the coalesced deltas',
    async () => {
      // Past ROOM_FULL_PRESENCE_MAX (250): roomJoined carries a first page, later counts come
      // in `members` frames, as in the 10k sign-in.
      const result = await signIn(await start('parley'), 300, 40_000);
      expect(result).toMatchObject({ users: 300, usersIn: 300, presenceComplete: 1, timedOut: false });
    },
    LONG,
  );

  it(
    'durable chat: messages are acknowledged once stored',
    async () => {
      const result = await durableChat(await start('parley'), { senders: 3, window: 2, durationMs: 400 });
      expect(result).toMatchObject({ senders: 3, window: 2 });
      expect(result.acksPerSec).toBeGreaterThan(0);
      expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
    },
    LONG,
  );
});

describe('the web app size', () => {
  it('counts the entry script and its modulepreloads, gzipped at level 6, and nothing else', () => {
    const root = mkdtempSync(join(tmpdir(), 'parley-webapp-size-'));
    const files = {
      main: 'console.log("main");'.repeat(50),
      chunk: 'export const a = 1;'.repeat(80),
      // Loaded later by the app (a dynamic import): not part of a first visit.
      lazy: 'export const lazy = 2;'.repeat(500),
    };
    mkdirSync(join(root, 'assets'));
    for (const [name, body] of Object.entries(files)) writeFileSync(join(root, 'assets', `${name}.js`), body);
    writeFileSync(
      join(root, 'index.html'),
      `<!doctype html><html><head>
<script type="module" crossorigin src="/assets/main.js"></script>
<link rel="modulepreload" crossorigin href="/assets/chunk.js">
<link rel="stylesheet" href="/assets/style.css">
</head><body></body></html>`,
    );
    const size = webAppSize(root);
    expect(size.files).toEqual(['/assets/main.js', '/assets/chunk.js']);
    const loaded = [files.main, files.chunk];
    expect(size.rawBytes).toBe(loaded.reduce((n, b) => n + Buffer.byteLength(b), 0));
    expect(size.gzipBytes).toBe(loaded.reduce((n, b) => n + gzipSync(b, { level: 6 }).length, 0));
  });
});
