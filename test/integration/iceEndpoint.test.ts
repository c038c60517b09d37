import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { IceResponse } from '../../src/protocol/http.js';
import { SELFTEST_TTL_SECONDS } from '../../src/server/routes/ice.js';
import { startServer, type TestServer } from '../helpers/parley.js';

describe('GET /api/ice (connectivity self-test)', () => {
  let t: TestServer | null = null;
  afterEach(async () => {
    await t?.close();
    t = null;
  });
  const get = (path = '/api/ice') => fetch(`http://127.0.0.1:${t!.ports.port}${path}`);

  it('without TURN: the STUN servers and no credentials, never cached', async () => {
    t = await startServer({ stunUrls: ['stun:stun.example.org:3478'] });
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ iceServers: [{ urls: ['stun:stun.example.org:3478'] }], iceExpiresAt: null });
  });

  it('with TURN: credentials coturn accepts, for an anonymous self-test id, living five minutes at most', async () => {
    const secret = 's3cret';
    t = await startServer({ turnUrls: ['turn:turn.example.org:3478'], turnSecret: secret, turnTtlSeconds: 3600 });
    const before = Date.now();
    const a = (await (await get()).json()) as IceResponse;
    const b = (await (await get()).json()) as IceResponse;
    const turn = a.iceServers.find((s) => s.urls.includes('turn:turn.example.org:3478'))!;
    expect(turn.username).toMatch(/^\d+:selftest-[A-Za-z0-9_-]{12}$/);
    // The TURN REST API: the password is base64(HMAC-SHA1(secret, username)).
    expect(turn.credential).toBe(createHmac('sha1', secret).update(turn.username!).digest('base64'));
    const expiry = Number(turn.username!.split(':')[0]) * 1000;
    expect(expiry).toBe(a.iceExpiresAt);
    expect(expiry).toBeGreaterThan(before);
    expect(expiry).toBeLessThanOrEqual(Date.now() + SELFTEST_TTL_SECONDS * 1000);
    // Every request gets its own id.
    expect(b.iceServers.find((s) => s.username)?.username).not.toBe(turn.username);
  });

  it('is rate-limited per address: a burst of 5, then 429 with Retry-After', async () => {
    t = await startServer();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await get()).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const refused = await get();
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await refused.json()).toMatchObject({ error: 'rate_limited' });
    // Other endpoints are not affected.
    expect((await get('/healthz')).status).toBe(200);
  });
});
