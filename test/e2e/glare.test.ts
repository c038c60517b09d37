import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { type Client, expectMediaFlowing, sleep, startCall, useBrowserAndServer } from './harness.js';

/*
 * Glare: both sides of an active voice call start sharing their screen in the same tick. Each
 * share adds a video sender (a voice call has none), so both pages fire negotiationneeded and
 * offer at once. Left to timing, one offer could still reach the other page before it has made
 * its own; so the test sits in each page's signaling socket (routeWebSocket) and holds the
 * signals coming in until that page has sent its own offer. Both offers then cross for certain,
 * and perfect negotiation must settle it: the impolite side ignores the polite side's offer, the
 * polite side rolls back and answers (its own new video rides along in that answer).
 */

const e2e = useBrowserAndServer();

interface Hook {
  __parleyTest: {
    pc: () => RTCPeerConnection | null;
    descriptionsSent: () => number;
    app: { calls: { view: { value: { error: unknown } } } };
  };
}

/** Descriptions (offers and answers) one page sent and received, in order, as seen on its socket. */
interface Tap {
  sent: ('offer' | 'answer')[];
  received: ('offer' | 'answer')[];
  /** Both, in the order the socket saw them. */
  log: string[];
  /** While set, incoming signals wait until this page has sent an offer. */
  holding: boolean;
}

function descriptionType(frame: string | Buffer): 'offer' | 'answer' | null {
  if (typeof frame !== 'string') return null;
  try {
    const msg = JSON.parse(frame) as { type?: unknown; data?: { kind?: unknown; description?: { type?: unknown } } };
    if (msg.type !== 'signal' || msg.data?.kind !== 'description') return null;
    const type = msg.data.description?.type;
    return type === 'offer' || type === 'answer' ? type : null;
  } catch {
    return null;
  }
}

/** Forwards the page's signaling socket both ways, recording descriptions; can hold signals in. */
async function tap(page: Page): Promise<Tap> {
  const t: Tap = { sent: [], received: [], log: [], holding: false };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    const queue: (string | Buffer)[] = [];
    const release = () => {
      t.holding = false;
      for (const m of queue.splice(0)) deliver(m);
    };
    const deliver = (m: string | Buffer) => {
      const type = descriptionType(m);
      if (type) {
        t.received.push(type);
        t.log.push(`in ${type}`);
      }
      ws.send(m);
    };
    ws.onMessage((m) => {
      const type = descriptionType(m);
      if (type) {
        t.sent.push(type);
        t.log.push(`out ${type}`);
      }
      server.send(m);
      if (type === 'offer' && t.holding) setTimeout(release, 0);
    });
    server.onMessage((m) => {
      const isSignal = typeof m === 'string' && m.includes('"type":"signal"');
      if (t.holding && (isSignal || queue.length > 0)) {
        queue.push(m);
        // Never hang the call for good if the page does not offer after all.
        if (queue.length === 1) setTimeout(release, 5000);
      } else {
        deliver(m);
      }
    });
  });
  return t;
}

function signalingState(page: Page): Promise<string> {
  return page.evaluate(() => (window as unknown as Hook).__parleyTest.pc()?.signalingState ?? 'none');
}

function callError(page: Page): Promise<unknown> {
  return page.evaluate(() => (window as unknown as Hook).__parleyTest.app.calls.view.value.error);
}

function videoSenders(page: Page): Promise<number> {
  return page.evaluate(
    () =>
      (window as unknown as Hook).__parleyTest
        .pc()
        ?.getSenders()
        .filter((s) => s.track?.kind === 'video').length ?? 0,
  );
}

async function expectSettled(c: Client): Promise<void> {
  await expect.poll(() => signalingState(c.page), { timeout: 5000 }).toBe('stable');
}

