import { computed, signal } from '@preact/signals';
import {
  type ChatMessage,
  type ErrorCode,
  HISTORY_MAX,
  type ImageRef,
  LOBBY,
  type Member,
  memberSortKey,
  type ServerMessage,
} from '../../protocol/protocol.js';
import type { SignalingClient } from '../signaling/SignalingClient.js';
import { uploadImage } from './imageUpload.js';

export type MessageStatus = 'pending' | 'sent' | 'failed';

/** One line of a conversation. `key` is the clientId, which is the same on every copy. */
export interface ChatItem {
  key: string;
  /** Server id; null until acknowledged. */
  id: number | null;
  ts: number;
  from: { id: string; name: string };
  text: string;
  mine: boolean;
  status: MessageStatus;
  /** Why the server refused it; the UI words it in the user's language. */
  error: ErrorCode | null;
  /** A shared photo, served at /api/images/<id>; null for text. */
  image: ImageRef | null;
  /** My photo on its way: a blob: URL of the local copy, shown until (and after) it is sent. */
  localSrc: string | null;
}

/** A room (`r:<room>`) or a direct conversation (`d:<userId>`). */
export interface Conversation {
  key: string;
  kind: 'room' | 'dm';
  /** Room name, or the other user's id. */
  target: string;
  title: string;
  items: ChatItem[];
  hasMore: boolean;
  loading: boolean;
  loaded: boolean;
  unread: number;
}

export const roomKey = (room: string): string => `r:${room}`;
export const dmKey = (userId: string): string => `d:${userId}`;

const PAGE = 50;
/** Members asked for per page when a large room's list is scrolled. */
const MEMBER_PAGE = 100;

export interface RoomInfo {
  count: number;
  /** The server has members after the last one in the list. */
  hasMore: boolean;
  /** A page of members is on its way. */
  loading: boolean;
}

