import { signal } from '@preact/signals';
import { LOBBY, normalizeRoom } from '../protocol/protocol.js';
import { CallController } from './call/CallController.js';
import { DeviceChoice } from './call/DeviceChoice.js';
import { Ringtone } from './call/Ringtone.js';
import { RoomCallDirectory } from './call/RoomCallDirectory.js';
import { ChatStore, roomKey } from './chat/ChatStore.js';
import { I18n } from './i18n/I18n.js';
import { BackoffPolicy } from './signaling/ReconnectPolicy.js';
import { type SignInProblem, SignalingClient } from './signaling/SignalingClient.js';

const NAME_KEY = 'parley.name';

/**
 * The app's services, created once by main.tsx and handed to the views. Nothing global: a test
 * (or a second instance) can build its own.
 */
export class Parley {
  readonly signaling: SignalingClient;
  readonly chat: ChatStore;
  readonly calls: CallController;
  /** Group calls in rooms: who is in which, and the one this page is in. */
  readonly roomCalls: RoomCallDirectory;
  readonly devices: DeviceChoice;
  readonly signInProblem = signal<SignInProblem | null>(null);
  readonly online = signal(true);
  readonly rememberedName: string;
  readonly i18n: I18n;

  constructor(options: {
    wsUrl: string;
    storage: Storage;
    session: Storage;
    /** The browser's preferred languages (navigator.languages). */
    languages?: readonly string[];
    /** navigator.mediaDevices; absent on plain http (not a secure context). */
    mediaDevices?: MediaDevices | null;
  }) {
    this.i18n = new I18n({ storage: options.storage, preferred: options.languages ?? [] });
    this.signaling = new SignalingClient({
      url: options.wsUrl,
      policy: new BackoffPolicy(),
      storage: options.session,
    });
    this.chat = new ChatStore(this.signaling);
    this.devices = new DeviceChoice({
      storage: options.storage,
      media: options.mediaDevices ?? null,
    });
    this.calls = new CallController(this.signaling, new Ringtone(), this.devices);
    this.roomCalls = new RoomCallDirectory(this.signaling, this.devices);
    this.rememberedName = options.storage.getItem(NAME_KEY) ?? '';
    this.signaling.events.on('signInFailed', (problem) => {
      this.signInProblem.value = problem;
    });
    this.signaling.events.on('welcome', (w) => {
      this.signInProblem.value = null;
      options.storage.setItem(NAME_KEY, w.user.name);
    });
  }

  signIn(name: string): void {
    this.signInProblem.value = null;
    this.signaling.signIn(name);
  }

  /** Opens the room named in the address (/r/<room>), or the lobby. */
  openFromLocation(pathname: string): void {
    const match = /^\/r\/([^/]+)\/?$/.exec(pathname);
    const room = match ? normalizeRoom(decodeURIComponent(match[1]!)) : null;
    this.chat.open(roomKey(room ?? LOBBY));
  }

  /** Opens a room and gives it its own address. */
  openRoom(room: string): void {
    this.chat.open(roomKey(room));
    const path = `/r/${encodeURIComponent(room)}`;
    if (location.pathname !== path) history.pushState({ room }, '', path);
  }
}
