import { describe, expect, it } from 'vitest';
import type { SignalData } from '../../src/protocol/protocol.js';
import { ParleyClient } from '../helpers/parley.js';
import { type Client, expectMediaFlowing, shapeLink, startCall, useBrowserAndServer, waitBothActive } from './harness.js';

const e2e = useBrowserAndServer();

/** Starts keeping every frame the page sends and every message it receives, in order. */
function record(c: Client): Promise<void> {
  return c.page.evaluate(() => {
    const log: string[] = [];
    (window as unknown as { __frames: string[] }).__frames = log;
    const send = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'send')!.value as (this: WebSocket, data: string) => void;
    WebSocket.prototype.send = function (this: WebSocket, data: string) {
      const msg = JSON.parse(data) as { type: string; data?: { description?: { type: string } } };
      log.push(`sent ${msg.type}${msg.data?.description ? `:${msg.data.description.type}` : ''}`);
      send.call(this, data);
    };
    const hook = (window as unknown as { __parleyTest: { app: { signaling: { events: { on(e: 'message', f: (m: { type: string }) => void): void } } } } }).__parleyTest;
    // An error is kept with its code and message, so a test that finds one says which.
    hook.app.signaling.events.on('message', (m) => log.push(m.type === 'error' ? `got error ${JSON.stringify(m)}` : `got ${m.type}`));
  });
}

/**
 * Holds the page's getUserMedia until the returned function is called, as a real camera that takes
 * a while to open would; the streams it then gives are kept in `__opened`.
 */
async function holdDevices(c: Client): Promise<() => Promise<void>> {
  await c.page.evaluate(() => {
    const w = window as unknown as { __openDevices: () => void; __opened: MediaStream[] };
    const gate = new Promise<void>((open) => (w.__openDevices = open));
    w.__opened = [];
    const devices = navigator.mediaDevices;
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints) => {
      await gate;
      const stream = await getUserMedia(constraints);
      w.__opened.push(stream);
      return stream;
    };
  });
  return () =>
    c.page.evaluate(() => {
      (window as unknown as { __openDevices: () => void }).__openDevices();
    });
}

/** What record() has kept so far. */
function frames(c: Client): Promise<string[]> {
  return c.page.evaluate(() => (window as unknown as { __frames: string[] }).__frames);
}

/**
 * Both sides active with audio and video flowing both ways, after one offer in all (the caller's)
 * and one answer (the callee's, right behind its accept, then its candidates); no error.
 */
async function expectOneOfferOneAnswer(caller: Client, callee: Client): Promise<void> {
  await waitBothActive(caller, callee);
  await expectMediaFlowing(caller);
  await expectMediaFlowing(callee);
  const sentByCallee = (await frames(callee)).filter((f) => f.startsWith('sent call') || f.startsWith('sent signal'));
  expect(sentByCallee.slice(0, 2)).toEqual(['sent callAccept', 'sent signal:answer']);
  expect(sentByCallee.filter((f) => f.startsWith('sent signal:'))).toEqual(['sent signal:answer']);
  expect(sentByCallee).toContain('sent signal');
  expect((await frames(caller)).filter((f) => f.startsWith('sent signal:'))).toEqual(['sent signal:offer']);
  for (const c of [caller, callee]) expect((await frames(c)).filter((f) => f.startsWith('got error'))).toEqual([]);
}

