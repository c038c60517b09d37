import type {
  CallMedia,
  IceServer,
  RoomCallParticipant,
  ServerMessage,
} from '../../protocol/protocol.js';
import { PeerSession } from '../rtc/PeerSession.js';
import type { SignalingClient } from '../signaling/SignalingClient.js';
import type { CallError } from './CallController.js';
import type { DeviceChoice } from './DeviceChoice.js';
import { acquireMedia, type MediaProblem, mediaState, toggleTrack } from './media.js';
import { ViewMachine } from './ViewMachine.js';

/**
 * - joining: getting camera and microphone, then waiting for the server to seat us.
 * - active: in the call; peers come and go.
 * - left: out of it. Only shown when something went wrong (`error` or `lost`); a plain leave
 *   closes the call at once.
 */
export type GroupCallState = 'joining' | 'active' | 'left';

const next: Record<GroupCallState, readonly GroupCallState[]> = {
  joining: ['active', 'left'],
  active: ['left'],
  left: [],
};

/** Each peer's video is capped at this, so the uplink of a full mesh stays bounded (GROUP-CALLS.md). */
const VIDEO_BITRATE_PER_PEER = 500_000;
/** How long the earlier joiner waits for the newcomer's offer before offering itself. */
const ANSWER_FALLBACK_MS = 3000;

/** One other participant, as a tile in the grid. */
export interface PeerTile {
  id: string;
  name: string;
  media: CallMedia;
  /** Their microphone and camera, as they last said. */
  audio: boolean;
  video: boolean;
  /** What we receive from them (null until the first track arrives). */
  stream: MediaStream | null;
  /** Our connection to them. */
  link: RTCPeerConnectionState | null;
}

/** Everything the grid renders. */
export interface GroupCallView {
  state: GroupCallState;
  room: string;
  callId: string | null;
  local: MediaStream | null;
  micOn: boolean;
  camOn: boolean;
  /** Camera or microphone trouble (the call goes on with less). */
  mediaProblem: MediaProblem | null;
  /** Why joining failed, or a negotiation problem. */
  error: CallError | null;
  /** The server no longer knows our call (a new session after a restart). */
  lost: boolean;
  /** The others, in the order they joined. */
  peers: PeerTile[];
}

export interface GroupCallOptions {
  room: string;
  media: CallMedia;
  signaling: SignalingClient;
  devices: DeviceChoice;
  iceServers: () => IceServer[];
  onClosed: () => void;
}

let refSeq = 0;

/**
 * This page in a room call: a full mesh, one PeerSession (perfect negotiation) per other
 * participant. Who offers first is derived from the server's join order (the newcomer offers to
 * everyone already there, who wait for it), and who is polite from the user ids, as in 1:1 calls;
 * so every pair agrees without talking about it.
 */
export class GroupCall {
  readonly room: string;
  readonly #machine: ViewMachine<GroupCallState, GroupCallView>;
  readonly #opts: GroupCallOptions;
  readonly #sig: SignalingClient;
  readonly #peers = new Map<string, PeerSession>();
  readonly #off: (() => void)[] = [];
  readonly #ref = `roomCall:${++refSeq}`;
  #closed = false;

