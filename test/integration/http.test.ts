import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closeAll, pingPong } from '../helpers/integration.js';
import { ParleyClient, startServer, type TestServer } from '../helpers/parley.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function get(url: string, options: https.RequestOptions = {}): Promise<Reply> {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.get(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('http', () => {
  let t: TestServer | null = null;
  const clients: ParleyClient[] = [];
  const base = () => `http://127.0.0.1:${t!.ports.port}`;
  afterEach(async () => {
    closeAll(clients);
    await t?.close();
    t = null;
  });

  it('GET /healthz and /readyz answer 200 with JSON', async () => {
    t = await startServer();
    const health = await get(`${base()}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
    const ready = await get(`${base()}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready' });
  });

  it('/readyz answers 503 once the server is closing', async () => {
    t = await startServer();
    // One kept-alive connection, so the request after close() needs no new TCP handshake.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(`${base()}/readyz`, { agent })).status).toBe(200);
    const closing = t.server.close();
    const during = await get(`${base()}/readyz`, { agent });
    expect(during.status).toBe(503);
    await closing;
    agent.destroy();
  });

  it('serves the placeholder page at / when no web app is built, with safe headers', async () => {
    t = await startServer();
    const page = await get(`${base()}/`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body).toContain('<title>Parley</title>');
    expect(page.body).toContain('npm run build');
    expect((await get(`${base()}/no-such-page`)).status).toBe(404);
  });

  it('accepts WebSocket upgrades on /ws only', async () => {
    t = await startServer();
    const ws = new WebSocket(`ws://127.0.0.1:${t.ports.port}/elsewhere`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
      });
      ws.on('error', () => {
        resolve(-1);
      });
    });
    expect(status).toBe(404);
    const c = new ParleyClient(`ws://127.0.0.1:${t.ports.port}/ws?v=1`);
    clients.push(c);
    await c.hello('Query');
    await pingPong(c);
  });

  it('speaks HTTPS and WSS when given a certificate and key', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'parley-tls-'));
    try {
      const cert = join(certDir, 'cert.pem');
      const key = join(certDir, 'key.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=localhost',
          '-days',
          '1',
          '-keyout',
          key,
          '-out',
          cert,
        ],
        { stdio: 'ignore' },
      );
      t = await startServer({ tlsCert: cert, tlsKey: key });
      const port = t.ports.port;

      const health = await get(`https://127.0.0.1:${port}/healthz`, { rejectUnauthorized: false });
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
      // Plain HTTP on the TLS port gets nowhere.
      await expect(get(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
      // Certificate checking is on by default; the self-signed one is refused.
      await expect(get(`https://127.0.0.1:${port}/healthz`)).rejects.toThrow();

      const alice = new ParleyClient(`wss://127.0.0.1:${port}/ws`, undefined, {
        rejectUnauthorized: false,
      });
      const bob = new ParleyClient(`wss://127.0.0.1:${port}/ws`, undefined, {
        rejectUnauthorized: false,
      });
      clients.push(alice, bob);
      await alice.hello('Alice');
      await bob.hello('Bob');
      alice.send({ type: 'chat', room: 'lobby', clientId: 'tls', text: 'over TLS' });
      expect((await bob.next('message')).message.text).toBe('over TLS');
    } finally {
      rmSync(certDir, { recursive: true, force: true });
    }
  });
});
