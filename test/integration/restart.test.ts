/**
 * The real entry point (src/server/main.ts) as a child process: acknowledged messages survive a
 * SIGKILL, and SIGTERM shuts down cleanly.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/protocol/protocol.js';
import { closeAll, framesOf, pingPong } from '../helpers/integration.js';
import { startMain } from '../helpers/mainProcess.js';
import { ParleyClient } from '../helpers/parley.js';

describe('the real server process', () => {
  let dir: string;
  const procs: ChildProcess[] = [];
  const clients: ParleyClient[] = [];
  const start = async () => {
    const running = await startMain({ DB_PATH: join(dir, 'data', 'parley.db'), WEB_ROOT: join(dir, 'no-web-app') });
    procs.push(running.proc);
    return running;
  };
  const signedIn = async (url: string, name: string) => {
    const c = new ParleyClient(url);
    clients.push(c);
    await c.hello(name);
    await c.next('roomJoined');
    return c;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'parley-restart-'));
  });
  afterEach(() => {
    closeAll(clients);
    for (const p of procs.splice(0))
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged message across a SIGKILL', async () => {
    const first = await start();
    const alice = await signedIn(first.url, 'Alice');
    const bob = await signedIn(first.url, 'Bob');
    // Two senders at once, so appends from different connections share commits.
    for (let i = 0; i < 100; i++) {
      alice.send({ type: 'chat', room: 'lobby', clientId: `a${i}`, text: `alice ${i}` });
      bob.send({ type: 'chat', room: 'lobby', clientId: `b${i}`, text: `bob ${i}` });
    }
    await alice.next('ack', (m) => m.clientId === 'a99', 10_000);
    await bob.next('ack', (m) => m.clientId === 'b99', 10_000);
    const acked = new Map<number, string>();
    for (const [c, who] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const) {
      for (const ack of framesOf(c, 'ack')) acked.set(ack.id, `${who} ${ack.clientId.slice(1)}`);
    }
    expect(acked.size).toBe(200);
    const oldToken = alice.token!;

    first.proc.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = await start();
    const carol = await signedIn(second.url, 'Carol');
    const history: ChatMessage[] = [];
    let before: number | undefined;
    for (;;) {
      const from = carol.mark();
      carol.send({
        type: 'history',
        room: 'lobby',
        limit: 100,
        ...(before === undefined ? {} : { before }),
      });
      const page = await carol.next('history', () => true, 5000, from);
      history.unshift(...page.messages);
      if (!page.hasMore) break;
      before = page.messages[0]!.id;
    }
    expect(history).toHaveLength(200);
    for (const m of history) expect(acked.get(m.id)).toBe(m.text);
    // Each sender's messages are in the order they were sent.
    const alices = history.filter((m) => m.from.name === 'Alice').map((m) => m.text);
    expect(alices).toEqual(Array.from({ length: 100 }, (_, i) => `alice ${i}`));

    // Sessions do not survive a restart: the old token is refused.
    const again = new ParleyClient(second.url);
    clients.push(again);
    await again.opened;
    again.send({ type: 'resume', versions: [1], token: oldToken, ref: 'old' });
    expect((await again.error('resume_failed')).ref).toBe('old');

    // A session that starts after the restart does not get the old messages replayed on resume:
    // they are history, not something it missed.
    const token = carol.token!;
    carol.close();
    await carol.waitClose();
    const resumed = new ParleyClient(second.url);
    clients.push(resumed);
    const welcome = await resumed.resume(token);
    expect(welcome.resumed).toBe(true);
    await pingPong(resumed);
    expect(framesOf(resumed, 'message')).toEqual([]);

    // New messages continue the id sequence.
    resumed.send({ type: 'chat', room: 'lobby', clientId: 'after', text: 'after the crash' });
    const ack = await resumed.next('ack');
    expect(ack.id).toBeGreaterThan(Math.max(...acked.keys()));
  });

  it('SIGTERM closes client sockets with 1001 and exits 0', async () => {
    const running = await start();
    const alice = await signedIn(running.url, 'Alice');
    const bob = await signedIn(running.url, 'Bob');
    running.proc.kill('SIGTERM');
    expect((await alice.waitClose()).code).toBe(1001);
    expect((await bob.waitClose()).code).toBe(1001);
    const exit = await running.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(running.logs.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(
      true,
    );
    expect(running.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });
});
