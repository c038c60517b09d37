import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startHeartbeat } from '../../src/server/transport/heartbeat.js';
import { type ParleySocketServer, socketServer } from '../../src/server/transport/socket.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(intervalMs: number): Promise<{ url: string; wss: ParleySocketServer }> {
  const wss = socketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const stop = startHeartbeat(wss, intervalMs);
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        stop();
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => {
          r();
        });
      }),
  );
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, wss };
}

interface Client {
  ws: WebSocket;
  closed: Promise<number>;
  pings: number;
}

async function client(url: string, autoPong: boolean): Promise<Client> {
  const ws = new WebSocket(url, { autoPong });
  const c: Client = {
    ws,
    closed: new Promise((r) => ws.once('close', (code) => {
      r(code);
    })),
    pings: 0,
  };
  ws.on('ping', () => {
    c.pings++;
  });
  await new Promise((r) => ws.once('open', r));
  cleanups.push(() => {
    ws.terminate();
  });
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('heartbeat', () => {
  it('drops a connection that answers no ping, and keeps one that does', async () => {
    const { url, wss } = await server(100);
    const answers = await client(url, true);
    const silent = await client(url, false);
    // Pinged at the first beat, nothing back by the second: terminated (no close frame: 1006).
    expect(await silent.closed).toBe(1006);
    expect(silent.pings).toBeGreaterThanOrEqual(1);
    await sleep(350);
    expect(answers.ws.readyState).toBe(WebSocket.OPEN);
    expect(answers.pings).toBeGreaterThanOrEqual(3);
    expect(wss.clients.size).toBe(1);
  });

  it('counts any frame from the client as a sign of life', async () => {
    const { url } = await server(100);
    // Never answers a ping, but talks more often than the beat.
    const talker = await client(url, false);
    const chatter = setInterval(() => {
      talker.ws.send('still here');
    }, 30);
    cleanups.push(() => {
      clearInterval(chatter);
    });
    await sleep(450);
    expect(talker.ws.readyState).toBe(WebSocket.OPEN);
    expect(talker.pings).toBeGreaterThanOrEqual(3);
    clearInterval(chatter);
    expect(await talker.closed).toBe(1006);
  });
});
