import { signal } from '@preact/signals';
import type {
  CallEndReason,
  CallMedia,
  ErrorCode,
  IceServer,
  Member,
  ServerMessage,
  SignalData,
} from '../../protocol/protocol.js';
import { PeerSession, type PeerNote } from '../rtc/PeerSession.js';
import type { SignalingClient, WelcomeMessage } from '../signaling/SignalingClient.js';
import type { DeviceChoice } from './DeviceChoice.js';
import type { FileTransfers } from './FileTransfers.js';
import {
  acquireMedia,
  explainMediaError,
  type LocalMedia,
  type MediaProblem,
  mediaState,
  openDevice,
  toggleTrack,
} from './media.js';
import type { Ringtone } from './Ringtone.js';
import { StatsMonitor } from './StatsMonitor.js';
import { ViewMachine } from './ViewMachine.js';

export type CallState = 'idle' | 'outgoing' | 'incoming' | 'connecting' | 'active' | 'ended';
/** Why a call ended: the server's reasons, plus `error` for a refused invite. */
export type EndReason = CallEndReason | 'error';

const next: Record<CallState, readonly CallState[]> = {
  idle: ['outgoing', 'incoming'],
  // outgoing → incoming: both called each other at once, and this side takes the other's call.
  outgoing: ['connecting', 'incoming', 'ended'],
  incoming: ['connecting', 'ended'],
  connecting: ['active', 'ended'],
  active: ['ended'],
  ended: ['idle', 'outgoing', 'incoming'],
};

/** What went wrong with a call, for the UI to put in words. */
export type CallError =
  | { kind: 'notConnected' }
  /** `detail` is the browser's own message (not translated: it names the failing API). */
  | { kind: 'setup'; detail: string }
  | { kind: 'server'; code: ErrorCode };

/** Everything the call UI renders. Documented field by field because views read nothing else. */
export interface CallView {
  state: CallState;
  callId: string | null;
  /** The other party. */
  peer: Member | null;
  role: 'caller' | 'callee';
  /** Voice or video, as agreed (video only if both sides want it). */
  media: CallMedia;
  /** The callee's app is ringing (the server said callRinging). */
  ringing: boolean;
  /** Getting camera/microphone before inviting or accepting. */
  preparing: boolean;
  /**
   * The callee's accept has gone to the server (at the click, or once the microphone is open for
   * a voice-only answer to a video call), though the call may still show as
   * `incoming` until `callAccepted` comes back: from now on leaving the call is a hang-up.
   */
  accepted: boolean;
  endReason: EndReason | null;
  /** A problem to show: a refused invite, no server, a negotiation failure. */
  error: CallError | null;
  /** Camera or microphone trouble, with what to do. */
  mediaProblem: MediaProblem | null;
  /** The last device switch failed (the previous device stays in use). */
  deviceProblem: MediaProblem | null;
  local: MediaStream | null;
  remote: MediaStream | null;
  micOn: boolean;
  camOn: boolean;
  peerAudio: boolean;
  peerVideo: boolean;
  /** When media first flowed (ms since epoch), for the call timer. */
  startedAt: number | null;
  /** The peer connection's connectionState, as last reported. */
  link: RTCPeerConnectionState | null;
  /** The server no longer knows the call (it restarted); media still flows peer to peer. */
  signalingLost: boolean;
  /** Our screen sharing: `starting` while the browser's picker is open. */
  share: 'off' | 'starting' | 'on';
  /** The screen we share (sent in place of the camera), while `share` is `on`. */
  screen: MediaStream | null;
  /** The last attempt to share the screen failed (or the user closed the picker). */
  shareProblem: ShareProblem | null;
  /** The peer's video is a shared screen (told over the data channel). */
  peerScreen: boolean;
}

/** Why screen sharing did not start: `denied` covers the user closing the browser's picker. */
export interface ShareProblem {
  reason: 'denied' | 'other';
  /** The DOMException name. */
  code: string;
}

