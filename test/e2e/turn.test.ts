/**
 * A real coturn on loopback, TURN credentials minted by Parley, and Chromium forced to relay
 * (iceTransportPolicy 'relay'): the call connects through coturn on both sides and video arrives;
 * expired and forged credentials are refused by coturn.
 *
 * Needs Debian's `coturn` (/usr/bin/turnserver, or PARLEY_TURNSERVER=<path>). Without it the test
 * is skipped with a message, unless PARLEY_REQUIRE_COTURN=1 (set by .ci/run): then a missing coturn
 * is a failure.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IceServer } from '../../src/protocol/protocol.js';
import { turnCredential } from '../../src/server/turn.js';
import { ParleyClient, startServer, type TestServer } from '../helpers/parley.js';
import { RELAY_MAX_PORT, RELAY_MIN_PORT, startTurnserver, type Turn, turnserverOrSkip } from './coturn.js';
import { launchBrowser } from './harness.js';

const TURNSERVER = turnserverOrSkip('turn.test', 'the real-TURN relay test did not run');
const SECRET = randomBytes(24).toString('base64url');

/** What a page reports about its connection once it is up. */
interface PathReport {
  connectionState: string;
  local: { candidateType: string; protocol: string; relayProtocol?: string; address: string; port: number };
  remote: { candidateType: string; address: string; port: number };
  pairBytesReceived: number;
  videoBytesReceived: number;
  framesDecoded: number;
  videoWidth: number;
  videoHeight: number;
}

/** Installs helpers in a page: a relay-only peer connection with a fake-camera video track. */
async function preparePage(page: Page, iceServers: IceServer[]): Promise<void> {
  await page.evaluate(async (servers) => {
    const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: 'relay' });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    document.body.append(video);
    pc.ontrack = (event) => {
      video.srcObject = event.streams[0] ?? new MediaStream([event.track]);
      void video.play().catch(() => undefined);
    };
    const gathered = () =>
      new Promise<void>((resolve, reject) => {
        if (pc.iceGatheringState === 'complete') {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          reject(new Error('ICE gathering did not complete in 15 s'));
        }, 15_000);
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    const w = window as unknown as Record<string, unknown>;
    w.__pc = pc;
    w.__video = video;
    w.__gathered = gathered;
  }, iceServers);
}

/** Caller side: offer with every candidate gathered (no trickle: the SDP carries them). */
function makeOffer(page: Page): Promise<RTCSessionDescriptionInit> {
  return page.evaluate(async () => {
    const w = window as unknown as { __pc: RTCPeerConnection; __gathered: () => Promise<void> };
    await w.__pc.setLocalDescription(await w.__pc.createOffer());
    await w.__gathered();
    return w.__pc.localDescription!.toJSON();
  });
}

function makeAnswer(page: Page, offer: RTCSessionDescriptionInit): Promise<RTCSessionDescriptionInit> {
  return page.evaluate(async (o) => {
    const w = window as unknown as { __pc: RTCPeerConnection; __gathered: () => Promise<void> };
    await w.__pc.setRemoteDescription(o);
    await w.__pc.setLocalDescription(await w.__pc.createAnswer());
    await w.__gathered();
    return w.__pc.localDescription!.toJSON();
  }, offer);
}

async function acceptAnswer(page: Page, answer: RTCSessionDescriptionInit): Promise<void> {
  await page.evaluate(async (a) => {
    const w = window as unknown as { __pc: RTCPeerConnection };
    await w.__pc.setRemoteDescription(a);
  }, answer);
}

