import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { iceProvider, turnCredential } from '../../src/server/turn.js';

/** The TURN REST API password, computed here independently of turn.ts. */
function expectedPassword(secret: string, username: string): string {
  return createHmac('sha1', Buffer.from(secret, 'utf8'))
    .update(Buffer.from(username, 'utf8'))
    .digest()
    .toString('base64');
}

const NOW = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
const NOW_S = Math.floor(NOW / 1000);

describe('turnCredential', () => {
  it('builds the username as <expiry>:<userId> with expiry = now + ttl', () => {
    const cred = turnCredential('s3cret', 'u42', 3600, NOW);
    expect(cred.username).toBe(`${NOW_S + 3600}:u42`);
    expect(cred.expiresAt).toBe((NOW_S + 3600) * 1000);
  });

  it('signs the username with base64 HMAC-SHA1 of the shared secret', () => {
    const cred = turnCredential('s3cret', 'u42', 3600, NOW);
    expect(cred.credential).toBe(expectedPassword('s3cret', cred.username));
    // 20 bytes of SHA-1 are 28 base64 characters.
    expect(cred.credential).toMatch(/^[A-Za-z0-9+/]{27}=$/);
  });

  it('matches a known vector', () => {
    // HMAC-SHA1("secret", "1700000000:alice"), computed once with `openssl dgst -sha1 -hmac`.
    const username = '1700000000:alice';
    expect(turnCredential('secret', 'alice', 0, 1_700_000_000_000).username).toBe(username);
    expect(turnCredential('secret', 'alice', 0, 1_700_000_000_999).credential).toBe(
      'd8soP47RbdIKLDUOpnJPVQyq5Ts=',
    );
    expect(expectedPassword('secret', username)).toBe('d8soP47RbdIKLDUOpnJPVQyq5Ts=');
  });

  it('rounds the clock down to whole seconds', () => {
    expect(turnCredential('k', 'u', 60, 1_000_999).username).toBe('1060:u');
  });

  it('depends on the secret, the user and the time', () => {
    const base = turnCredential('a', 'u1', 60, NOW).credential;
    expect(turnCredential('b', 'u1', 60, NOW).credential).not.toBe(base);
    expect(turnCredential('a', 'u2', 60, NOW).credential).not.toBe(base);
    expect(turnCredential('a', 'u1', 61, NOW).credential).not.toBe(base);
  });

  it('handles non-ASCII secrets as UTF-8', () => {
    const cred = turnCredential('sécret🔑', 'u1', 60, NOW);
    expect(cred.credential).toBe(expectedPassword('sécret🔑', cred.username));
  });
});

describe('iceProvider', () => {
  const clock = () => NOW;

  it('gives no ICE servers and no expiry without STUN or TURN', () => {
    const ice = iceProvider(
      { stunUrls: [], turnUrls: [], turnSecret: null, turnTtlSeconds: 3600 },
      clock,
    );
    expect(ice('u1')).toEqual({ iceServers: [], expiresAt: null });
  });

  it('gives STUN only, without credentials or expiry, when TURN is not configured', () => {
    const ice = iceProvider(
      {
        stunUrls: ['stun:a.example', 'stun:b.example'],
        turnUrls: [],
        turnSecret: null,
        turnTtlSeconds: 3600,
      },
      clock,
    );
    expect(ice('u1')).toEqual({
      iceServers: [{ urls: ['stun:a.example', 'stun:b.example'] }],
      expiresAt: null,
    });
  });

  it('gives no TURN server when the secret is missing', () => {
    const ice = iceProvider(
      { stunUrls: [], turnUrls: ['turn:t.example'], turnSecret: null, turnTtlSeconds: 3600 },
      clock,
    );
    expect(ice('u1')).toEqual({ iceServers: [], expiresAt: null });
  });

  it('mints per-user TURN credentials that expire after the TTL', () => {
    const ice = iceProvider(
      {
        stunUrls: ['stun:s.example'],
        turnUrls: ['turn:t.example:3478', 'turns:t.example:5349'],
        turnSecret: 'shh',
        turnTtlSeconds: 600,
      },
      clock,
    );
    const grant = ice('u7');
    const username = `${NOW_S + 600}:u7`;
    expect(grant).toEqual({
      iceServers: [
        { urls: ['stun:s.example'] },
        {
          urls: ['turn:t.example:3478', 'turns:t.example:5349'],
          username,
          credential: expectedPassword('shh', username),
        },
      ],
      expiresAt: (NOW_S + 600) * 1000,
    });
    expect(ice('u8').iceServers[1]?.username).toBe(`${NOW_S + 600}:u8`);
  });

  it('reads the clock on every call, so refreshed credentials are fresh', () => {
    let now = NOW;
    const ice = iceProvider(
      { stunUrls: [], turnUrls: ['turn:t.example'], turnSecret: 'shh', turnTtlSeconds: 60 },
      () => now,
    );
    const first = ice('u1');
    now += 30_000;
    const second = ice('u1');
    expect(second.expiresAt).toBe((first.expiresAt ?? 0) + 30_000);
    expect(second.iceServers[0]?.credential).not.toBe(first.iceServers[0]?.credential);
  });

  it('does not hand out its own arrays', () => {
    const config = {
      stunUrls: ['stun:s.example'],
      turnUrls: ['turn:t.example'],
      turnSecret: 'k',
      turnTtlSeconds: 60,
    };
    const grant = iceProvider(config, clock)('u1');
    grant.iceServers[0]?.urls.push('stun:evil.example');
    grant.iceServers[1]?.urls.push('turn:evil.example');
    expect(config.stunUrls).toEqual(['stun:s.example']);
    expect(config.turnUrls).toEqual(['turn:t.example']);
  });
});
