import { signal } from '@preact/signals';
import type { CallMedia, IceServer, RoomCallParticipant, ServerMessage } from '../../protocol/protocol.js';
import type { SignalingClient } from '../signaling/SignalingClient.js';
import type { DeviceChoice } from './DeviceChoice.js';
import type { GroupCall } from './GroupCall.js';

/** A room's call as the server last described it. */
export interface RoomCallInfo {
  callId: string;
  /** In join order. */
  participants: readonly RoomCallParticipant[];
}

/**
 * Which rooms have a call and who is in it (for the room header and the member list), and the
 * group call this page is in. Part of the first load, so it stays small: the call itself
 * (GroupCall.ts, peer connections, the grid) is fetched the first time the user joins one.
 */
export class RoomCallDirectory {
  /** Room name → its call; rooms without a call have no entry. */
  readonly calls = signal<Readonly<Record<string, RoomCallInfo>>>({});
  /** The group call this page is in or joining, or one that failed and still shows why. */
  readonly active = signal<GroupCall | null>(null);
  /** The call code could not be fetched (a deploy replaced it, or the network went away). */
  readonly loadFailed = signal(false);
  readonly #sig: SignalingClient;
  readonly #devices: DeviceChoice;
  #iceServers: IceServer[] = [];

  constructor(signaling: SignalingClient, devices: DeviceChoice) {
    this.#sig = signaling;
    this.#devices = devices;
    signaling.events.on('welcome', (w) => {
      this.#iceServers = w.iceServers;
      // A new session starts in no room; a resumed one hears every room's call again.
      if (!w.resumed) this.calls.value = {};
    });
    signaling.events.on('message', (msg) => {
      this.#handle(msg);
    });
  }

  /** Whether the user is in the call of `room`, by the server's word. */
  isParticipant(room: string, userId: string): boolean {
    return this.calls.value[room]?.participants.some((p) => p.id === userId) ?? false;
  }

  /** Whether this page is in (or joining) a group call. */
  get busy(): boolean {
    return this.active.value?.view.value.state === 'joining' || this.active.value?.view.value.state === 'active';
  }

  /** Joins (or starts) the call of `room`, fetching the call code first if needed. */
  async join(room: string, media: CallMedia): Promise<void> {
    if (this.busy) return;
    this.loadFailed.value = false;
    let mod: typeof import('./GroupCall.js');
    try {
      mod = await import('./GroupCall.js');
    } catch (error) {
      console.warn('group call code unavailable', error);
      this.loadFailed.value = true;
      return;
    }
    if (this.busy) return;
    this.active.value?.close();
    const call = new mod.GroupCall({
      room,
      media,
      signaling: this.#sig,
      devices: this.#devices,
      iceServers: () => this.#iceServers,
      onClosed: () => {
        if (this.active.value === call) this.active.value = null;
      },
    });
    this.active.value = call;
    await call.start();
  }

  /** The page is going away: leave the call now rather than when the session times out. */
  pageHidden(): void {
    this.active.value?.leave();
  }

  #handle(msg: ServerMessage): void {
    switch (msg.type) {
      case 'iceServers':
        this.#iceServers = msg.iceServers;
        return;
      case 'roomCall': {
        const { [msg.room]: _old, ...rest } = this.calls.value;
        this.calls.value =
          msg.participants.length > 0
            ? { ...rest, [msg.room]: { callId: msg.callId, participants: msg.participants } }
            : rest;
        const self = this.#sig.user.value;
        const mine = this.active.value?.room === msg.room && this.busy;
        if (self && !mine && msg.participants.some((p) => p.id === self.id)) {
          // A call of a previous page load (the session was resumed): its media is gone.
          this.#sig.send({ type: 'roomCallLeave', room: msg.room });
        }
        return;
      }
      case 'roomLeft': {
        const { [msg.room]: _gone, ...rest } = this.calls.value;
        this.calls.value = rest;
        return;
      }
      default:
        return;
    }
  }
}