function report(page: Page): Promise<PathReport | null> {
  return page.evaluate(async () => {
    const w = window as unknown as { __pc: RTCPeerConnection; __video: HTMLVideoElement };
    const stats = await w.__pc.getStats();
    type S = Record<string, unknown> & { type: string; id: string };
    const byId = new Map<string, S>();
    let transport: S | undefined;
    let inbound: S | undefined;
    stats.forEach((s: S) => {
      byId.set(s.id, s);
      if (s.type === 'transport') transport = s;
      if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s;
    });
    const pairId = transport?.selectedCandidatePairId as string | undefined;
    if (!pairId) return null;
    const pair = byId.get(pairId);
    if (!pair) return null;
    const local = byId.get(pair.localCandidateId as string);
    const remote = byId.get(pair.remoteCandidateId as string);
    if (!local || !remote) return null;
    return {
      connectionState: w.__pc.connectionState,
      local: {
        candidateType: local.candidateType as string,
        protocol: local.protocol as string,
        relayProtocol: local.relayProtocol as string | undefined,
        address: (local.address ?? local.ip) as string,
        port: local.port as number,
      },
      remote: {
        candidateType: remote.candidateType as string,
        address: (remote.address ?? remote.ip) as string,
        port: remote.port as number,
      },
      pairBytesReceived: (pair.bytesReceived as number | undefined) ?? 0,
      videoBytesReceived: (inbound?.bytesReceived as number | undefined) ?? 0,
      framesDecoded: (inbound?.framesDecoded as number | undefined) ?? 0,
      videoWidth: w.__video.videoWidth,
      videoHeight: w.__video.videoHeight,
    };
  });
}

/** Gathers candidates with these ICE servers (relay only) and returns them, plus any candidate errors. */
function gatherRelay(
  page: Page,
  iceServers: IceServer[],
): Promise<{ candidates: string[]; errors: { errorCode: number; errorText: string; url: string }[]; ms: number }> {
  return page.evaluate(async (servers) => {
    const started = performance.now();
    const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: 'relay' });
    const candidates: string[] = [];
    const errors: { errorCode: number; errorText: string; url: string }[] = [];
    pc.addEventListener('icecandidate', (e) => {
      if (e.candidate && e.candidate.candidate !== '') candidates.push(e.candidate.candidate);
    });
    pc.addEventListener('icecandidateerror', (e) => {
      errors.push({ errorCode: e.errorCode, errorText: e.errorText, url: e.url });
    });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`ICE gathering did not complete in 20 s; state ${pc.iceGatheringState}`));
      }, 20_000);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    await done;
    pc.close();
    return { candidates, errors, ms: Math.round(performance.now() - started) };
  }, iceServers);
}

