/**
 * The in-page half of scenario 5 (call setup in Chromium). `installCallPage` is serialized into a
 * blank page by bench/callSetup.ts (page.evaluate), so it must not use anything from this module's
 * scope at run time: only types are imported.
 *
 * The RTCPeerConnection code is the same for the Parley call and for the floor; only `send`
 * differs (a Parley `signal` frame over /ws, or a Playwright binding that the bench hands straight
 * to the other page). Flow: the simple caller-offers one, not perfect negotiation. The caller adds
 * its tracks and offers; the callee creates its connection on the first signal, applies the offer,
 * adds its tracks and answers; ICE candidates trickle both ways (null marks the end). The camera
 * (Chromium's fake device, audio and video) is opened before each call's T0, so neither side pays
 * for getUserMedia inside the timed span, and stopped after it: a page holds its devices only
 * while its own call runs, never while the web app's calls are measured (every live fake camera
 * and microphone costs the browser CPU, so a pair left open would slow the app's calls only).
 */
import type { IceServer, SignalData } from '../src/protocol/protocol.js';

/**
 * parley: signals through the Parley server; floor: through the bench between the two pages; local:
 * both connections in one page, signals handed over by a direct call (no relay at all).
 */
export type Mode = 'parley' | 'floor' | 'local';
export type Role = 'caller' | 'callee';

/** What one page saw of one call; times are performance.timeOrigin + performance.now(), in ms. */
export interface Side {
  mode: Mode;
  role: Role;
  /** Parley: when the callee sent callAccept; floor: when the caller began its offer. Set on that page only. */
  t0: number | null;
  firstFrameAt: number;
  /** How the first frame was seen: requestVideoFrameCallback, or the first resize with a width. */
  via: 'rvfc' | 'resize';
  /** Steps on the way (accepted, offerSent, offerReceived, answerSent, answerReceived, track, connected). */
  marks: Record<string, number>;
  /** The local ICE candidates this page gathered (candidate lines). */
  candidates: string[];
}

export interface CallBench {
  /** Returns the page clock minus Date.now() (mean of many samples), and whether rVFC is there. */
  setup(): Promise<{ clockMinusDateMs: number; rvfc: boolean }>;
  /** Opens the fake camera and microphone (true), or stops them (false). */
  camera(on: boolean): Promise<void>;
  connect(wsUrl: string, name: string): Promise<{ id: string; iceServers: IceServer[] }>;
  /** Parley caller: sends callInvite, waits for callRinging, and arms the page for that call. */
  invite(to: string): Promise<string>;
  /** Parley callee: the id of the next incoming call. */
  incoming(): Promise<string>;
  /** Parley callee: T0, then callAccept. */
  accept(callId: string): void;
  /** Floor callee: arms the page for a call whose signals arrive through deliver(). */
  armFloor(): void;
  /** Floor caller: T0, then the offer. */
  startFloor(): void;
  /** Floor: a signal from the other page. */
  deliver(data: SignalData): void;
  /** Resolves when this page has shown the first remote video frame of the current call. */
  result(timeoutMs: number): Promise<Side>;
  /**
   * Local: a caller and a callee connection in this one page, signals passed by direct call; T0,
   * then the offer; resolves with both sides once both have shown a frame, and closes both.
   */
  localCall(timeoutMs: number): Promise<[Side, Side]>;
  /** Ends the current call (Parley: the caller hangs up and both wait for callEnded). */
  hangup(): Promise<void>;
}

