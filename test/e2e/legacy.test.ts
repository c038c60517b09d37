import { describe, expect, it } from 'vitest';
import { expectMediaFlowing, useBrowserAndServer } from './harness.js';

const e2e = useBrowserAndServer();

/** What the tutorial page keeps on `window` for the test to read. */
interface LegacyPage {
  pc: RTCPeerConnection;
  sent: string[];
  got: string[];
}

describe('a tutorial chat-protocol page calling the web app', () => {
  for (const answer of ['video', 'audio'] as const) {
    it(`rings with its offer, which the web app applies before the accept; then media flows both ways (${answer === 'video' ? 'video' : 'a voice'} answer)`, async () => {
      const app = await e2e.startApp({ legacyChatPort: 0 });
      const bob = await e2e.user('bob');
      // The tutorial's page, rebuilt on the wire it speaks (LEGACY-PROTOCOLS.md, "chat"): its own
      // origin is Parley's, so that it is a secure context with a camera.
      const context = await e2e.browser.newContext();
      try {
        const lea = await context.newPage();
        // Not e2e.watch: the page is no Parley app (its favicon is a 404); its own failures count.
        const leaErrors: string[] = [];
        lea.on('pageerror', (error) => leaErrors.push(error.message));
        await lea.goto(`${app.url}/healthz`);
        await lea.evaluate(async (url: string) => {
          const sent: string[] = [];
          const got: string[] = [];
          const ws = new WebSocket(url, 'json');
          const send = (frame: Record<string, unknown>) => {
            sent.push(frame.type as string);
            ws.send(JSON.stringify(frame));
          };
          const pc = new RTCPeerConnection();
          (window as unknown as { __legacy: LegacyPage }).__legacy = { pc, sent, got };
          const video = document.createElement('video');
          video.id = 'remote';
          video.autoplay = true;
          video.muted = true;
          document.body.append(video);
          pc.ontrack = ({ streams }) => {
            video.srcObject = streams[0] ?? null;
          };
          pc.onicecandidate = ({ candidate }) => {
            if (candidate) send({ type: 'new-ice-candidate', target: 'bob', candidate: candidate.toJSON() });
          };
          const bobListed = new Promise<void>((listed) => {
            ws.onmessage = (event: MessageEvent<string>) => {
              const msg = JSON.parse(event.data) as { type: string; id?: number; users?: string[]; sdp?: RTCSessionDescriptionInit; candidate?: RTCIceCandidateInit };
              got.push(msg.type);
              if (msg.type === 'id') send({ type: 'username', name: 'lea', id: msg.id, date: Date.now() });
              else if (msg.type === 'userlist' && msg.users?.includes('bob')) listed();
              else if (msg.type === 'video-answer' && msg.sdp) void pc.setRemoteDescription(msg.sdp);
              else if (msg.type === 'new-ice-candidate' && msg.candidate) void pc.addIceCandidate(msg.candidate);
            };
          });
          await bobListed;
          const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
          for (const track of stream.getTracks()) pc.addTrack(track, stream);
          await pc.setLocalDescription(await pc.createOffer());
          send({ type: 'video-offer', name: 'lea', target: 'bob', sdp: pc.localDescription!.toJSON() });
        }, app.legacyChatUrl!);

        await bob.waitForCallState('incoming');
        // While it rings, lea's offer is already applied on bob's side, which has answered nothing
        // and gathered no candidate: consent still comes first.
        await expect.poll(() => bob.negotiation()).toEqual({ local: null, remote: 'offer', gathering: 'new' });
        const legacy = () =>
          lea.evaluate(async () => {
            const { pc, sent, got } = (window as unknown as { __legacy: LegacyPage }).__legacy;
            const bytes = { audio: 0, video: 0 };
            (await pc.getStats()).forEach((s: { type: string; kind?: string; bytesReceived?: number }) => {
              if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) bytes[s.kind] += s.bytesReceived ?? 0;
            });
            const width = document.querySelector<HTMLVideoElement>('#remote')!.videoWidth;
            return { ...bytes, width, sent, got, remote: pc.remoteDescription?.type ?? null };
          });
        expect((await legacy()).got).not.toContain('video-answer');

        await bob.page.getByTestId(`accept-${answer}`).click();
        await bob.waitForCallState('active');
        await expectMediaFlowing(bob, answer === 'video' ? ['audio', 'video'] : ['audio']);
        if (answer === 'video') await expect.poll(async () => (await legacy()).width, { timeout: 20_000 }).toBeGreaterThan(0);
        const before = await legacy();
        await expect.poll(async () => (await legacy())[answer], { timeout: 20_000 }).toBeGreaterThan(before[answer]);
        const seen = await legacy();
        // A voice answer sends no video: lea's page gets none.
        if (answer === 'audio') expect([seen.video, seen.width]).toEqual([0, 0]);
        expect(seen.remote).toBe('answer');
        // One offer from lea, one answer from bob, and no error on either side.
        expect(seen.sent.filter((t) => t === 'video-offer')).toHaveLength(1);
        expect(seen.got.filter((t) => t === 'video-answer')).toHaveLength(1);
        expect(seen.got).not.toContain('error');
        expect(await bob.page.locator('[data-testid="call"] .problem').count()).toBe(0);

        // Lea closes her tab: her session ends, and bob's call with it.
        await lea.close();
        await bob.waitForCallState('ended');
        expect(leaErrors).toEqual([]);
        e2e.watch.assertClean();
      } finally {
        await context.close();
      }
    });
  }
});