const initial: CallView = {
  state: 'idle',
  callId: null,
  peer: null,
  role: 'caller',
  media: 'video',
  ringing: false,
  preparing: false,
  accepted: false,
  endReason: null,
  error: null,
  mediaProblem: null,
  deviceProblem: null,
  local: null,
  remote: null,
  micOn: true,
  camOn: true,
  peerAudio: true,
  peerVideo: true,
  startedAt: null,
  link: null,
  signalingLost: false,
  share: 'off',
  screen: null,
  shareProblem: null,
  peerScreen: false,
};

/**
 * The call state machine: invite, ring, accept/decline/cancel/busy/timeout, media, hang-up.
 * One call at a time. Owns the PeerSession and the local media; the UI only reads `view`.
 */
export class CallController {
  readonly #machine = new ViewMachine<CallState, CallView>('call', initial, next);
  /** What the UI renders. */
  readonly view = this.#machine.view;
  /** Call statistics, sampled only while the stats panel is open. */
  readonly stats = new StatsMonitor(() => this.#session?.pc ?? null);
  /**
   * Files sent to and from the peer during the call (Parley peers only). The code loads with the
   * first call, not with the page; received files stay here to be saved until the call is closed.
   */
  readonly files = signal<FileTransfers | null>(null);
  readonly #sig: SignalingClient;
  readonly #ring: Ringtone;
  readonly #devices: DeviceChoice;
  #session: PeerSession | null = null;
  #iceServers: IceServer[] = [];
  #inviteRef: string | null = null;
  #cancelWhenRinging = false;
  #dismissTimer: ReturnType<typeof setTimeout> | null = null;
  #seq = 0;

  constructor(signaling: SignalingClient, ringtone: Ringtone, devices: DeviceChoice) {
    this.#sig = signaling;
    this.#ring = ringtone;
    this.#devices = devices;
    signaling.events.on('welcome', (w) => {
      this.#onWelcome(w);
    });
    signaling.events.on('message', (msg) => {
      this.#handle(msg);
    });
  }

  /** For tests and diagnostics only. */
  get peerConnection(): RTCPeerConnection | null {
    return this.#session?.pc ?? null;
  }

  /** For tests and diagnostics only: offers and answers this side has sent in the current call. */
  get descriptionsSent(): number {
    return this.#session?.descriptionsSent ?? 0;
  }

  get #v(): CallView {
    return this.#machine.value;
  }