const byName = (a: Member, b: Member): number => {
  const x = memberSortKey(a.name);
  const y = memberSortKey(b.name);
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * Applies a change to a member list. A complete list keeps join order (new members at the end);
 * a partial one stays sorted by name, as the server pages it.
 */
function upsertMembers(list: readonly Member[], members: readonly Member[], partial: boolean): Member[] {
  if (members.length === 0) return list as Member[];
  const incoming = new Map(members.map((m) => [m.id, m]));
  const next = list.map((m) => {
    const update = incoming.get(m.id);
    if (update === undefined) return m;
    incoming.delete(m.id);
    return update;
  });
  next.push(...incoming.values());
  return partial && incoming.size > 0 ? next.sort(byName) : next;
}

/** Random message ids; getRandomValues works on plain http too (randomUUID does not). */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Rooms, members and messages. Messages are kept per conversation, oldest first, and merged by
 * clientId so that a message seen twice (ack and replay, history and live) shows once.
 */
export class ChatStore {
  readonly conversations = signal<Readonly<Record<string, Conversation>>>({});
  /** Members of each joined room. */
  readonly members = signal<Readonly<Record<string, readonly Member[]>>>({});
  /**
   * Each joined room's member count and whether `members` holds only part of the list (a large
   * room: the first pages by name, exact up to its last entry; more with loadMoreMembers).
   */
  readonly roomInfo = signal<Readonly<Record<string, RoomInfo>>>({});
  readonly active = signal<string>(roomKey(LOBBY));
  /** A problem to show above the composer (e.g. a refused join). */
  /** A room the server would not let us join, and why. */
  readonly notice = signal<{ room: string; code: ErrorCode } | null>(null);
  readonly joinedRooms = computed(() => Object.keys(this.members.value).sort());
  /** Everyone in any of my rooms, by id. */
  readonly people = computed(() => {
    const map = new Map<string, Member>();
    for (const list of Object.values(this.members.value)) for (const m of list) map.set(m.id, m);
    return map;
  });

  readonly #sig: SignalingClient;
  /** Rooms the user wants to be in; re-joined after a fresh sign-in. */
  readonly #wanted = new Set<string>([LOBBY]);
  readonly #sent = new Set<string>();
  /** Photos not yet uploaded, by clientId, kept for a retry. */
  readonly #photos = new Map<string, Blob>();
  #visible = true;

  constructor(signaling: SignalingClient) {
    this.#sig = signaling;
    signaling.events.on('welcome', (w) => {
      if (!w.resumed) {
        // A new session (the server restarted or forgot us): member lists and ids start over.
        this.members.value = {};
        this.roomInfo.value = {};
        for (const room of this.#wanted) {
          if (room !== LOBBY) this.#sig.send({ type: 'join', room, ref: `join:${room}` });
        }
      }
      // Whatever happened while away, fill the gap in the open conversation from history.
      for (const c of Object.values(this.conversations.value)) {
        this.#patch(c.key, { loaded: false, loading: false });
      }
      this.#loadActive();
    });
    signaling.events.on('message', (msg) => {
      this.#handle(msg);
    });
  }

  get selfId(): string | null {
    return this.#sig.user.value?.id ?? null;
  }

  setVisible(visible: boolean): void {
    this.#visible = visible;
    if (visible) this.#patch(this.active.value, { unread: 0 });
  }

  /** Opens a room (joining it if needed) or a direct conversation. */
  open(key: string): void {
    this.notice.value = null;
    if (key.startsWith('r:')) {
      const room = key.slice(2);
      this.#ensure(key, 'room', room, `#${room}`);
      if (!this.members.value[room]) this.join(room);
    } else {
      const peer = key.slice(2);
      this.#ensure(key, 'dm', peer, this.people.value.get(peer)?.name ?? '…');
    }
    this.active.value = key;
    this.#patch(key, { unread: 0 });
    this.#loadActive();
  }

  join(room: string): void {
    this.#wanted.add(room);
    this.#ensure(roomKey(room), 'room', room, `#${room}`);
    this.#sig.send({ type: 'join', room, ref: `join:${room}` });
  }

  leave(room: string): void {
    if (room === LOBBY) return;
    this.#wanted.delete(room);
    this.#sig.send({ type: 'leave', room, ref: `leave:${room}` });
    if (this.active.value === roomKey(room)) this.open(roomKey(LOBBY));
  }

  /** Asks for the next page of a large room's member list (when its list is scrolled). */
  loadMoreMembers(room: string): void {
    const info = this.roomInfo.value[room];
    const list = this.members.value[room];
    if (!info || !list || !info.hasMore || info.loading) return;
    const last = list[list.length - 1];
    const sent = this.#sig.send({
      type: 'members',
      room,
      ...(last ? { after: last.name } : {}),
      limit: MEMBER_PAGE,
      ref: `members:${room}`,
    });
    if (sent) this.roomInfo.value = { ...this.roomInfo.value, [room]: { ...info, loading: true } };
  }

  /** Sends a message to the active conversation; it shows at once as pending. */
  send(text: string): void {
    const conv = this.conversations.value[this.active.value];
    const me = this.#sig.user.value;
    if (!conv || !me || text.trim() === '') return;
    const clientId = newClientId();
    this.#sent.add(clientId);
    this.#merge(conv.key, [
      {
        key: clientId,
        id: null,
        ts: Date.now(),
        from: me,
        text,
        mine: true,
        status: 'pending',
        error: null,
        image: null,
        localSrc: null,
      },
    ]);
    this.#transmit(conv, clientId, text);
  }

  /**
   * Shares a photo in the active conversation: it shows at once (from the local copy) as pending,
   * is uploaded, then sent as a message that references it.
   */
  sendPhoto(blob: Blob): void {
    const conv = this.conversations.value[this.active.value];
    const me = this.#sig.user.value;
    if (!conv || !me) return;
    const clientId = newClientId();
    this.#sent.add(clientId);
    this.#photos.set(clientId, blob);
    this.#merge(conv.key, [
      {
        key: clientId,
        id: null,
        ts: Date.now(),
        from: me,
        text: '',
        mine: true,
        status: 'pending',
        error: null,
        image: null,
        localSrc: URL.createObjectURL(blob),
      },
    ]);
    void this.#uploadThenTransmit(conv, clientId);
  }

  async #uploadThenTransmit(conv: Conversation, clientId: string): Promise<void> {
    const blob = this.#photos.get(clientId);
    if (!blob) return;
    const result = await uploadImage(blob, this.#sig.token);
    if (!result.ok) {
      this.#setItem(conv.key, clientId, { status: 'failed', error: result.code });
      return;
    }
    this.#photos.delete(clientId);
    // The size the server measured: the message carries it, so history can lay the photo out early.
    const image: ImageRef = { id: result.image.id, width: result.image.width, height: result.image.height };
    this.#setItem(conv.key, clientId, { image });
    this.#transmit(conv, clientId, '', image);
  }

  retry(convKey: string, clientId: string): void {
    const conv = this.conversations.value[convKey];
    const item = conv?.items.find((i) => i.key === clientId);
    if (!conv || item?.status !== 'failed') return;
    this.#setItem(convKey, clientId, { status: 'pending', error: null });
    // A photo that never reached the server is uploaded again first.
    if (this.#photos.has(clientId)) {
      void this.#uploadThenTransmit(conv, clientId);
      return;
    }
    this.#transmit(conv, clientId, item.text, item.image ?? undefined);
  }

  #transmit(conv: Conversation, clientId: string, text: string, image?: ImageRef): void {
    const extra = image ? { image } : {};
    this.#sig.enqueue(
      clientId,
      conv.kind === 'room'
        ? { type: 'chat', clientId, room: conv.target, text, ...extra, ref: clientId }
        : { type: 'dm', clientId, to: conv.target, text, ...extra, ref: clientId },
    );
  }

  /** Asks for the page before the oldest message shown. */
  loadOlder(key: string): void {
    const conv = this.conversations.value[key];
    if (!conv || conv.loading || !conv.hasMore) return;
    const oldest = conv.items.find((i) => i.id !== null)?.id;
    this.#requestHistory(conv, oldest ?? undefined);
  }

  #loadActive(): void {
    const conv = this.conversations.value[this.active.value];
    if (!conv || conv.loaded || conv.loading) return;
    if (conv.kind === 'room' && !this.members.value[conv.target]) return; // after roomJoined
    this.#requestHistory(conv, undefined);
  }

  #requestHistory(conv: Conversation, before: number | undefined): void {
    const sent = this.#sig.send({
      type: 'history',
      ...(conv.kind === 'room' ? { room: conv.target } : { peer: conv.target }),
      ...(before !== undefined ? { before } : {}),
      limit: Math.min(PAGE, HISTORY_MAX),
      ref: `history:${conv.key}`,
    });
    if (sent) this.#patch(conv.key, { loading: true });
  }

  #handle(msg: ServerMessage): void {
    switch (msg.type) {
      case 'roomJoined':
        this.#wanted.add(msg.room);
        this.members.value = { ...this.members.value, [msg.room]: msg.members };
        this.roomInfo.value = {
          ...this.roomInfo.value,
          [msg.room]: { count: msg.count, hasMore: msg.hasMore, loading: false },
        };
        this.#ensure(roomKey(msg.room), 'room', msg.room, `#${msg.room}`);
        if (this.active.value === roomKey(msg.room)) this.#loadActive();
        return;
      case 'roomLeft': {
        const { [msg.room]: _gone, ...rest } = this.members.value;
        this.members.value = rest;
        const { [msg.room]: _info, ...infoRest } = this.roomInfo.value;
        this.roomInfo.value = infoRest;
        return;
      }
      case 'members': {
        const list = this.members.value[msg.room];
        const info = this.roomInfo.value[msg.room];
        if (!list || !info) return;
        const left = new Set(msg.left);
        const kept = left.size > 0 ? list.filter((m) => !left.has(m.id)) : list;
        const next = upsertMembers(kept, [...msg.joined, ...msg.changed], info.hasMore);
        this.members.value = { ...this.members.value, [msg.room]: next };
        if (info.count !== msg.count) {
          this.roomInfo.value = { ...this.roomInfo.value, [msg.room]: { ...info, count: msg.count } };
        }
        return;
      }
      case 'memberPage': {
        const list = this.members.value[msg.room];
        if (!list) return;
        this.members.value = { ...this.members.value, [msg.room]: upsertMembers(list, msg.members, true) };
        this.roomInfo.value = {
          ...this.roomInfo.value,
          [msg.room]: { count: msg.count, hasMore: msg.hasMore, loading: false },
        };
        return;
      }
      case 'ack':
        this.#acked(msg.clientId, msg.id, msg.ts);
        return;
      case 'message':
        this.#incoming(msg.message);
        return;
      case 'history': {
        const key = msg.room !== null ? roomKey(msg.room) : dmKey(msg.peer ?? '');
        const conv = this.conversations.value[key];
        if (!conv) return;
        for (const m of msg.messages) this.#sig.noteMessageId(m.id);
        const oldestBefore = conv.items.find((i) => i.id !== null)?.id ?? Infinity;
        const oldestNew = msg.messages[0]?.id ?? Infinity;
        this.#merge(key, msg.messages.map((m) => this.#toItem(m)), false);
        this.#patch(key, {
          loading: false,
          loaded: true,
          // A page that reaches further back than what we had decides whether there is more.
          hasMore: oldestNew <= oldestBefore ? msg.hasMore : conv.hasMore,
        });
        return;
      }
      case 'error':
        this.#error(msg);
        return;
      default:
        return;
    }
  }

  #error(msg: Extract<ServerMessage, { type: 'error' }>): void {
    const ref = msg.ref ?? '';
    if (this.#sent.has(ref)) {
      this.#sig.settle(ref);
      for (const conv of Object.values(this.conversations.value)) {
        if (conv.items.some((i) => i.key === ref)) {
          this.#setItem(conv.key, ref, { status: 'failed', error: msg.code });
        }
      }
      return;
    }
    if (ref.startsWith('members:')) {
      const room = ref.slice(8);
      const info = this.roomInfo.value[room];
      if (info) this.roomInfo.value = { ...this.roomInfo.value, [room]: { ...info, loading: false } };
      return;
    }
    if (ref.startsWith('history:')) {
      this.#patch(ref.slice(8), { loading: false });
      return;
    }
    if (ref.startsWith('join:')) {
      const room = ref.slice(5);
      this.#wanted.delete(room);
      this.notice.value = { room, code: msg.code };
    }
  }

  #acked(clientId: string, id: number, ts: number): void {
    for (const conv of Object.values(this.conversations.value)) {
      if (conv.items.some((i) => i.key === clientId)) {
        this.#setItem(conv.key, clientId, { id, ts, status: 'sent', error: null });
        this.#merge(conv.key, [], false); // re-sort now that it has an id
      }
    }
  }

  #incoming(m: ChatMessage): void {
    const me = this.selfId;
    let key: string;
    if ('room' in m) {
      key = roomKey(m.room);
      this.#ensure(key, 'room', m.room, `#${m.room}`);
    } else {
      const peer = m.from.id === me ? m.to : m.from.id;
      key = dmKey(peer);
      this.#ensure(key, 'dm', peer, m.from.id === me ? (this.people.value.get(peer)?.name ?? 'direct') : m.from.name);
    }
    const before = this.conversations.value[key]?.items.length ?? 0;
    this.#merge(key, [this.#toItem(m)]);
    const conv = this.conversations.value[key]!;
    const isNew = conv.items.length > before;
    if (isNew && (key !== this.active.value || !this.#visible)) {
      this.#patch(key, { unread: conv.unread + 1 });
    }
  }

  #toItem(m: ChatMessage): ChatItem {
    const mine = this.#sent.has(m.clientId) || m.from.id === this.selfId;
    return {
      key: m.clientId,
      id: m.id,
      ts: m.ts,
      from: m.from,
      text: m.text,
      mine,
      status: 'sent',
      error: null,
      image: m.image ?? null,
      localSrc: null,
    };
  }

  #ensure(key: string, kind: Conversation['kind'], target: string, title: string): void {
    if (this.conversations.value[key]) return;
    this.conversations.value = {
      ...this.conversations.value,
      [key]: {
        key,
        kind,
        target,
        title,
        items: [],
        hasMore: false,
        loading: false,
        loaded: false,
        unread: 0,
      },
    };
  }

  #patch(key: string, patch: Partial<Conversation>): void {
    const conv = this.conversations.value[key];
    if (!conv) return;
    this.conversations.value = { ...this.conversations.value, [key]: { ...conv, ...patch } };
  }

  #setItem(key: string, clientId: string, patch: Partial<ChatItem>): void {
    const conv = this.conversations.value[key];
    if (!conv) return;
    this.#patch(key, { items: conv.items.map((i) => (i.key === clientId ? { ...i, ...patch } : i)) });
  }

  /**
   * Adds items, keeping one copy per clientId (a copy we already have wins, except that a
   * server id fills in a missing one), sorted by server id with pending items last.
   */
  #merge(key: string, incoming: ChatItem[], _live = true): void {
    const conv = this.conversations.value[key];
    if (!conv) return;
    const byKey = new Map(conv.items.map((i) => [i.key, i]));
    for (const item of incoming) {
      const have = byKey.get(item.key);
      if (!have) byKey.set(item.key, item);
      else if (have.id === null && item.id !== null) {
        byKey.set(item.key, { ...have, id: item.id, ts: item.ts, status: 'sent', error: null });
      }
    }
    const items = [...byKey.values()].sort((a, b) => {
      if (a.id !== null && b.id !== null) return a.id - b.id;
      if (a.id === null && b.id === null) return a.ts - b.ts;
      return a.id === null ? 1 : -1;
    });
    this.#patch(key, { items });
  }
}