export function installCallPage(): void {
  type Msg = { type: string } & Record<string, unknown>;
  interface Current {
    mode: Mode;
    role: Role;
    callId: string | null;
    t0: number | null;
    marks: Record<string, number>;
    candidates: string[];
    pc: RTCPeerConnection | null;
    pending: (RTCIceCandidateInit | null)[];
    queue: Promise<void>;
    video: HTMLVideoElement | null;
    firstFrameAt: number;
    via: 'rvfc' | 'resize';
    /** Local mode: the other connection in this page. */
    other: Current | null;
    done: Promise<void>;
    resolve: () => void;
    reject: (error: Error) => void;
  }

  const now = () => performance.timeOrigin + performance.now();
  let stream: MediaStream | null = null;
  let ws: WebSocket | null = null;
  let iceServers: RTCIceServer[] = [];
  let current: Current | null = null;
  /** Frames nobody waited for yet, of the types someone may wait for. */
  const inbox: Msg[] = [];
  const waiters: { match: (m: Msg) => boolean; done: (m: Msg) => void }[] = [];
  const KEEP = new Set(['welcome', 'roomJoined', 'callRinging', 'callIncoming', 'callEnded', 'error']);

  function next(match: (m: Msg) => boolean, timeoutMs = 20_000): Promise<Msg> {
    const at = inbox.findIndex(match);
    if (at >= 0) return Promise.resolve(inbox.splice(at, 1)[0]!);
    return new Promise((done, fail) => {
      const waiter = {
        match,
        done: (m: Msg) => {
          clearTimeout(timer);
          done(m);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        fail(new Error('timed out waiting for a frame'));
      }, timeoutMs);
      waiters.push(waiter);
    });
  }

  function newCall(mode: Mode, role: Role, callId: string | null): Current {
    current = makeCall(mode, role, callId);
    return current;
  }

  function makeCall(mode: Mode, role: Role, callId: string | null): Current {
    let resolve: () => void = () => undefined;
    let reject: (error: Error) => void = () => undefined;
    const done = new Promise<void>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    // Nobody may be listening yet when a call fails early.
    done.catch(() => undefined);
    return {
      mode,
      role,
      callId,
      t0: null,
      marks: {},
      candidates: [],
      pc: null,
      pending: [],
      queue: Promise.resolve(),
      video: null,
      firstFrameAt: 0,
      via: 'rvfc',
      other: null,
      done,
      resolve,
      reject,
    };
  }

  function mark(c: Current, name: string): void {
    c.marks[name] ??= now();
  }

  function send(c: Current, data: SignalData): void {
    if (c.mode === 'parley') {
      ws?.send(JSON.stringify({ type: 'signal', callId: c.callId, data }));
    } else if (c.mode === 'local') {
      if (c.other) onSignal(c.other, data);
    } else {
      const relay = (window as unknown as { __relay: (d: SignalData) => Promise<void> }).__relay;
      void relay(data);
    }
  }

  function attach(c: Current, track: MediaStreamTrack): void {
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.width = 320;
    video.height = 240;
    document.body.append(video);
    c.video = video;
    const seen = (via: 'rvfc' | 'resize') => {
      if (c.firstFrameAt) return;
      c.firstFrameAt = now();
      c.via = via;
      c.resolve();
    };
    if (typeof video.requestVideoFrameCallback === 'function') {
      video.requestVideoFrameCallback(() => {
        seen('rvfc');
      });
    } else {
      video.addEventListener('resize', () => {
        if (video.videoWidth > 0) seen('resize');
      });
    }
    video.srcObject = new MediaStream([track]);
    video.play().catch(() => undefined);
  }

  function peer(c: Current): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: c.mode === 'parley' ? iceServers : [] });
    c.pc = pc;
    pc.onicecandidate = ({ candidate }) => {
      const j = candidate?.toJSON();
      if (j?.candidate) c.candidates.push(j.candidate);
      send(c, {
        kind: 'candidate',
        candidate: j
          ? {
              candidate: j.candidate ?? '',
              sdpMid: j.sdpMid ?? null,
              sdpMLineIndex: j.sdpMLineIndex ?? null,
              usernameFragment: j.usernameFragment ?? null,
            }
          : null,
      });
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') mark(c, 'connected');
      if (pc.connectionState === 'failed') c.reject(new Error('connection failed'));
    };
    pc.ontrack = ({ track }) => {
      if (track.kind !== 'video' || c.video) return;
      mark(c, 'track');
      attach(c, track);
    };
    return pc;
  }

  function addTracks(pc: RTCPeerConnection): void {
    if (!stream) throw new Error('camera(true) first');
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
  }

  async function offer(c: Current): Promise<void> {
    const pc = peer(c);
    addTracks(pc);
    const description = await pc.createOffer();
    await pc.setLocalDescription(description);
    send(c, { kind: 'description', description: { type: 'offer', sdp: description.sdp ?? '' } });
    mark(c, 'offerSent');
  }

  async function handle(c: Current, data: SignalData): Promise<void> {
    const pc = c.pc ?? peer(c);
    if (data.kind === 'candidate') {
      if (pc.remoteDescription) await pc.addIceCandidate(data.candidate);
      else c.pending.push(data.candidate);
      return;
    }
    await pc.setRemoteDescription(data.description);
    if (data.description.type === 'offer') {
      mark(c, 'offerReceived');
      addTracks(pc);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      send(c, { kind: 'description', description: { type: 'answer', sdp: answer.sdp ?? '' } });
      mark(c, 'answerSent');
    } else {
      mark(c, 'answerReceived');
    }
    for (const candidate of c.pending.splice(0)) await pc.addIceCandidate(candidate);
  }

  function onSignal(c: Current, data: SignalData): void {
    c.queue = c.queue.then(() => handle(c, data)).catch((error: unknown) => {
      c.reject(error instanceof Error ? error : new Error(String(error)));
    });
  }

  function onFrame(m: Msg): void {
    const c = current;
    if (m.type === 'signal' && c?.mode === 'parley' && m.callId === c.callId) {
      onSignal(c, m.data as SignalData);
      return;
    }
    if (m.type === 'callAccepted' && c?.mode === 'parley' && c.role === 'caller' && m.callId === c.callId) {
      mark(c, 'accepted');
      offer(c).catch((error: unknown) => {
        c.reject(error instanceof Error ? error : new Error(String(error)));
      });
      return;
    }
    if (m.type === 'error' && c) c.reject(new Error(`server error: ${JSON.stringify(m)}`));
    if (!KEEP.has(m.type)) return;
    const at = waiters.findIndex((w) => w.match(m));
    if (at >= 0) waiters.splice(at, 1)[0]!.done(m);
    else inbox.push(m);
  }

  function side(c: Current): Side {
    return {
      mode: c.mode,
      role: c.role,
      t0: c.t0,
      firstFrameAt: c.firstFrameAt,
      via: c.via,
      marks: c.marks,
      candidates: c.candidates,
    };
  }

  const bench: CallBench = {
    setup() {
      let sum = 0;
      let n = 0;
      const until = performance.now() + 50;
      while (performance.now() < until) {
        sum += performance.timeOrigin + performance.now() - Date.now();
        n++;
      }
      const probe = document.createElement('video');
      return Promise.resolve({ clockMinusDateMs: sum / n, rvfc: typeof probe.requestVideoFrameCallback === 'function' });
    },

    async camera(on) {
      for (const track of stream?.getTracks() ?? []) track.stop();
      stream = on ? await navigator.mediaDevices.getUserMedia({ audio: true, video: true }) : null;
    },

    async connect(wsUrl, name) {
      const socket = new WebSocket(wsUrl);
      ws = socket;
      socket.onmessage = (event: MessageEvent<string>) => {
        onFrame(JSON.parse(event.data) as Msg);
      };
      await new Promise<void>((done, fail) => {
        socket.onopen = () => {
          done();
        };
        socket.onerror = () => {
          fail(new Error('WebSocket failed'));
        };
      });
      const welcome = next((m) => m.type === 'welcome' || m.type === 'error');
      const joined = next((m) => m.type === 'roomJoined');
      socket.send(JSON.stringify({ type: 'hello', versions: [1], name }));
      const w = await welcome;
      if (w.type === 'error') throw new Error(`sign-in failed: ${JSON.stringify(w)}`);
      await joined;
      const servers = w.iceServers as IceServer[];
      iceServers = servers.map((s) => ({
        urls: s.urls,
        ...(s.username !== undefined ? { username: s.username } : {}),
        ...(s.credential !== undefined ? { credential: s.credential } : {}),
      }));
      return { id: (w.user as { id: string }).id, iceServers: servers };
    },

    async invite(to) {
      const ringing = next((m) => m.type === 'callRinging' || m.type === 'callEnded' || m.type === 'error');
      ws?.send(JSON.stringify({ type: 'callInvite', to, media: 'video' }));
      const m = await ringing;
      if (m.type !== 'callRinging') throw new Error(`invite failed: ${JSON.stringify(m)}`);
      newCall('parley', 'caller', m.callId as string);
      return m.callId as string;
    },

    async incoming() {
      const m = await next((f) => f.type === 'callIncoming');
      return m.callId as string;
    },

    accept(callId) {
      const c = newCall('parley', 'callee', callId);
      c.t0 = now();
      ws?.send(JSON.stringify({ type: 'callAccept', callId, media: 'video' }));
    },

    armFloor() {
      newCall('floor', 'callee', null);
    },

    startFloor() {
      const c = newCall('floor', 'caller', null);
      c.t0 = now();
      offer(c).catch((error: unknown) => {
        c.reject(error instanceof Error ? error : new Error(String(error)));
      });
    },

    deliver(data) {
      if (current?.mode === 'floor') onSignal(current, data);
    },

    async result(timeoutMs) {
      const c = current;
      if (!c) throw new Error('no call');
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, fail) => {
        timer = setTimeout(() => {
          fail(new Error(`${c.role}: no remote video frame within ${timeoutMs} ms (marks ${JSON.stringify(c.marks)})`));
        }, timeoutMs);
      });
      try {
        await Promise.race([c.done, timeout]);
      } finally {
        clearTimeout(timer);
      }
      return side(c);
    },

    async localCall(timeoutMs) {
      const caller = makeCall('local', 'caller', null);
      const callee = makeCall('local', 'callee', null);
      caller.other = callee;
      callee.other = caller;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, fail) => {
        timer = setTimeout(() => {
          fail(new Error(`local: no remote video frame within ${timeoutMs} ms`));
        }, timeoutMs);
      });
      try {
        caller.t0 = now();
        offer(caller).catch((error: unknown) => {
          caller.reject(error instanceof Error ? error : new Error(String(error)));
        });
        await Promise.race([Promise.all([caller.done, callee.done]), timeout]);
        return [side(caller), side(callee)];
      } finally {
        clearTimeout(timer);
        for (const c of [caller, callee]) {
          c.pc?.close();
          if (c.video) {
            c.video.srcObject = null;
            c.video.remove();
          }
        }
      }
    },

    async hangup() {
      const c = current;
      if (!c) return;
      if (c.mode === 'parley' && c.callId) {
        const ended = next((m) => m.type === 'callEnded' && m.callId === c.callId);
        if (c.role === 'caller') ws?.send(JSON.stringify({ type: 'callHangup', callId: c.callId }));
        await ended;
      }
      c.pc?.close();
      if (c.video) {
        c.video.srcObject = null;
        c.video.remove();
      }
      if (current === c) current = null;
    },
  };
  (window as unknown as { __callBench: CallBench }).__callBench = bench;
}