describe.skipIf(TURNSERVER === null)('TURN relay through a real coturn', () => {
  let turn: Turn;
  let parley: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    // Parley's own origin (its placeholder page: no web app in this server): a secure context
    // for getUserMedia, and no app code to interfere.
    await page.goto(`http://127.0.0.1:${parley.ports.port}/`);
    return page;
  }

  async function mintedBy(name: string): Promise<IceServer[]> {
    const client = new ParleyClient(parley.url);
    try {
      const welcome = await client.hello(name);
      return welcome.iceServers;
    } finally {
      client.close();
    }
  }

  beforeAll(async () => {
    turn = await startTurnserver(TURNSERVER!, { secret: SECRET });
    parley = await startServer({
      stunUrls: [],
      turnUrls: [`turn:127.0.0.1:${turn.port}?transport=udp`, `turn:127.0.0.1:${turn.port}?transport=tcp`],
      turnSecret: SECRET,
      turnTtlSeconds: 600,
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
    await browser?.close();
    await parley?.close();
    await turn?.stop();
  });

  it('a video call between two browsers goes through coturn (relay on both sides) with credentials from welcome', async () => {
    const aliceIce = await mintedBy('alice');
    const bobIce = await mintedBy('bob');
    const aliceTurn = aliceIce.find((s) => s.urls.some((u) => u.startsWith('turn:')));
    const bobTurn = bobIce.find((s) => s.urls.some((u) => u.startsWith('turn:')));
    // Parley hands out TURN REST API credentials: `<expiry>:<user id>` and a 28-character HMAC-SHA1.
    expect(aliceTurn?.username).toMatch(/^\d+:.+$/);
    expect(aliceTurn?.credential).toMatch(/^[A-Za-z0-9+/]{27}=$/);
    expect(bobTurn?.username).not.toBe(aliceTurn?.username);
    const expiry = Number(aliceTurn!.username!.split(':')[0]);
    expect(expiry * 1000).toBeGreaterThan(Date.now());
    // No STUN server was configured: nothing but TURN in what the browser gets.
    expect(aliceIce.flatMap((s) => s.urls).every((u) => u.startsWith('turn:'))).toBe(true);

    const alice = await newPage();
    const bob = await newPage();
    await preparePage(alice, aliceIce);
    await preparePage(bob, bobIce);
    const started = Date.now();
    const offer = await makeOffer(alice);
    const answer = await makeAnswer(bob, offer);
    await acceptAnswer(alice, answer);
    // With iceTransportPolicy 'relay' only relay candidates may appear in the SDP.
    const offerCandidates = (offer.sdp ?? '').split('\r\n').filter((l) => l.startsWith('a=candidate:'));
    expect(offerCandidates.length).toBeGreaterThan(0);
    expect(offerCandidates.every((l) => / typ relay /.test(l))).toBe(true);

    const connected = async (page: Page) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const r = await report(page);
        if (r && r.connectionState === 'connected') return r;
        if (Date.now() > deadline) throw new Error(`not connected: ${JSON.stringify(r)}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    const a1 = await connected(alice);
    const b1 = await connected(bob);
    const connectMs = Date.now() - started;
    for (const r of [a1, b1]) {
      expect(r.local.candidateType).toBe('relay');
      expect(r.remote.candidateType).toBe('relay');
      expect(r.local.address).toBe('127.0.0.1');
      // Relay addresses come from coturn's relay port range (min-port/max-port below).
      expect(r.local.port).toBeGreaterThanOrEqual(RELAY_MIN_PORT);
      expect(r.local.port).toBeLessThanOrEqual(RELAY_MAX_PORT);
    }
    // Frames arrive: a decoded video size, and inbound bytes growing between two samples.
    const flowing = async (page: Page, first: PathReport) => {
      const deadline = Date.now() + 15_000;
      let prev = first;
      for (;;) {
        await new Promise((res) => setTimeout(res, 700));
        const next = (await report(page))!;
        if (next.videoWidth > 0 && next.videoBytesReceived > prev.videoBytesReceived && prev.videoBytesReceived > 0) {
          return [prev, next] as const;
        }
        if (Date.now() > deadline) throw new Error(`video not flowing: ${JSON.stringify({ prev, next })}`);
        prev = next;
      }
    };
    const [a2, a3] = await flowing(alice, a1);
    const [b2, b3] = await flowing(bob, b1);
    expect(a3.framesDecoded).toBeGreaterThan(0);
    expect(b3.framesDecoded).toBeGreaterThan(0);

    // coturn's own log agrees: allocations were made for both users.
    const log = turn.log();
    const aliceId = aliceTurn!.username!.split(':')[1]!;
    const bobId = bobTurn!.username!.split(':')[1]!;
    expect(log).toContain(aliceId);
    expect(log).toContain(bobId);
    const allocations = (log.match(/ALLOCATE processed, success/g) ?? []).length;
    expect(allocations).toBeGreaterThanOrEqual(2);

    const path = (r: PathReport) =>
      `local ${r.local.candidateType}/${r.local.relayProtocol ?? r.local.protocol} ${r.local.address}:${r.local.port} ` +
      `-> remote ${r.remote.candidateType} ${r.remote.address}:${r.remote.port}`;
    console.log(
      [
        `[turn.test] coturn on 127.0.0.1:${turn.port}, credentials from Parley's welcome, iceTransportPolicy relay`,
        `  connected in ${connectMs} ms; ${offerCandidates.length} relay candidates in the offer; ${allocations} successful ALLOCATEs in coturn's log`,
        `  alice: ${path(a3)}; video ${a3.videoWidth}x${a3.videoHeight}, bytes ${a2.videoBytesReceived} -> ${a3.videoBytesReceived}, frames decoded ${a3.framesDecoded}`,
        `  bob:   ${path(b3)}; video ${b3.videoWidth}x${b3.videoHeight}, bytes ${b2.videoBytesReceived} -> ${b3.videoBytesReceived}, frames decoded ${b3.framesDecoded}`,
      ].join('\n'),
    );
  }, 50_000);

  it('coturn refuses expired and forged credentials; fresh ones from Parley still work', async () => {
    const page = await newPage();
    const urls = [`turn:127.0.0.1:${turn.port}?transport=udp`];
    // Control: credentials from a real welcome gather a relay candidate from this coturn.
    const minted = (await mintedBy('carol')).find((s) => s.username !== undefined)!;
    const fresh = { username: minted.username!, credential: minted.credential! };
    const userId = fresh.username.slice(fresh.username.indexOf(':') + 1);
    // Expired: the right secret and a valid HMAC, but minted an hour ago with a one-minute lifetime.
    const expired = turnCredential(SECRET, userId, 60, Date.now() - 3600_000);
    // Forged: a current expiry, but signed with a secret coturn does not know. (Another lifetime
    // than the control's, so that coturn's log lines can be told apart by username.)
    const forged = turnCredential('not-the-secret', userId, 1200, Date.now());
    const server = (c: { username: string; credential: string }): IceServer[] => [
      { urls, username: c.username, credential: c.credential },
    ];
    const isRelay = (c: string) => / typ relay /.test(c);
    const refusedIn = (log: string, username: string) =>
      log.split('\n').filter((l) => l.includes(`user <${username}>: `) && l.includes('error 401')).length;

    const logBefore = turn.log().length;
    const good = await gatherRelay(page, server(fresh));
    const bad = { expired: await gatherRelay(page, server(expired)), forged: await gatherRelay(page, server(forged)) };
    const log = turn.log().slice(logBefore);

    expect(good.candidates.filter(isRelay).length).toBeGreaterThan(0);
    expect(good.errors).toEqual([]);
    expect(refusedIn(log, fresh.username)).toBe(0);
    for (const [which, result] of Object.entries(bad)) {
      // Gathering completed with no relay candidate at all, and Chromium saw coturn's 401.
      expect(result.candidates.filter(isRelay), which).toEqual([]);
      expect(result.errors.map((e) => e.errorCode), which).toContain(401);
    }
    // coturn's log names each refused username with a 401.
    expect(refusedIn(log, expired.username)).toBeGreaterThan(0);
    expect(refusedIn(log, forged.username)).toBeGreaterThan(0);
    console.log(
      [
        `[turn.test] fresh from welcome (${fresh.username}): ${good.candidates.filter(isRelay).length} relay candidate(s), gathering ${good.ms} ms`,
        `  expired (${expired.username}, ${Math.round((Date.now() / 1000 - Number(expired.username.split(':')[0])) / 60)} min ago): ` +
          `${bad.expired.candidates.length} candidates, gathering complete in ${bad.expired.ms} ms, ICE errors ${JSON.stringify(bad.expired.errors.map((e) => e.errorCode))}, ` +
          `coturn 401s for this user: ${refusedIn(log, expired.username)}`,
        `  forged (wrong secret): ${bad.forged.candidates.length} candidates, gathering complete in ${bad.forged.ms} ms, ` +
          `ICE errors ${JSON.stringify(bad.forged.errors.map((e) => e.errorCode))}, coturn 401s for this user: ${refusedIn(log, forged.username)}`,
      ].join('\n'),
    );
  }, 45_000);
});