  constructor(options: GroupCallOptions) {
    this.#opts = options;
    this.#sig = options.signaling;
    this.room = options.room;
    this.#machine = new ViewMachine<GroupCallState, GroupCallView>('group call', {
      state: 'joining',
      room: options.room,
      callId: null,
      local: null,
      micOn: true,
      camOn: options.media === 'video',
      mediaProblem: null,
      error: null,
      lost: false,
      peers: [],
    }, next);
    this.#off.push(
      this.#sig.events.on('message', (msg) => {
        this.#handle(msg);
      }),
      this.#sig.events.on('welcome', (w) => {
        // A new session (the server restarted) has forgotten the call and given everyone new
        // ids, so the mesh cannot be put back together: say so rather than show a frozen grid.
        if (!w.resumed && this.#v.state !== 'left') this.#end({ lost: true });
      }),
    );
  }

  /** What the UI renders. */
  get view() {
    return this.#machine.view;
  }

  get #v(): GroupCallView {
    return this.#machine.value;
  }

  #set(patch: Partial<GroupCallView>): void {
    this.#machine.set(patch);
  }

  #setState(to: GroupCallState, patch: Partial<GroupCallView> = {}): void {
    this.#machine.go(to, patch);
  }

  /** For tests and diagnostics only: the connection to each other participant. */
  peerConnections(): { id: string; name: string; pc: RTCPeerConnection }[] {
    return this.#v.peers.flatMap((p) => {
      const session = this.#peers.get(p.id);
      return session ? [{ id: p.id, name: p.name, pc: session.pc }] : [];
    });
  }

  // -------------------------------------------------------------------------------------------
  // Intents

  /** Gets camera and microphone, then asks the server for a seat. */
  async start(): Promise<void> {
    const devices = this.#opts.devices;
    const local = await acquireMedia(this.#opts.media, {
      camera: devices.constraint('camera'),
      microphone: devices.constraint('microphone'),
    });
    if (this.#v.state !== 'joining' || this.#closed) {
      stopStream(local.stream);
      return;
    }
    this.#set({
      local: local.stream,
      mediaProblem: local.problem,
      camOn: local.media === 'video',
      micOn: (local.stream?.getAudioTracks().length ?? 0) > 0,
    });
    const sent = this.#sig.send({ type: 'roomCallJoin', room: this.room, media: local.media, ref: this.#ref });
    if (!sent) this.#end({ error: { kind: 'notConnected' } });
  }

  /** Leaves the call; the grid closes. */
  leave(): void {
    const state = this.#v.state;
    if (state === 'left') {
      this.close();
      return;
    }
    this.#sig.send({ type: 'roomCallLeave', room: this.room });
    this.#end({});
    this.close();
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

  /** Drops everything; idempotent. */
  close(): void {
    if (this.#closed) return;
    if (this.#v.state !== 'left') this.#end({});
    this.#closed = true;
    for (const off of this.#off.splice(0)) off();
    this.#opts.onClosed();
  }

  // -------------------------------------------------------------------------------------------
  // Server messages

  #handle(msg: ServerMessage): void {
    const v = this.#v;
    if (v.state === 'left') return;
    switch (msg.type) {
      case 'roomCall': {
        if (msg.room !== this.room) return;
        const self = this.#sig.user.value;
        const seated = self !== null && msg.participants.some((p) => p.id === self.id);
        if (v.state === 'joining') {
          if (!seated) return; // someone else's change before our join was handled
          this.#setState('active', { callId: msg.callId });
          this.#announceMedia();
        } else if (!seated || msg.callId !== v.callId) {
          // The server took us out: we left the room (here or in another tab).
          this.#end({});
          this.close();
          return;
        }
        this.#reconcile(msg.participants);
        return;
      }
      case 'error':
        if (msg.ref === this.#ref && v.state === 'joining') {
          this.#end({ error: { kind: 'server', code: msg.code } });
        }
        return;
      case 'signal':
        if (msg.callId === v.callId) this.#peers.get(msg.from)?.receive(msg.data);
        return;
      case 'callMedia':
        if (msg.callId === v.callId) this.#patchPeer(msg.from, { audio: msg.audio, video: msg.video });
        return;
      case 'roomLeft':
        if (msg.room === this.room) {
          this.#end({});
          this.close();
        }
        return;
      default:
        return;
    }
  }

  /** Connects to newcomers, drops those who left, and refreshes the tiles. */
  #reconcile(participants: readonly RoomCallParticipant[]): void {
    const self = this.#sig.user.value;
    if (!self) return;
    const selfAt = participants.findIndex((p) => p.id === self.id);
    const others = participants.filter((p) => p.id !== self.id);
    for (const [id, session] of this.#peers) {
      if (!others.some((p) => p.id === id)) {
        session.close();
        this.#peers.delete(id);
      }
    }
    const old = new Map(this.#v.peers.map((p) => [p.id, p]));
    participants.forEach((p, i) => {
      // The one who joined later offers; the one already there waits for it.
      if (p.id !== self.id && !this.#peers.has(p.id)) this.#connect(p, self.id, i < selfAt);
    });
    this.#set({
      peers: others.map((p) => ({
        id: p.id,
        name: p.name,
        media: p.media,
        audio: p.audio,
        video: p.video,
        stream: old.get(p.id)?.stream ?? null,
        link: old.get(p.id)?.link ?? null,
      })),
    });
  }

  #connect(peer: RoomCallParticipant, selfId: string, offer: boolean): void {
    const callId = this.#v.callId;
    const local = this.#v.local;
    const session: PeerSession = new PeerSession({
      polite: selfId < peer.id,
      iceServers: this.#opts.iceServers(),
      dataChannel: false,
      answerFirst: !offer,
      send: (data) => {
        if (callId !== null && this.#peers.get(peer.id) === session) {
          this.#sig.send({ type: 'signal', callId, to: peer.id, data });
        }
      },
      onTrack: (stream) => {
        if (this.#peers.get(peer.id) === session) this.#patchPeer(peer.id, { stream });
      },
      onConnectionState: (state) => {
        if (this.#peers.get(peer.id) !== session) return;
        this.#patchPeer(peer.id, { link: state });
        if (state === 'connected') void capVideo(session.pc);
      },
      onNote: () => undefined,
      onChannelClosed: () => undefined,
      onError: (error: unknown) => {
        if (this.#peers.get(peer.id) !== session) return;
        const detail = error instanceof Error ? error.message : String(error);
        this.#set({ error: { kind: 'setup', detail } });
      },
    });
    this.#peers.set(peer.id, session);
    if (!offer) {
      session.addStreamWithAnswer(local, ANSWER_FALLBACK_MS);
      return;
    }
    if (local) session.addStream(local);
    // Always offer both kinds, so a peer with a camera can send it to one without: no second
    // round of negotiation, and a participant with no devices at all still receives.
    for (const kind of ['audio', 'video'] as const) {
      if (!session.pc.getTransceivers().some((t) => t.receiver.track.kind === kind)) {
        session.pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
  }

  #patchPeer(id: string, patch: Partial<PeerTile>): void {
    const peers = this.#v.peers;
    if (!peers.some((p) => p.id === id)) return;
    this.#set({ peers: peers.map((p) => (p.id === id ? { ...p, ...patch } : p)) });
  }

  #announceMedia(): void {
    const v = this.#v;
    if (v.state !== 'active' || v.callId === null) return;
    this.#sig.send({ type: 'callMedia', callId: v.callId, ...mediaState(v) });
  }

  #end(outcome: { error?: CallError; lost?: boolean }): void {
    if (this.#v.state === 'left') return;
    for (const session of this.#peers.values()) session.close();
    this.#peers.clear();
    stopStream(this.#v.local);
    this.#setState('left', {
      local: null,
      peers: [],
      error: outcome.error ?? this.#v.error,
      lost: outcome.lost ?? false,
    });
  }
}

/** Caps the video we send to one peer: a mesh sends a copy to each of them. */
async function capVideo(pc: RTCPeerConnection): Promise<void> {
  for (const sender of pc.getSenders()) {
    if (sender.track?.kind !== 'video') continue;
    const params = sender.getParameters();
    const first = params.encodings[0];
    if (!first || first.maxBitrate === VIDEO_BITRATE_PER_PEER) continue;
    first.maxBitrate = VIDEO_BITRATE_PER_PEER;
    try {
      await sender.setParameters(params);
    } catch {
      // Not every browser allows it at every moment; the call works uncapped.
    }
  }
}

function stopStream(stream: MediaStream | null): void {
  for (const t of stream?.getTracks() ?? []) t.stop();
}
