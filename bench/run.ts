/**
 * `npm run bench [-- --quick] [-- --only=relay,fanout]`: the figures users and operators of a
 * signaling server care about, each measured beside a baseline in the same run (a bare `ws` relay,
 * the Node ceiling, and peerjs-server where it supports the scenario), so a noisy machine moves
 * both sides together. Prints one table and writes JSON to bench/results/<timestamp>.json.
 */
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PARLEY_ENV, ROOT, type ServerKind, withServer } from './lib.js';
import { callSetupIsolated } from './callSetup.js';
import { durableChat, fanout, type RelayPhase, relay, signIn } from './scenarios.js';
import { webAppSize } from './webapp.js';

interface Row {
  scenario: string;
  metric: string;
  unit: string;
  parley: number;
  bare?: number | undefined;
  peerjs?: number | undefined;
  /** Parley against the bare ceiling, oriented so that more is better for Parley. */
  ratio?: number | undefined;
  target?: string | undefined;
  met?: boolean | undefined;
  note?: string | undefined;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? null;
const want = (name: string) => only === null || only.includes(name);

const plan = quick
  ? {
      rounds: 1,
      signInUsers: [1000],
      signInTimeoutMs: 20_000,
      relay: { pairs: 100, rates: [1000, 5000, 20_000], phaseMs: 1500, warmupMs: 500, saturationWindow: 4 },
      fanout: { members: 1000, burst: 20, reps: 3 },
      durable: { senders: 50, window: 8, durationMs: 2000, syncModes: ['full'] as const },
      calls: 5,
    }
  : {
      rounds: 2,
      signInUsers: [1000, 10_000],
      signInTimeoutMs: 30_000,
      relay: { pairs: 100, rates: [1000, 5000, 20_000], phaseMs: 4000, warmupMs: 1000, saturationWindow: 4 },
      fanout: { members: 1000, burst: 20, reps: 7 },
      durable: { senders: 50, window: 8, durationMs: 5000, syncModes: ['full', 'normal'] as const },
      calls: 10,
    };

const rows: Row[] = [];
const raw: Record<string, unknown> = {};
const started = Date.now();

function log(line: string): void {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
}

/**
 * Runs `body` for each server kind, `plan.rounds` times, reversing the order every other round so
 * a burst of load from elsewhere on the machine does not land on one side only; returns every
 * kind's results, one per round that did not fail.
 */
async function rounds<T>(
  kinds: readonly ServerKind[],
  body: (kind: ServerKind) => Promise<T>,
): Promise<Partial<Record<ServerKind, T[]>>> {
  const out: Partial<Record<ServerKind, T[]>> = {};
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? kinds : [...kinds].reverse();
    for (const kind of order) {
      log(`  ${kind}${plan.rounds > 1 ? ` (round ${round + 1} of ${plan.rounds})` : ''}…`);
      try {
        (out[kind] ??= []).push(await body(kind));
      } catch (error) {
        log(`  ${kind} failed: ${(error as Error).message}`);
      }
    }
  }
  return out;
}

/** The result with the highest `score` (a NaN score is the lowest); the first of equals. */
function best<T>(results: readonly T[], score: (result: T) => number): T | undefined {
  let top: T | undefined;
  for (const result of results) {
    if (top === undefined || score(result) > score(top) || (Number.isNaN(score(top)) && !Number.isNaN(score(result)))) {
      top = result;
    }
  }
  return top;
}

/** Runs `body` as `rounds` does and keeps each kind's best round by `score` (noise only ever makes a server look slower). */
async function each<T>(
  kinds: readonly ServerKind[],
  body: (kind: ServerKind) => Promise<T>,
  score: (result: T) => number,
): Promise<Partial<Record<ServerKind, T>>> {
  const all = await rounds(kinds, body);
  const out: Partial<Record<ServerKind, T>> = {};
  for (const kind of kinds) {
    const top = best(all[kind] ?? [], score);
    if (top !== undefined) out[kind] = top;
  }
  return out;
}

