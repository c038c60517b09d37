import { describe, expect, it } from 'vitest';
import { type PathResult, serversOf, verdictOf } from '../../src/client/selftest/connectivity.js';

const ok: PathResult = { state: 'ok', connectMs: 10, rttMs: 1, local: 'host', remote: 'host' };
const failed: PathResult = { state: 'failed', reason: 'timeout', afterMs: 15_000 };
const skipped: PathResult = { state: 'skipped' };

describe('self-test verdict', () => {
  it('reads which servers are configured from the ICE server list', () => {
    expect(serversOf([])).toEqual({ stun: false, turn: false });
    expect(serversOf([{ urls: ['stun:a:3478'] }])).toEqual({ stun: true, turn: false });
    expect(serversOf([{ urls: ['turns:a:5349'], username: 'u', credential: 'c' }])).toEqual({ stun: false, turn: true });
  });

  it.each([
    [{ stun: true, turn: true }, ok, ok, 'allGood'],
    [{ stun: false, turn: false }, ok, skipped, 'noTurn'],
    [{ stun: true, turn: true }, ok, failed, 'relayFailed'],
    [{ stun: true, turn: true }, failed, ok, 'relayOnly'],
    [{ stun: true, turn: true }, failed, failed, 'blocked'],
    [{ stun: false, turn: false }, failed, skipped, 'blocked'],
  ] as const)('%o, direct %o, relay %o: %s', (servers, direct, relay, verdict) => {
    expect(verdictOf({ servers, direct, relay })).toBe(verdict);
  });
});
