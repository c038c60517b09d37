import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { IceResponse } from '../../protocol/http.js';
import { type IceConfig, iceProvider } from '../turn.js';
import { IpLimiter } from './IpLimiter.js';

/** Lifetime of credentials for the self-test: long enough for one run, short enough not to matter. */
export const SELFTEST_TTL_SECONDS = 300;

/**
 * GET /api/ice: the ICE servers a signed-in user would get, with TURN credentials for an anonymous
 * id (`selftest-<random>`, so coturn's logs tell them apart) that live five minutes at most. The
 * connectivity self-test uses it without signing in, so testing the network neither takes a name
 * nor shows anyone in the lobby.
 *
 * It hands out nothing that signing in under a throwaway name would not; the per-address limit
 * keeps a script from minting credentials in bulk.
 */
export function registerIceRoute(
  http: FastifyInstance,
  config: IceConfig,
  options: { perMinute?: number; burst?: number; now?: () => number } = {},
): void {
  const mint = iceProvider(
    { ...config, turnTtlSeconds: Math.min(config.turnTtlSeconds, SELFTEST_TTL_SECONDS) },
    options.now,
  );
  const limiter = new IpLimiter({
    perMinute: options.perMinute ?? 10,
    burst: options.burst ?? 5,
    ...(options.now ? { now: options.now } : {}),
  });
  http.get('/api/ice', async (request, reply) => {
    void reply.header('Cache-Control', 'no-store');
    if (!limiter.take(request.ip)) {
      return reply
        .code(429)
        .header('Retry-After', '30')
        .send({ error: 'rate_limited', message: 'too many requests; try again in a minute' });
    }
    const grant = mint(`selftest-${randomBytes(9).toString('base64url')}`);
    const body: IceResponse = { iceServers: grant.iceServers, iceExpiresAt: grant.expiresAt };
    return reply.send(body);
  });
}