/**
 * Each relay phase from the round where it went best: a fixed rate by its p99 (after frames lost,
 * which must be none), saturation by frames delivered a second. The phases are measured one after
 * another and a burst of load from elsewhere spoils one phase, not the round; keeping the round
 * of the best saturation, as before, reported a fixed rate's p99 from whichever round that was.
 */
function bestPhases(results: readonly RelayPhase[][]): RelayPhase[] {
  const first = results[0] ?? [];
  return first.map((phase, i) => {
    const candidates = results.map((r) => r[i]).filter((p): p is RelayPhase => p !== undefined);
    const score =
      phase.offered === 'saturation' ? (p: RelayPhase) => p.deliveredPerSec : (p: RelayPhase) => -(p.lost * 1e6 + p.p99Ms);
    return best(candidates, score) ?? phase;
  });
}

const KB = 1024;

async function main(): Promise<void> {
  log(`mode ${quick ? 'quick' : 'full'}; Parley runs with ${Object.entries(PARLEY_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`);

  if (want('signin')) {
    for (const users of plan.signInUsers) {
      log(`1. sign-in, ${users} users`);
      const r = await each(['parley', 'bare', 'peerjs'], (kind) =>
        withServer(kind, (s) => signIn(s, users, plan.signInTimeoutMs)),
        (r) => r.presenceComplete * 1e9 - (Number.isNaN(r.allInMs) ? 1e9 : r.allInMs),
      );
      raw[`signIn${users}`] = r;
      const big = users >= 10_000;
      const p = r.parley;
      rows.push({
        scenario: `1 sign-in ${users}`,
        metric: 'all in, with presence',
        unit: 'ms',
        parley: p?.allInMs ?? NaN,
        bare: r.bare?.allInMs,
        peerjs: r.peerjs?.allInMs,
        ratio: r.bare && p ? r.bare.allInMs / p.allInMs : undefined,
        target: big ? '≤ 4000 ms' : undefined,
        met: big ? (p?.allInMs ?? Infinity) <= 4000 : undefined,
        note: p?.timedOut
          ? `timed out after ${plan.signInTimeoutMs} ms: ${p.usersIn} in, ${(p.presenceComplete * 100).toFixed(1)}% of presence delivered`
          : undefined,
      });
      rows.push({
        scenario: `1 sign-in ${users}`,
        metric: 'server RSS per connection',
        unit: 'KB',
        parley: (p?.rssPerConnBytes ?? NaN) / KB,
        bare: r.bare ? r.bare.rssPerConnBytes / KB : undefined,
        peerjs: r.peerjs ? r.peerjs.rssPerConnBytes / KB : undefined,
        ratio: r.bare && p ? r.bare.rssPerConnBytes / p.rssPerConnBytes : undefined,
        target: big ? '≤ 7 KB' : undefined,
        met: big ? (p?.rssPerConnBytes ?? Infinity) <= 7 * KB : undefined,
      });
    }
  }

  if (want('relay')) {
    log(`2. directed relay, ${plan.relay.pairs} pairs, ~1.1 KB SDP`);
    const all = await rounds(['parley', 'bare', 'peerjs'], async (kind) => {
      const phases = await withServer(kind, (s) => relay(s, plan.relay));
      const figures = phases.map((p) =>
        p.offered === 'saturation'
          ? `saturation ${p.deliveredPerSec.toFixed(0)}/s`
          : `${p.offered / 1000}k p99 ${p.p99Ms.toFixed(2)} ms`,
      );
      log(`    ${figures.join(', ')}`);
      return phases;
    });
    raw.relayRounds = all;
    const r: Partial<Record<ServerKind, RelayPhase[]>> = {};
    for (const [kind, results] of Object.entries(all) as [ServerKind, RelayPhase[][]][]) r[kind] = bestPhases(results);
    raw.relay = r;
    const phases = r.parley ?? [];
    phases.forEach((p, i) => {
      const b = r.bare?.[i];
      const j = r.peerjs?.[i];
      const label = p.offered === 'saturation' ? 'saturation' : `${p.offered / 1000}k msg/s`;
      const sat = p.offered === 'saturation';
      rows.push({
        scenario: `2 relay ${label}`,
        metric: 'delivered/s',
        unit: 'msg/s',
        parley: p.deliveredPerSec,
        bare: b?.deliveredPerSec,
        peerjs: j?.deliveredPerSec,
        ratio: b ? p.deliveredPerSec / b.deliveredPerSec : undefined,
        target: sat ? '≥ 0.85× bare' : undefined,
        met: sat && b ? p.deliveredPerSec >= 0.85 * b.deliveredPerSec : undefined,
        note: `lost: parley ${p.lost}, bare ${b?.lost ?? '-'}, peerjs ${j?.lost ?? '-'}`,
      });
      rows.push({
        scenario: `2 relay ${label}`,
        metric: 'p50 / p99 latency',
        unit: 'ms',
        parley: p.p99Ms,
        bare: b?.p99Ms,
        peerjs: j?.p99Ms,
        ratio: b ? b.p99Ms / p.p99Ms : undefined,
        target: p.offered === 20_000 ? 'p99 ≤ 5 ms' : undefined,
        met: p.offered === 20_000 ? p.p99Ms <= 5 : undefined,
        note: `p50: parley ${p.p50Ms.toFixed(2)}, bare ${b?.p50Ms.toFixed(2) ?? '-'}, peerjs ${j?.p50Ms.toFixed(2) ?? '-'} (table shows p99)${sat ? '' : `; timed after ${plan.relay.warmupMs / 1000} s at the rate`}`,
      });
      if (sat) {
        rows.push({
          scenario: `2 relay ${label}`,
          metric: 'server CPU per frame',
          unit: 'µs',
          parley: p.cpuUsPerFrame,
          bare: b?.cpuUsPerFrame,
          peerjs: j?.cpuUsPerFrame,
          ratio: b ? b.cpuUsPerFrame / p.cpuUsPerFrame : undefined,
          note: 'user+system time of the server process over the phase and its drain (/proc/<pid>/stat), per frame delivered',
        });
      }
    });
  }

  if (want('fanout')) {
    log(`3. room fan-out, ${plan.fanout.members} members, burst of ${plan.fanout.burst}`);
    // peerjs-server has no rooms: it cannot fan out.
    const r = await each(
      ['parley', 'bare'],
      (kind) => withServer(kind, (s) => fanout(s, plan.fanout)),
      (f) => f.deliveriesPerSec,
    );
    raw.fanout = r;
    const p = r.parley;
    const b = r.bare;
    if (p) {
      rows.push({
        scenario: '3 fan-out 1 msg',
        metric: 'send → all members have it',
        unit: 'ms',
        parley: p.oneMs,
        bare: b?.oneMs,
        ratio: b ? b.oneMs / p.oneMs : undefined,
        note: 'Parley stores the message (SQLite, fsync) before fanning it out; the relay does not',
      });
      rows.push({
        scenario: `3 fan-out burst ${plan.fanout.burst}`,
        metric: 'deliveries/s',
        unit: '1/s',
        parley: p.deliveriesPerSec,
        bare: b?.deliveriesPerSec,
        ratio: b ? p.deliveriesPerSec / b.deliveriesPerSec : undefined,
        target: '≥ 1.2× bare',
        met: b ? p.deliveriesPerSec >= 1.2 * b.deliveriesPerSec : undefined,
        note: `burst reaches all in: parley ${p.burstMs.toFixed(1)} ms, bare ${b?.burstMs.toFixed(1) ?? '-'} ms`,
      });
      rows.push({
        scenario: `3 fan-out burst ${plan.fanout.burst}`,
        metric: 'p99 delivery latency',
        unit: 'ms',
        parley: p.p99Ms,
        bare: b?.p99Ms,
        ratio: b ? b.p99Ms / p.p99Ms : undefined,
      });
      rows.push({
        scenario: `3 fan-out burst ${plan.fanout.burst}`,
        metric: 'server CPU per delivery',
        unit: 'µs',
        parley: p.cpuUsPerDelivery,
        bare: b?.cpuUsPerDelivery,
        ratio: b ? b.cpuUsPerDelivery / p.cpuUsPerDelivery : undefined,
        note: 'user+system time of the server process over all bursts (/proc/<pid>/stat), includes the store',
      });
    }
  }

  if (want('durable')) {
    for (const sync of plan.durable.syncModes) {
      log(`4. durable chat, SQLite DB_SYNC=${sync}`);
      const r = await withServer('parley', (s) => durableChat(s, plan.durable), { DB_SYNC: sync }).catch(
        (error: unknown) => {
          log(`  failed: ${(error as Error).message}`);
          return null;
        },
      );
      raw[`durable_${sync}`] = r;
      if (r) {
        rows.push({
          scenario: `4 durable chat sqlite ${sync}`,
          metric: 'acked msgs/s',
          unit: 'msg/s',
          parley: r.acksPerSec,
          note: `${r.senders} senders × ${r.window} in flight`,
        });
        rows.push({
          scenario: `4 durable chat sqlite ${sync}`,
          metric: 'p50 / p99 send → ack',
          unit: 'ms',
          parley: r.p99Ms,
          note: `p50 ${r.p50Ms.toFixed(2)} ms (table shows p99)`,
        });
      }
    }
    if (!process.env.DATABASE_URL) {
      log('4. durable chat, PostgreSQL: skipped (DATABASE_URL is not set)');
    } else {
      log('4. durable chat, PostgreSQL');
      const r = await withServer('parley', (s) => durableChat(s, plan.durable), {
        DATABASE_URL: process.env.DATABASE_URL,
      }).catch((error: unknown) => {
        log(`  failed: ${(error as Error).message}`);
        return null;
      });
      raw.durable_postgres = r;
      if (r) {
        rows.push({ scenario: '4 durable chat postgres', metric: 'acked msgs/s', unit: 'msg/s', parley: r.acksPerSec });
        rows.push({ scenario: '4 durable chat postgres', metric: 'p99 send → ack', unit: 'ms', parley: r.p99Ms });
      }
    }
  }

  if (want('calls') || want('callsetup')) {
    log(`5. call setup in Chromium, ${plan.calls} calls each (+1 warm-up), loopback-only network namespace`);
    const r = await callSetupIsolated(plan.calls, (line) => {
      log(line);
    }).catch((error: unknown) => {
      log(`  failed: ${(error as Error).message}`);
      return null;
    });
    raw.callSetup = r;
    if (r) {
      const onlyLoopback = r.candidateAddresses.every((a) => a === '127.0.0.1');
      const sides = [
        ['caller', r.parley.medianCallerMs, r.floor.medianCallerMs, r.local.medianCallerMs],
        ['callee', r.parley.medianCalleeMs, r.floor.medianCalleeMs, r.local.medianCalleeMs],
        ['both (later side)', r.parley.medianBothMs, r.floor.medianBothMs, r.local.medianBothMs],
      ] as const;
      for (const [side, parley, floor, local] of sides) {
        rows.push({
          scenario: '5 call setup',
          metric: `accept → 1st remote frame, ${side}`,
          unit: 'ms',
          parley,
          bare: floor,
          ratio: floor / parley,
          target: '≤ 1.2× floor',
          met: parley <= 1.2 * floor,
          note:
            `median of ${r.calls}; "bare ws" column = the two-page floor (no server); Parley/floor ` +
            `${(parley / floor).toFixed(2)}; one-page floor (no relay) ${local.toFixed(1)} ms`,
        });
      }
      rows.push({
        scenario: '5 call setup',
        metric: 'accept → both sides connected',
        unit: 'ms',
        parley: r.parley.medianConnectedMs,
        bare: r.floor.medianConnectedMs,
        ratio: r.floor.medianConnectedMs / r.parley.medianConnectedMs,
        note:
          `the signaling share of the above (offer, answer, trickle ICE, DTLS); one-page floor ` +
          `${r.local.medianConnectedMs.toFixed(1)} ms`,
      });
      // The real web app on both sides (bench/callApp.ts), against the same two-page floor: what a
      // user waits for from the click on "accept", the callee's getUserMedia included. The same
      // ≤ 1.2× target as the protocol rows above.
      const app = r.app;
      const appSides = [
        ['caller', app.medianCallerMs, r.floor.medianCallerMs, r.parley.medianCallerMs],
        ['callee', app.medianCalleeMs, r.floor.medianCalleeMs, r.parley.medianCalleeMs],
        ['both (later side)', app.medianBothMs, r.floor.medianBothMs, r.parley.medianBothMs],
      ] as const;
      const gum = (app.medianMarks['callee.gumDone'] ?? NaN) - (app.medianMarks['callee.gumStart'] ?? NaN);
      for (const [side, web, floor, protocol] of appSides) {
        rows.push({
          scenario: '5 call setup',
          metric: `web app: accept → 1st frame, ${side}`,
          unit: 'ms',
          parley: web,
          bare: floor,
          ratio: floor / web,
          target: '≤ 1.2× floor',
          met: web <= 1.2 * floor,
          note:
            `median of ${r.calls}; Parley column = the built web app on both sides, T0 = the click on ` +
            `"accept" (callee's getUserMedia inside, median ${gum.toFixed(1)} ms); web app/floor ` +
            `${(web / floor).toFixed(2)}, web app/protocol client ${(web / protocol).toFixed(2)}` +
            (side.startsWith('both') ? `; both connected at ${app.medianConnectedMs.toFixed(1)} ms` : ''),
        });
      }
      if (!onlyLoopback) log(`  WARNING: ICE candidates outside 127.0.0.1: ${r.candidateAddresses.join(', ')}`);
      log(
        `  Chromium ${r.chromium}; interfaces ${r.interfaces.join(',')}; ${r.candidates} local candidates, ` +
          `addresses ${r.candidateAddresses.join(', ')}; page clock skew ${r.clockSkewMs.toFixed(2)} ms ` +
          `(web app pages ${r.appClockSkewMs.toFixed(2)} ms)`,
      );
    }
  }

  if (want('webapp')) {
    log('6. web app size');
    const r = webAppSize(join(ROOT, 'dist/client'));
    raw.webapp = r;
    rows.push({
      scenario: '6 web app',
      metric: 'JS on first visit, gzip',
      unit: 'KB',
      parley: r.gzipBytes / KB,
      note: `${r.files.join(', ')}; ${(r.rawBytes / KB).toFixed(1)} KB before gzip`,
    });
  }

  printTable(rows);
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavg: (await import('node:os')).loadavg(),
  };
  const stampName = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(ROOT, 'bench/results', `${stampName}.json`);
  writeFileSync(
    file,
    JSON.stringify({ mode: quick ? 'quick' : 'full', machine, parleyEnv: PARLEY_ENV, plan, rows, raw }, null, 2),
  );
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; ${machine.nproc} × ${machine.cpu}, Node ${machine.node}`);
  log(`results: ${file}`);
}

function fmt(n: number | undefined): string {
  if (n === undefined) return '-';
  if (Number.isNaN(n)) return 'n/a';
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function printTable(table: Row[]): void {
  const header = ['scenario', 'metric', 'unit', 'Parley', 'bare ws', 'peerjs', 'ratio', 'target', 'met?'];
  const body = table.map((r) => [
    r.scenario,
    r.metric,
    r.unit,
    fmt(r.parley),
    fmt(r.bare),
    fmt(r.peerjs),
    r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}×`,
    r.target ?? '-',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  process.stdout.write(`\n${out.join('\n')}\n\nratio: Parley against the bare ws relay, > 1 means Parley does better.\n`);
  const notes = table.filter((r) => r.note).map((r) => `- ${r.scenario} / ${r.metric}: ${r.note}`);
  if (notes.length) process.stdout.write(`${notes.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
