import { createHmac } from 'node:crypto';
import type { IceServer } from '../protocol/protocol.js';
import type { IceGrant } from './hub/Hub.js';

/**
 * TURN REST API credentials (the scheme coturn's `use-auth-secret` checks): the username is
 * `<expiry unix time>:<user id>` and the password is base64(HMAC-SHA1(secret, username)). coturn
 * recomputes the HMAC with the shared secret and refuses the username once its time has passed,
 * so a leaked credential is worth at most one TTL.
 */
export function turnCredential(
  secret: string,
  userId: string,
  ttlSeconds: number,
  nowMs: number,
): { username: string; credential: string; expiresAt: number } {
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiry}:${userId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt: expiry * 1000 };
}

export interface IceConfig {
  stunUrls: readonly string[];
  turnUrls: readonly string[];
  turnSecret: string | null;
  turnTtlSeconds: number;
}

/** Returns a function that mints each user's ICE servers: STUN as configured, TURN with fresh credentials. */
export function iceProvider(config: IceConfig, now: () => number = Date.now): (userId: string) => IceGrant {
  return (userId) => {
    const iceServers: IceServer[] = [];
    if (config.stunUrls.length > 0) iceServers.push({ urls: [...config.stunUrls] });
    if (config.turnSecret === null || config.turnUrls.length === 0) {
      return { iceServers, expiresAt: null };
    }
    const cred = turnCredential(config.turnSecret, userId, config.turnTtlSeconds, now());
    iceServers.push({ urls: [...config.turnUrls], username: cred.username, credential: cred.credential });
    return { iceServers, expiresAt: cred.expiresAt };
  };
}