describe('glare', () => {
  it('both sides renegotiate at once (both share a screen in a voice call); the call settles', async () => {
    const a = await e2e.open('alice');
    const b = await e2e.open('bob');
    const ta = await tap(a.page);
    const tb = await tap(b.page);
    await a.signIn();
    await b.signIn();
    await a.waitForMember('bob');
    await b.waitForMember('alice');
    await startCall(a, b, { media: 'audio', flowing: 'both' });
    await expectSettled(a);
    await expectSettled(b);
    const before = { a: ta.sent.length, b: tb.sent.length, ra: ta.received.length, rb: tb.received.length };
    const logFrom = { a: ta.log.length, b: tb.log.length };

    ta.holding = true;
    tb.holding = true;
    await Promise.all([a.page.getByTestId('toggle-share').click(), b.page.getByTestId('toggle-share').click()]);
    await Promise.all([a.page.getByTestId('sharing').waitFor(), b.page.getByTestId('sharing').waitFor()]);

    // Settled: one side (the polite one) rolled its offer back and answered the other's; the
    // answer reaches the impolite side and both are stable again.
    const fresh = (t: Tap, from: number) => t.sent.slice(from);
    await expect
      .poll(() => [...fresh(ta, before.a), ...fresh(tb, before.b)].filter((d) => d === 'answer').length, { timeout: 5000 })
      .toBe(1);
    await expectSettled(a);
    await expectSettled(b);
    // And stays settled: no further offer from either side.
    await sleep(1000);
    await expectSettled(a);
    await expectSettled(b);

    // Each page sent its offer before the other's offer reached it: the two offers crossed.
    const logA = ta.log.slice(logFrom.a);
    const logB = tb.log.slice(logFrom.b);
    expect(logA.indexOf('out offer')).toBe(0);
    expect(logB.indexOf('out offer')).toBe(0);
    expect(logA.indexOf('in offer')).toBeGreaterThan(0);
    expect(logB.indexOf('in offer')).toBeGreaterThan(0);
    // Resolved by politeness: the impolite side ignored the colliding offer, the polite side
    // answered the impolite side's offer, and that offer is the one applied. The polite side's
    // own new video needs no second round: setRemoteDescription matches its addTrack transceiver
    // to the impolite side's new video m-line, so its answer already sends it.
    const sentA = fresh(ta, before.a);
    const sentB = fresh(tb, before.b);
    const [polite, impolite, politeLog, impoliteLog] = sentA.includes('answer')
      ? [sentA, sentB, logA, logB]
      : [sentB, sentA, logB, logA];
    expect(polite).toEqual(['offer', 'answer']);
    expect(impolite).toEqual(['offer']);
    expect(politeLog).toEqual(['out offer', 'in offer', 'out answer']);
    expect(impoliteLog).toEqual(['out offer', 'in offer', 'in answer']);
    // Whatever the socket saw, the page counted too.
    await expect(
      a.page.evaluate(() => (window as unknown as Hook).__parleyTest.descriptionsSent()),
    ).resolves.toBe(ta.sent.length);
    await expect(
      b.page.evaluate(() => (window as unknown as Hook).__parleyTest.descriptionsSent()),
    ).resolves.toBe(tb.sent.length);
    expect(ta.received.length - before.ra).toBe(sentB.length);
    expect(tb.received.length - before.rb).toBe(sentA.length);

    // No error on either side, each sends its screen, and audio and the new video flow both ways.
    await expect(callError(a.page)).resolves.toBeNull();
    await expect(callError(b.page)).resolves.toBeNull();
    await expect(a.page.getByTestId('call').locator('.problem').count()).resolves.toBe(0);
    await expect(b.page.getByTestId('call').locator('.problem').count()).resolves.toBe(0);
    await expect(videoSenders(a.page)).resolves.toBe(1);
    await expect(videoSenders(b.page)).resolves.toBe(1);
    await expectMediaFlowing(a, ['audio', 'video']);
    await expectMediaFlowing(b, ['audio', 'video']);
    await expect(signalingState(a.page)).resolves.toBe('stable');
    await expect(signalingState(b.page)).resolves.toBe('stable');
    await expect(a.callState()).resolves.toBe('active');
    await expect(b.callState()).resolves.toBe('active');

    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });
});
