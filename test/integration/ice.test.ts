import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { IceServer } from '../../src/protocol/protocol.js';
import { framesOf, pingPong } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';

const SECRET = 'coturn-shared-secret';
const STUN = ['stun:stun.example.org:3478', 'stun:stun2.example.org'];
const TURN = [
  'turn:turn.example.org:3478?transport=udp',
  'turns:turn.example.org:5349?transport=tcp',
];

/** Checks a TURN REST API credential the way coturn's use-auth-secret does. */
function verifyTurn(server: IceServer, userId: string, secret: string): number {
  expect(server.username).toMatch(/^\d+:/);
  const [expiry, who] = server.username!.split(/:(.*)/s);
  expect(who).toBe(userId);
  const expected = createHmac('sha1', secret).update(server.username!).digest('base64');
  expect(server.credential).toBe(expected);
  return Number(expiry);
}

describe('ICE servers', () => {
  const { start, hello: signedIn } = useParleyServer({}, { startEach: false });

  it('welcome carries STUN and TURN with credentials minted for this user', async () => {
    await start({
      stunUrls: STUN,
      turnUrls: TURN,
      turnSecret: SECRET,
      turnTtlSeconds: 3600,
    });
    const before = Math.floor(Date.now() / 1000);
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const welcome = alice.received.find((m) => m.type === 'welcome');
    if (welcome?.type !== 'welcome') throw new Error('no welcome');

    expect(welcome.iceServers).toHaveLength(2);
    const [stun, turn] = welcome.iceServers;
    expect(stun).toEqual({ urls: STUN });
    expect(turn).toEqual({
      urls: TURN,
      username: expect.any(String) as string,
      credential: expect.any(String) as string,
    });
    const expiry = verifyTurn(turn!, alice.user!.id, SECRET);
    expect(expiry).toBeGreaterThanOrEqual(before + 3600);
    expect(expiry).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600);
    expect(welcome.iceExpiresAt).toBe(expiry * 1000);
    // A credential made with another secret would not verify.
    expect(createHmac('sha1', 'wrong').update(turn!.username!).digest('base64')).not.toBe(
      turn!.credential,
    );

    // Each user gets their own username and credential.
    const bobWelcome = bob.received.find((m) => m.type === 'welcome');
    if (bobWelcome?.type !== 'welcome') throw new Error('no welcome');
    const bobTurn = bobWelcome.iceServers[1]!;
    verifyTurn(bobTurn, bob.user!.id, SECRET);
    expect(bobTurn.credential).not.toBe(turn!.credential);
  });

  it('without TURN, welcome carries STUN only and nothing expires', async () => {
    await start({ stunUrls: STUN });
    const alice = await signedIn('Alice');
    const welcome = alice.received.find((m) => m.type === 'welcome');
    expect(welcome).toMatchObject({ iceServers: [{ urls: STUN }], iceExpiresAt: null });
    expect(JSON.stringify(welcome)).not.toContain('credential');
  });

  it('sends fresh TURN credentials before the old ones expire', async () => {
    // The config validator's one-minute minimum does not apply to a Config built in code. Three
    // seconds leave room for timer jitter between the refresh and the expiry.
    await start({
      stunUrls: STUN,
      turnUrls: TURN,
      turnSecret: SECRET,
      turnTtlSeconds: 3,
    });
    const alice = await signedIn('Alice');
    const welcome = alice.received.find((m) => m.type === 'welcome');
    if (welcome?.type !== 'welcome') throw new Error('no welcome');
    const firstExpiry = welcome.iceExpiresAt!;
    expect(firstExpiry).toBeGreaterThan(Date.now());

    const fresh = await alice.next('iceServers', () => true, 4000);
    expect(Date.now()).toBeLessThan(firstExpiry);
    expect(fresh.iceServers[0]).toEqual({ urls: STUN });
    const expiry = verifyTurn(fresh.iceServers[1]!, alice.user!.id, SECRET);
    expect(fresh.iceExpiresAt).toBe(expiry * 1000);
    expect(fresh.iceExpiresAt!).toBeGreaterThan(firstExpiry);
    expect(fresh.iceServers[1]!.credential).not.toBe(welcome.iceServers[1]!.credential);
    await pingPong(alice);
    expect(framesOf(alice, 'iceServers')).toHaveLength(1);
  });
});