/** Alice calls bob with video, bob answers with voice only: both active, sound both ways. */
describe('calls in the browser', () => {
  it('a video call carries audio and video both ways; the callee hangs up', async () => {
    const [a, b] = await e2e.pair();
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await expect(b.callStatus().textContent()).resolves.toContain('alice is calling (video)');
    await expect.poll(() => a.callStatus().textContent()).toContain('Ringing bob');
    await b.screenshot('incoming-call-desktop');
    await b.page.getByTestId('accept-video').click();
    await a.waitForCallState('active');
    await b.waitForCallState('active');
    await expectMediaFlowing(a);
    await expectMediaFlowing(b);
    // Presence shows the call to others.
    await expect.poll(() => a.member('bob').textContent()).toContain('in a call');
    // Mute and camera state reach the peer.
    await b.page.getByTestId('toggle-mic').click();
    await expect.poll(() => a.page.getByTestId('peer-media').textContent()).toContain('bob is muted');
    await b.page.getByTestId('toggle-camera').click();
    await expect.poll(() => a.page.getByTestId('peer-media').textContent()).toContain("bob's camera is off");
    await b.page.getByTestId('toggle-camera').click();
    await b.page.getByTestId('toggle-mic').click();
    await expect.poll(() => a.page.getByTestId('peer-media').textContent()).toBe('');
    await expect.poll(() => a.callStatus().textContent()).toMatch(/bob · 00:0\d/);
    await a.screenshot('active-call-desktop');
    await b.page.getByTestId('hangup').click();
    await a.waitForCallState('ended');
    await expect(a.callStatus().textContent()).resolves.toContain('Call ended');
    await expect.poll(() => a.member('bob').textContent()).toContain('online');
    e2e.watch.assertClean();
  });

  it('the offer goes out while the call rings; the callee applies it and answers only after its accept', async () => {
    const [a, b] = await e2e.pair();
    await record(a);
    await record(b);
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    // While it rings, alice's offer has reached bob's connection, which has answered nothing,
    // gathered no candidate, and sent nothing.
    await expect.poll(() => b.negotiation()).toEqual({ local: null, remote: 'offer', gathering: 'new' });
    expect(await a.negotiation()).toMatchObject({ local: 'offer', remote: null });
    expect((await frames(a)).filter((f) => f.startsWith('sent signal'))[0]).toBe('sent signal:offer');
    expect((await frames(b)).filter((f) => f.startsWith('sent'))).toEqual([]);
    await b.page.getByTestId('accept-video').click();
    // Bob's answer follows his accept without waiting for the server's callAccepted.
    await expectOneOfferOneAnswer(a, b);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('the callee accepts at the click: the call connects while its camera opens', async () => {
    const [a, b] = await e2e.pair();
    await record(a);
    await record(b);
    const openDevices = await holdDevices(b);
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await expect.poll(() => b.negotiation()).toMatchObject({ local: null, remote: 'offer' });
    await b.page.getByTestId('accept-video').click();
    // The devices are still opening: the accept went out at the click, the answer behind it with
    // senders for audio and video that have no track yet, and the call connected.
    await expect.poll(async () => (await frames(b)).filter((f) => f.startsWith('sent call') || f.startsWith('sent signal:'))).toEqual([
      'sent callAccept',
      'sent signal:answer',
    ]);
    await a.waitForCallState('active');
    await b.waitForCallState('active');
    const answer = await b.page.evaluate(() => {
      const pc = (window as unknown as { __parleyTest: { pc: () => RTCPeerConnection | null } }).__parleyTest.pc()!;
      return {
        directions: pc.localDescription!.sdp.split(/\r?\n/).filter((l) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l)),
        tracks: pc.getSenders().map((s) => s.track),
      };
    });
    expect(answer).toEqual({ directions: ['a=sendrecv', 'a=sendrecv'], tracks: [null, null] });
    // Alice's audio and video already reach bob's connection; his page says what is still
    // starting (the call view waits for it) and lets him hang up; alice's does not call his camera
    // off (he says what he sends once his devices are open).
    await expectMediaFlowing(b, ['audio']);
    await expect.poll(async () => (await b.media()).video).toBeGreaterThan(0);
    await expect(b.page.getByTestId('call-status').textContent()).resolves.toBe('Starting camera…');
    await expect(b.page.getByTestId('hangup').isEnabled()).resolves.toBe(true);
    await expect(b.page.getByTestId('remote-video').count()).resolves.toBe(0);
    expect(await a.page.getByTestId('peer-media').textContent()).toBe('');
    expect((await a.media()).video).toBe(0);
    await openDevices();
    // Bob's camera and microphone went onto the answer's senders: alice gets both, nothing was
    // negotiated again.
    await expectOneOfferOneAnswer(a, b);
    await expect(b.page.getByTestId('toggle-mic').isEnabled()).resolves.toBe(true);
    expect(await a.page.getByTestId('peer-media').textContent()).toBe('');
    await b.page.getByTestId('hangup').click();
    await a.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('a callee who hangs up while its camera opens ends the call, and the camera is closed once open', async () => {
    const [a, b] = await e2e.pair();
    const openDevices = await holdDevices(b);
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.page.getByTestId('accept-video').click();
    await expect(b.page.getByTestId('call-status').textContent()).resolves.toBe('Starting camera…');
    await b.page.getByTestId('hangup').click();
    await a.waitForCallState('ended');
    await b.waitForCallState('ended');
    await openDevices();
    await expect
      .poll(() => b.page.evaluate(() => (window as unknown as { __opened: MediaStream[] }).__opened.flatMap((m) => m.getTracks().map((t) => t.readyState))))
      .toEqual(['ended', 'ended']);
    expect(await b.callState()).toBe('ended');
    e2e.watch.assertClean();
  });

  it('a callee who hangs up before the server confirms its accept ends the call as a hang-up', async () => {
    const [a, b] = await e2e.pair();
    const releaseAccepted = await shapeLink(b, { hold: 'callAccepted' });
    await a.waitForMember('bob');
    await record(a);
    await record(b);
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.page.getByTestId('accept-video').click();
    // The accept is out and the devices are open, but the server's answer to it has not come:
    // the page shows the call connecting, not the ringing card, and "Hang up" hangs up.
    await expect.poll(() => b.page.getByTestId('call-status').textContent()).toBe('Connecting to alice…');
    expect(await b.callState()).toBe('incoming');
    await expect(b.page.getByTestId('decline-call').count()).resolves.toBe(0);
    await b.page.getByTestId('hangup').click();
    await a.waitForCallState('ended');
    await b.waitForCallState('ended');
    await expect(a.page.getByTestId('call-status').textContent()).resolves.toMatch(/^Call ended/);
    await releaseAccepted();
    expect((await frames(b)).filter((f) => f.startsWith('sent call'))).toEqual(['sent callAccept', 'sent callHangup']);
    expect((await frames(b)).filter((f) => f.startsWith('got error'))).toEqual([]);
    // Alice's connection can come up just as bob hangs up: her `callMedia` then reaches the server
    // after the call has ended, which answers it with call_not_found (docs/PROTOCOL.md, "An ended
    // call is forgotten at once"). Nothing else may earn her an error.
    const late = 'got error {"type":"error","code":"call_not_found","message":"no such call","ref":null}';
    const aliceSent = (await frames(a)).filter((f) => f.startsWith('sent call'));
    expect((await frames(a)).filter((f) => f.startsWith('got error') && !(f === late && aliceSent.includes('sent callMedia')))).toEqual([]);
    expect(await b.callState()).toBe('ended');
    e2e.watch.assertClean();
  });

  it('a callee whose connection is up before the server confirms its accept is in the call when it comes', async () => {
    const [a, b] = await e2e.pair();
    const releaseAccepted = await shapeLink(b, { hold: 'callAccepted' });
    await a.waitForMember('bob');
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.page.getByTestId('accept-video').click();
    // The caller has its answer and the media connection completes, while bob's page has not yet
    // been told the call is accepted (its WebSocket message is late behind a busy page or link).
    await a.waitForCallState('active');
    await expect
      .poll(() => b.page.evaluate(() => (window as unknown as { __parleyTest: { pc: () => RTCPeerConnection | null } }).__parleyTest.pc()?.connectionState))
      .toBe('connected');
    expect(await b.callState()).toBe('incoming');
    await releaseAccepted();
    await waitBothActive(a, b, 5000);
    await expectMediaFlowing(a);
    await expectMediaFlowing(b);
    // The call timer runs, rather than the status saying "Connecting…" for ever.
    await expect.poll(() => b.page.getByTestId('call-status').textContent()).toMatch(/^alice · \d+:\d\d$/);
    e2e.watch.assertClean();
  });

  it('the callee keeps a caller\'s candidates that come before its offer; a dropped connection\'s does no harm', async () => {
    const b = await e2e.user('bob');
    // The caller is a protocol client, so the order of its signals is the test's to choose.
    const alice = new ParleyClient(`ws://127.0.0.1:${e2e.app.port}/ws`);
    try {
      await alice.hello('alice');
      await b.waitForMember('alice');
      const bob = (await alice.next('roomJoined')).members.find((m) => m.name === 'bob')!;
      // A real offer, made in bob's browser by a connection of its own.
      const sdp = await b.page.evaluate(async () => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('audio');
        pc.addTransceiver('video');
        pc.createDataChannel('x');
        await pc.setLocalDescription();
        const offer = pc.localDescription!.sdp;
        pc.close();
        return offer;
      });
      const ufrag = /^a=ice-ufrag:(\S+)\r?$/m.exec(sdp)![1]!;
      const host = (n: number, usernameFragment: string): SignalData => ({
        kind: 'candidate',
        candidate: { candidate: `candidate:${n} 1 udp 2122260223 127.0.0.${n} 5000${n} typ host`, sdpMid: '0', sdpMLineIndex: 0, usernameFragment },
      });
      alice.send({ type: 'callInvite', to: bob.id, media: 'video' });
      const { callId } = await alice.next('callRinging');
      await b.waitForCallState('incoming');
      // Before the offer: a candidate of a connection alice has dropped, then one of this offer.
      // (Chromium ignores a candidate with an unknown username fragment by itself; other browsers
      // refuse it, which is why PeerSession drops it first.)
      alice.send({ type: 'signal', callId, data: host(7, 'dropped') });
      alice.send({ type: 'signal', callId, data: host(8, ufrag) });
      alice.send({ type: 'signal', callId, data: { kind: 'description', description: { type: 'offer', sdp } } });
      await b.page.getByTestId('accept-video').click();
      const answer = await alice.next('signal', (m) => m.data.kind === 'description');
      expect(answer.data).toMatchObject({ kind: 'description', description: { type: 'answer' } });
      const remote = () =>
        b.page.evaluate(async () => {
          const pc = (window as unknown as { __parleyTest: { pc: () => RTCPeerConnection } }).__parleyTest.pc();
          const found: string[] = [];
          (await pc.getStats()).forEach((r: { type: string; address?: string; port?: number }) => {
            if (r.type === 'remote-candidate') found.push(`${r.address}:${r.port}`);
          });
          return found;
        });
      await expect.poll(remote).toContain('127.0.0.8:50008');
      expect(await remote()).not.toContain('127.0.0.7:50007');
      expect(await b.page.locator('[data-testid="call"] .problem').count()).toBe(0);
      alice.send({ type: 'callHangup', callId });
      await b.waitForCallState('ended');
    } finally {
      alice.close();
    }
  });

  it('on a phone: incoming call, voice answer, caller hangs up', async () => {
    const phone = { viewport: { width: 360, height: 640 } };
    const [a, b] = await e2e.pair(phone, phone);
    await a.page.getByRole('button', { name: 'Rooms and people' }).click();
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.screenshot('incoming-call-phone');
    // Keyboard: the accept button has focus; Tab to "voice only" and press Enter.
    await b.page.keyboard.press('Tab');
    await b.page.keyboard.press('Enter');
    await a.waitForCallState('active');
    await b.waitForCallState('active');
    await expectMediaFlowing(a, ['audio']);
    await expectMediaFlowing(b, ['audio']);
    await b.screenshot('active-call-phone');
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('a voice answer to a video call keeps the connection made while it rang; the caller closes its camera', async () => {
    const [a, b] = await e2e.pair();
    const openAll = await holdDevices(a);
    await openAll();
    await record(a);
    await record(b);
    await startCall(a, b, { answer: 'audio', flowing: 'both' });
    // One connection: alice's offer made while it rang, bob's answer; no second negotiation.
    const descriptions = async (c: Client) => (await frames(c)).filter((f) => f.startsWith('sent signal:'));
    expect(await descriptions(a)).toEqual(['sent signal:offer']);
    expect(await descriptions(b)).toEqual(['sent signal:answer']);
    // No video either way, and alice's camera is closed.
    for (const c of [a, b]) expect((await c.media()).video).toBe(0);
    await expect
      .poll(() => a.page.evaluate(() => (window as unknown as { __opened: MediaStream[] }).__opened.flatMap((s) => s.getVideoTracks().map((t) => t.readyState))))
      .toEqual(['ended']);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    for (const c of [a, b]) expect((await frames(c)).filter((f) => f.startsWith('got error'))).toEqual([]);
    e2e.watch.assertClean();
  });

  it('a voice answer to a video call connects on a slow caller link, the early offer still in flight', async () => {
    const [a, b] = await e2e.pair();
    // Alice's frames take 400 ms each way: bob answers before her early offer reaches him.
    await shapeLink(a, { delayMs: 400 });
    await a.waitForMember('bob');
    await record(b);
    await startCall(a, b, { answer: 'audio', flowing: 'both' });
    expect((await frames(b)).filter((f) => f.startsWith('sent signal:') || f === 'sent callAccept')).toEqual(['sent callAccept', 'sent signal:answer']);
    await b.page.getByTestId('hangup').click();
    await a.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('a video call connects with both sides on slow links', async () => {
    const [a, b] = await e2e.pair();
    for (const c of [a, b]) await shapeLink(c, { delayMs: 250 });
    await a.waitForMember('bob');
    await b.waitForMember('alice');
    await startCall(a, b, { flowing: 'both' });
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('decline, cancel while ringing, and busy', async () => {
    const [a, b] = await e2e.pair();
    // Decline.
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    await b.page.getByTestId('decline-call').click();
    await a.waitForCallState('ended');
    await expect(a.callStatus().textContent()).resolves.toContain('Declined');
    await a.page.getByTestId('dismiss-call').click();
    // Cancel while ringing.
    await a.call('bob', 'audio');
    await b.waitForCallState('incoming');
    await expect.poll(() => a.callStatus().textContent()).toContain('Ringing');
    await a.page.getByTestId('cancel-call').click();
    await b.waitForCallState('ended');
    await expect(b.callStatus().textContent()).resolves.toContain('cancelled');
    await a.page.getByTestId('dismiss-call').click();
    // Busy: carol calls alice while alice and bob are in a call.
    await startCall(a, b);
    const c = await e2e.user('carol');
    await c.waitForMember('alice');
    await c.call('alice', 'video');
    await c.waitForCallState('ended');
    await expect(c.callStatus().textContent()).resolves.toContain('Busy');
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  for (const [aliceMedia, bobMedia] of [
    ['video', 'video'],
    ['audio', 'video'],
  ] as const) {
    it(`two people who call each other at once (${aliceMedia} and ${bobMedia}) are in one call`, async () => {
      const [a, b] = await e2e.pair();
      // "At once": each invite leaves before the other's call reaches its page, as on links that
      // take 300 ms each way (without them, a click that lands later finds the call ringing in).
      for (const c of [a, b]) await shapeLink(c, { delayMs: 300 });
      await a.waitForMember('bob');
      await b.waitForMember('alice');
      await record(a);
      await record(b);
      await Promise.all([a.call('bob', aliceMedia), b.call('alice', bobMedia)]);
      await waitBothActive(a, b);
      const kinds = aliceMedia === 'video' && bobMedia === 'video' ? (['audio', 'video'] as const) : (['audio'] as const);
      await expectMediaFlowing(a, [...kinds]);
      await expectMediaFlowing(b, [...kinds]);
      // One call: the server took one invite, and the other app (whose invite was refused, or not
      // sent yet while its devices opened) accepted that call.
      const sent = [...(await frames(a)), ...(await frames(b))];
      expect(sent.filter((f) => f === 'sent callAccept')).toHaveLength(1);
      expect(sent.filter((f) => f === 'sent callInvite').length).toBeGreaterThanOrEqual(1);
      for (const c of [a, b]) {
        expect((await frames(c)).filter((f) => f === 'sent callDecline')).toEqual([]);
        await expect(c.callStatus().textContent()).resolves.toMatch(/^(alice|bob) · \d+:\d\d$/);
      }
      if (kinds.length === 1) for (const c of [a, b]) expect((await c.media()).video).toBe(0);
      await a.page.getByTestId('hangup').click();
      await b.waitForCallState('ended');
      e2e.watch.assertClean();
    });
  }

  it('an unanswered call times out as "no answer"', async () => {
    await e2e.startApp({ callTimeoutMs: 2000 });
    const [a, b] = await e2e.pair();
    await a.call('bob', 'audio');
    await b.waitForCallState('incoming');
    await a.waitForCallState('ended', 10_000);
    await expect(a.callStatus().textContent()).resolves.toContain('No answer');
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('the peer closing its tab ends the call', async () => {
    await e2e.startApp({ graceMs: 60_000 });
    const [a, b] = await e2e.pair();
    await startCall(a, b);
    await b.page.close();
    await a.waitForCallState('ended', 15_000);
    e2e.watch.assertClean();
  });

  it('camera denied: the callee is in the video call without video, sees the caller, and says why', async () => {
    const [a, b] = await e2e.pair({}, { failVideo: 'NotAllowedError' });
    await startCall(a, b);
    const problem = b.page.getByTestId('media-problem');
    await expect(problem.getAttribute('data-code')).resolves.toBe('NotAllowedError');
    await expect(problem.textContent()).resolves.toMatch(
      /^Permission to use the camera was denied\. .* You are in the call without video; you still see the other side\.$/,
    );
    await expectMediaFlowing(a, ['audio']);
    await expectMediaFlowing(b, ['audio', 'video']);
    expect((await a.media()).video).toBe(0);
    await expect.poll(() => a.page.getByTestId('peer-media').textContent()).toBe("bob's camera is off.");
    await expect(b.page.getByTestId('toggle-camera').isDisabled()).resolves.toBe(true);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });

  it('camera denied to the caller: the call is voice only, and says why', async () => {
    const [a, b] = await e2e.pair({ failVideo: 'NotAllowedError' }, {});
    await a.call('bob', 'video');
    await b.waitForCallState('incoming');
    // Alice's invite says voice: bob is offered no video to accept.
    await expect(b.page.getByTestId('accept-video').count()).resolves.toBe(0);
    await b.page.getByTestId('accept-audio').click();
    await a.waitForCallState('active');
    await b.waitForCallState('active');
    const problem = a.page.getByTestId('media-problem');
    await expect(problem.textContent()).resolves.toMatch(/^Permission to use the camera was denied\. .* The call is voice only\.$/);
    await expectMediaFlowing(a, ['audio']);
    await expectMediaFlowing(b, ['audio']);
    for (const c of [a, b]) expect((await c.media()).video).toBe(0);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    e2e.watch.assertClean();
  });
});