  #set(patch: Partial<CallView>): void {
    this.#machine.set(patch);
  }

  #setState(to: CallState, patch: Partial<CallView> = {}): void {
    this.#machine.go(to, patch);
  }

  get busy(): boolean {
    const s = this.#v.state;
    return s !== 'idle' && s !== 'ended';
  }

  // -------------------------------------------------------------------------------------------
  // Intents

  async invite(peer: Member, media: CallMedia): Promise<void> {
    if (this.busy) return;
    this.#clearDismiss();
    const ref = `invite:${++this.#seq}`;
    this.#inviteRef = ref;
    this.#cancelWhenRinging = false;
    this.#setState('outgoing', {
      ...initial,
      state: this.#v.state,
      peer,
      role: 'caller',
      media,
      preparing: true,
    });
    const local = await this.#acquire(media);
    if (this.#v.state !== 'outgoing' || this.#inviteRef !== ref) {
      stopStream(local.stream);
      return;
    }
    this.#set({
      preparing: false,
      local: local.stream,
      media: local.media,
      mediaProblem: local.problem,
      camOn: local.media === 'video',
    });
    const sent = this.#sig.send({ type: 'callInvite', to: peer.id, media: local.media, ref });
    if (!sent) this.#end('error', { kind: 'notConnected' });
  }

  accept(media: CallMedia): Promise<void> {
    return this.#answer(media, null);
  }

  /**
   * Accepts the ringing call with `media` (as far as the call has it), with the devices in
   * `opened` if this side has them open already, or else opened now.
   */
  async #answer(media: CallMedia, opened: LocalMedia | null): Promise<void> {
    const v = this.#v;
    if (v.state !== 'incoming' || v.preparing || v.callId === null) return;
    const callId = v.callId;
    this.#ring.stop();
    this.#set({ preparing: true });
    const wanted = v.media === 'video' ? media : 'audio';
    // The connection made while the call rang has, or will have, the caller's offer: the accept
    // goes out at the click, the answer is made and goes behind it, and the call connects while
    // the camera and microphone open (a real camera takes a good part of a second); their tracks
    // then go on the senders readied for them. A voice-only answer to a video call readies no
    // video sender, and the caller stops sending its camera when it hears (callAccepted): one
    // connection either way, so no late offer or answer of a dropped one can meet a new one.
    const session = this.#session;
    if (session) {
      session.beginAnswer(wanted);
      if (!this.#sendAccept(callId, wanted)) return;
      session.acceptSent();
    }
    const local = opened ?? (await this.#acquire(wanted));
    if (this.#v.callId !== callId || !this.busy) {
      stopStream(local.stream);
      return;
    }
    let problem = local.problem;
    // Without its camera, this side is in a video call with its camera off: it still sees the caller.
    if (session && wanted === 'video' && problem?.fallback === 'voiceOnly') problem = { ...problem, fallback: 'noVideo' };
    this.#set({
      preparing: false,
      local: local.stream,
      mediaProblem: problem,
      camOn: local.media === 'video',
    });
    if (session) {
      session.addStreamWithAnswer(local.stream, 3000);
      this.#announceMedia();
      return;
    }
    // No connection was made while it rang: one is made at callAccepted, with these tracks.
    this.#sendAccept(callId, local.media);
  }

  /** Sends the callee's accept: false (and the call ended) without a connection to the server. */
  #sendAccept(callId: string, media: CallMedia): boolean {
    if (!this.#sig.send({ type: 'callAccept', callId, media })) {
      this.#end('error', { kind: 'notConnected' });
      return false;
    }
    this.#set({ accepted: true });
    return true;
  }

  /**
   * Uses another camera or microphone. In a call the new track replaces the old one on the same
   * RTCRtpSender (replaceTrack), so nothing is renegotiated. The choice is remembered either way.
   */
  async switchDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void> {
    this.#devices.choose(kind, deviceId);
    const local = this.#v.local;
    const old = kind === 'camera' ? local?.getVideoTracks()[0] : local?.getAudioTracks()[0];
    if (!local || !old) return; // nothing in use: the choice applies to the next call
    let fresh: MediaStreamTrack;
    try {
      fresh = await openDevice(kind, deviceId);
    } catch (error) {
      if (!(error instanceof DOMException && error.name === 'NotReadableError')) {
        this.#set({ deviceProblem: explainMediaError(error, kind === 'camera' ? 'video' : 'audio') });
        return;
      }
      // Some devices (phone cameras) cannot be open twice at once: release the old one first.
      old.stop();
      try {
        fresh = await openDevice(kind, deviceId);
      } catch (again) {
        this.#set({ deviceProblem: explainMediaError(again, kind === 'camera' ? 'video' : 'audio') });
        return;
      }
    }
    if (this.#v.local !== local) {
      fresh.stop(); // the call ended or the stream changed while the device was opening
      return;
    }
    fresh.enabled = old.enabled; // keep muted / camera-off as it was
    try {
      await this.#session?.replaceTrack(old, fresh);
    } catch (error) {
      fresh.stop();
      this.#set({ deviceProblem: explainMediaError(error, kind === 'camera' ? 'video' : 'audio') });
      return;
    }
    old.stop();
    this.#set({
      local: new MediaStream(local.getTracks().map((t) => (t === old ? fresh : t))),
      deviceProblem: null,
    });
  }

  /** Camera and microphone for a call: the remembered ones, or any if those are gone. */
  async #acquire(media: CallMedia): ReturnType<typeof acquireMedia> {
    const camera = this.#devices.constraint('camera');
    const microphone = this.#devices.constraint('microphone');
    let local = await acquireMedia(media, { camera, microphone });
    const code = local.problem?.code;
    const remembered = camera.deviceId !== undefined || microphone.deviceId !== undefined;
    if (remembered && (code === 'OverconstrainedError' || code === 'NotFoundError')) {
      stopStream(local.stream);
      local = await acquireMedia(media);
    }
    void this.#devices.confirm(local.stream);
    return local;
  }

  decline(): void {
    const v = this.#v;
    if (v.state !== 'incoming' || v.callId === null) return;
    if (v.accepted) {
      // The accept went first on the same connection: the server has an active call to end.
      this.hangup();
      return;
    }
    this.#sig.send({ type: 'callDecline', callId: v.callId });
    this.#end('declined');
  }

  /** Cancels a ringing outgoing call, or hangs up a call in progress. */
  hangup(): void {
    const v = this.#v;
    if (v.state === 'incoming' && !v.accepted) {
      this.decline();
      return;
    }
    if (v.state === 'outgoing') {
      if (v.callId !== null) this.#sig.send({ type: 'callCancel', callId: v.callId });
      else this.#cancelWhenRinging = true;
      this.#end('cancelled');
      return;
    }
    // An accepted call may still show as incoming until the server's callAccepted comes back.
    if (v.state === 'connecting' || v.state === 'active' || v.state === 'incoming') {
      this.#session?.note({ t: 'bye' });
      if (v.callId !== null && !v.signalingLost) this.#sig.send({ type: 'callHangup', callId: v.callId });
      this.#end('hangup');
    }
  }

  toggleMic(): void {
    const on = toggleTrack(this.#v.local, 'audio');
    if (on === null) return;
    this.#set({ micOn: on });
    this.#announceMedia();
  }

  toggleCamera(): void {
    const on = toggleTrack(this.#v.local, 'video');
    if (on === null) return;
    this.#set({ camOn: on });
    this.#announceMedia();
  }

  /** Screen sharing needs getDisplayMedia (desktop browsers; not phones). */
  get canShareScreen(): boolean {
    return typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getDisplayMedia === 'function';
  }

  /**
   * Shares a screen, window or tab (the browser asks which) in place of the camera. With a camera
   * sender that is a replaceTrack, so nothing is renegotiated; a voice call gains a video sender
   * and perfect negotiation renegotiates once. The camera stays open, so going back is instant.
   */
  async startScreenShare(): Promise<void> {
    const session = this.#session;
    // While the camera still opens, its track is on its way to the same sender.
    if (!session || this.#v.state !== 'active' || this.#v.share !== 'off' || this.#v.preparing) return;
    this.#set({ share: 'starting', shareProblem: null });
    let screen: MediaStream;
    try {
      screen = await navigator.mediaDevices.getDisplayMedia({
        video: { frameRate: { ideal: 15, max: 30 } },
        audio: false,
      });
    } catch (error) {
      if (this.#session === session) this.#set({ share: 'off', shareProblem: shareProblem(error) });
      return;
    }
    const track = screen.getVideoTracks()[0];
    if (this.#session !== session || this.#v.state !== 'active' || !track) {
      stopStream(screen); // the call ended while the picker was open
      if (this.#session === session) this.#set({ share: 'off' });
      return;
    }
    // Text on a screen must stay legible: keep the resolution, let the frame rate drop instead.
    track.contentHint = 'detail';
    try {
      await session.sendVideo(track, screen);
    } catch (error) {
      stopStream(screen);
      if (this.#session === session) this.#set({ share: 'off', shareProblem: shareProblem(error) });
      return;
    }
    if (this.#session !== session) {
      stopStream(screen);
      return;
    }
    // The browser's own "Stop sharing" button ends the track.
    track.addEventListener('ended', () => {
      if (this.#v.screen === screen) this.stopScreenShare();
    });
    this.#set({ share: 'on', screen });
    session.note({ t: 'screen', on: true });
  }

  /** Stops sharing: the camera goes back on the same sender (or no video, in a voice call). */
  stopScreenShare(): void {
    const screen = this.#v.screen;
    if (!screen) return;
    const session = this.#session;
    this.#set({ share: 'off', screen: null });
    if (!session) {
      stopStream(screen);
      return;
    }
    session.note({ t: 'screen', on: false });
    const local = this.#v.local;
    session
      .sendVideo(local?.getVideoTracks()[0] ?? null, local)
      .catch((error: unknown) => {
        if (this.#session === session) this.#set({ shareProblem: shareProblem(error) });
      })
      .finally(() => {
        stopStream(screen);
      });
  }

  /** Clears an ended call from the screen. */
  dismiss(): void {
    this.#clearDismiss();
    if (this.#v.state !== 'ended') return;
    this.#dropFiles();
    this.#setState('idle', { ...initial });
  }

  #dropFiles(): void {
    this.files.value?.dispose();
    this.files.value = null;
  }

  /** The page is going away: tell the peer and the server now rather than after a timeout. */
  pageHidden(): void {
    if (this.busy) this.hangup();
  }

  // -------------------------------------------------------------------------------------------
  // Server messages

  #handle(msg: ServerMessage): void {
    const v = this.#v;
    switch (msg.type) {
      case 'callRinging':
        if (v.state !== 'outgoing' || msg.ref !== this.#inviteRef) {
          // We gave up on this invite before the server answered it.
          if (msg.ref !== null && msg.ref === this.#inviteRef && this.#cancelWhenRinging) {
            this.#sig.send({ type: 'callCancel', callId: msg.callId });
          }
          return;
        }
        this.#set({ callId: msg.callId, ringing: true });
        this.#prepare();
        return;
      case 'callIncoming':
        if (v.state === 'outgoing' && v.callId === null && v.peer?.id === msg.from.id) {
          this.#takeCrossingCall(msg);
          return;
        }
        if (this.busy) {
          // Only possible when the server has lost track of our call (it restarted).
          this.#sig.send({ type: 'callDecline', callId: msg.callId });
          return;
        }
        this.#ringIn(msg.callId, msg.from, msg.media, true);
        return;
      case 'callAccepted':
        if (msg.callId !== v.callId || (v.state !== 'outgoing' && v.state !== 'incoming')) return;
        this.#startMedia(msg.media);
        return;
      case 'callEnded':
        if (msg.callId === v.callId && this.busy) {
          this.#end(msg.reason);
        } else if (v.state === 'outgoing' && v.callId === null && msg.ref === this.#inviteRef) {
          this.#end(msg.reason); // busy: the call ended before it rang
        }
        return;
      case 'signal':
        if (msg.callId === v.callId) this.#session?.receive(msg.data);
        return;
      case 'callMedia':
        if (msg.callId === v.callId) this.#set({ peerAudio: msg.audio, peerVideo: msg.video });
        return;
      case 'error':
        if (msg.ref !== null && msg.ref === this.#inviteRef && v.state === 'outgoing') {
          this.#end('error', { kind: 'server', code: msg.code });
        }
        return;
      default:
        return;
    }
  }

  /**
   * A call comes in: the view, the ring tone (unless `ring` is false: the call is taken at once),
   * and the connection that takes the caller's early offer.
   */
  #ringIn(callId: string, peer: Member, media: CallMedia, ring: boolean): void {
    this.#clearDismiss();
    this.#setState('incoming', { ...initial, state: this.#v.state, callId, peer, role: 'callee', media });
    if (ring) this.#ring.start();
    this.#prepareCallee();
  }

  /**
   * Both users called each other at once, and the server took the other's invite first (ours will
   * be refused, as this user is now in that call): this side takes that call, as its user wanted
   * to talk to this very person, with the media it asked for and the devices it has open.
   */
  #takeCrossingCall(msg: Extract<ServerMessage, { type: 'callIncoming' }>): void {
    const v = this.#v;
    // Should our invite ring after all (two server instances each took one), it is cancelled then.
    this.#cancelWhenRinging = true;
    // Devices still opening for the invite are closed when they open (invite() sees the change).
    const opened: LocalMedia | null = v.preparing ? null : { stream: v.local, media: v.media, problem: v.mediaProblem };
    this.#ringIn(msg.callId, msg.from, msg.media, false);
    const media = opened?.media ?? v.media;
    if (opened?.stream && msg.media === 'audio') {
      // The other side called with voice only: the camera opened for our invite is not needed.
      for (const t of opened.stream.getVideoTracks()) t.stop();
      opened.stream = new MediaStream(opened.stream.getAudioTracks());
      opened.media = 'audio';
    }
    void this.#answer(media, opened);
  }

  #onWelcome(w: WelcomeMessage): void {
    this.#iceServers = w.iceServers;
    const v = this.#v;
    const summary = w.calls.find((c) => c.callId === v.callId);
    if (!this.busy) {
      const ringing = w.calls.find((c) => c.role === 'callee' && c.state === 'ringing');
      if (ringing && w.resumed) this.#ringIn(ringing.callId, ringing.peer, ringing.media, true);
      // A call of a previous page load cannot be picked up: its media is gone.
      for (const c of w.calls) {
        if (c.state === 'active') this.#sig.send({ type: 'callHangup', callId: c.callId });
      }
      return;
    }
    if (summary) {
      this.#set({ signalingLost: false });
      return;
    }
    if ((v.state === 'connecting' || v.state === 'active') && this.#session) {
      // The server forgot the call (it restarted). Media goes peer to peer, so keep the call;
      // hang-up and mute state now travel over the data channel.
      this.#set({ signalingLost: true });
      return;
    }
    if (v.state === 'outgoing' && v.callId === null) {
      // The invite never reached the server; send it again on the new session.
      const ref = this.#inviteRef ?? `invite:${++this.#seq}`;
      if (v.peer && !v.preparing) this.#sig.send({ type: 'callInvite', to: v.peer.id, media: v.media, ref });
      return;
    }
    this.#end('disconnected');
  }

  #startMedia(media: CallMedia): void {
    const v = this.#v;
    const self = this.#sig.user.value;
    if (!v.peer || !self) return;
    let local = v.local;
    if (media === 'audio' && local?.getVideoTracks().length) {
      // The other side wanted voice only: stop the camera rather than send video nobody shows. A
      // connection made while it rang keeps its video sender, idle (a screen shared later takes
      // it with no new negotiation).
      const ringing = this.#session;
      ringing?.sendVideo(null, null).catch((error: unknown) => {
        if (this.#session === ringing) this.#setupFailed(error);
      });
      for (const t of local.getVideoTracks()) t.stop();
      local = new MediaStream(local.getAudioTracks());
    }
    const peer = v.peer;
    this.#setState('connecting', {
      media,
      local,
      camOn: media === 'video' && (local?.getVideoTracks().length ?? 0) > 0,
      peerVideo: media === 'video',
    });
    const prepared = this.#session;
    const session = prepared ?? this.#newSession(peer, self.id, v.callId, v.role === 'callee');
    this.#session = session;
    this.#dropFiles();
    if (peer.kind === 'parley') {
      import('./FileTransfers.js').then(
        ({ FileTransfers }) => {
          if (this.#session !== session) return;
          this.files.value = new FileTransfers({
            channel: () => session.filesChannel,
            listen: (handler) => {
              session.listenFiles(handler);
            },
          });
        },
        (error: unknown) => {
          // The chunk could not be fetched (a deploy replaced it): the call works without files.
          console.warn('file transfer unavailable', error);
        },
      );
    }
    if (prepared) {
      // The connection made while the call rang may be up already: the callee's accept went out at
      // the click, and the connection's events and the server's messages reach the page by
      // different ways, in no set order, so `connected` can come before the server's callAccepted.
      this.#activateIfConnected();
      return;
    }
    if (v.role === 'callee') session.addStreamWithAnswer(local, 3000);
    else if (local) session.addStream(local);
  }

  /**
   * The caller, while the call rings: builds the connection with the local media and lets it make
   * its offer and gather candidates, which go out at once: the callee's app applies the offer
   * while it rings and answers only when its user accepts. What used to start at the accept
   * (creating the connections, the offer, applying it, host candidates) is then done by the time
   * the callee says yes. Only towards Parley apps: a legacy app is accepted at once (it never
   * rings) and expects the offer after that, as before.
   */
  #prepare(): void {
    const v = this.#v;
    const self = this.#sig.user.value;
    if (this.#session || v.role !== 'caller' || v.state !== 'outgoing' || v.callId === null) return;
    if (!v.peer || v.peer.kind !== 'parley' || !v.local || !self) return;
    this.#session = this.#newSession(v.peer, self.id, v.callId, false);
    this.#session.addStream(v.local);
  }

  /**
   * The callee, while the call rings: a connection ready for the caller's early offer. It applies
   * the offer but answers nothing, gathers no candidates and opens no device until the user
   * accepts (PeerSession's answerFirst); declining, or the call ending, closes it.
   */
  #prepareCallee(): void {
    const v = this.#v;
    const self = this.#sig.user.value;
    if (this.#session || v.role !== 'callee' || v.state !== 'incoming' || !v.peer || !self) return;
    this.#session = this.#newSession(v.peer, self.id, v.callId, true);
  }

  #sendSignal(callId: string | null, data: SignalData): void {
    if (callId !== null && !this.#v.signalingLost) this.#sig.send({ type: 'signal', callId, data });
  }

  #newSession(peer: Member, selfId: string, callId: string | null, answerFirst: boolean): PeerSession {
    const session: PeerSession = new PeerSession({
      // Roles come from server ids, never from who clicked. Legacy apps cannot roll back an
      // offer, so against them we always yield.
      polite: peer.kind !== 'parley' || selfId < peer.id,
      iceServers: this.#iceServers,
      dataChannel: peer.kind === 'parley',
      answerFirst,
      send: (data) => {
        // A connection that was dropped (a prepared one replaced at a voice-only answer) says nothing.
        if (this.#session !== session) return;
        this.#sendSignal(callId, data);
      },
      onTrack: (stream) => {
        if (this.#session === session) this.#set({ remote: stream });
      },
      onConnectionState: (state) => {
        if (this.#session !== session) return;
        this.#set({ link: state });
        this.#activateIfConnected();
      },
      onNote: (note: PeerNote) => {
        if (this.#session !== session) return;
        if (note.t === 'bye') this.#end('hangup');
        else if (note.t === 'screen') this.#set({ peerScreen: note.on });
        else this.#set({ peerAudio: note.audio, peerVideo: note.video });
      },
      onChannelClosed: () => {
        if (this.#session === session) this.#end('disconnected');
      },
      onError: (error: unknown) => {
        if (this.#session === session) this.#setupFailed(error);
      },
    });
    return session;
  }

  /** A connecting call whose connection is up is active (media flows): the timer starts. */
  #activateIfConnected(): void {
    if (this.#v.state !== 'connecting' || this.#session?.pc.connectionState !== 'connected') return;
    this.#setState('active', { startedAt: Date.now() });
    this.#announceMedia();
  }

  /** The connection could not do what the call needed: shown with the browser's own words. */
  #setupFailed(error: unknown): void {
    this.#set({ error: { kind: 'setup', detail: error instanceof Error ? error.message : String(error) } });
  }

  #announceMedia(): void {
    const v = this.#v;
    // The devices are still opening: this side says what it sends once they have.
    if (v.preparing) return;
    const { audio, video } = mediaState(v);
    this.#session?.note({ t: 'media', audio, video });
    if (v.callId !== null && !v.signalingLost && (v.state === 'active' || v.state === 'connecting')) {
      this.#sig.send({ type: 'callMedia', callId: v.callId, audio, video });
    }
  }

  #end(reason: EndReason, error: CallError | null = null): void {
    if (!this.busy) return;
    this.#ring.stop();
    this.stats.stop();
    const session = this.#session;
    this.#session = null;
    session?.close();
    this.files.value?.disconnect();
    stopStream(this.#v.local);
    stopStream(this.#v.screen);
    this.#setState('ended', {
      endReason: reason,
      error: error ?? this.#v.error,
      preparing: false,
      local: null,
      remote: null,
      link: null,
      share: 'off',
      screen: null,
      peerScreen: false,
    });
    this.#clearDismiss();
    // A short-lived outcome ("declined", "no answer") clears itself; problems stay until closed.
    // So does a call that leaves received files to save.
    if (error === null && this.#v.mediaProblem === null && !(this.files.value?.hasDownloads ?? false)) {
      this.#dismissTimer = setTimeout(() => {
        this.dismiss();
      }, 6000);
    }
  }

  #clearDismiss(): void {
    if (this.#dismissTimer) clearTimeout(this.#dismissTimer);
    this.#dismissTimer = null;
  }
}

function shareProblem(error: unknown): ShareProblem {
  const code = error instanceof DOMException || error instanceof Error ? error.name : 'Error';
  return { reason: code === 'NotAllowedError' || code === 'AbortError' ? 'denied' : 'other', code };
}

function stopStream(stream: MediaStream | null): void {
  for (const t of stream?.getTracks() ?? []) t.stop();
}
