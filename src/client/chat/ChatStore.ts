import { computed, signal } from '@preact/signals';
import {
  type ChatMessage,
  type ErrorCode,
  HISTORY_MAX,
  LOBBY,
  type Member,
  type ServerMessage,
} from '../../protocol/protocol.js';
import type { SignalingClient } from '../signaling/SignalingClient.js';

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
  #visible = true;

  constructor(signaling: SignalingClient) {
    this.#sig = signaling;
    signaling.events.on('welcome', (w) => {
      if (!w.resumed) {
        // A new session (the server restarted or forgot us): member lists and ids start over.
        this.members.value = {};
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
      },
    ]);
    this.#transmit(conv, clientId, text);
  }

  retry(convKey: string, clientId: string): void {
    const conv = this.conversations.value[convKey];
    const item = conv?.items.find((i) => i.key === clientId);
    if (!conv || item?.status !== 'failed') return;
    this.#setItem(convKey, clientId, { status: 'pending', error: null });
    this.#transmit(conv, clientId, item.text);
  }

  #transmit(conv: Conversation, clientId: string, text: string): void {
    this.#sig.enqueue(
      clientId,
      conv.kind === 'room'
        ? { type: 'chat', clientId, room: conv.target, text, ref: clientId }
        : { type: 'dm', clientId, to: conv.target, text, ref: clientId },
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
        this.#ensure(roomKey(msg.room), 'room', msg.room, `#${msg.room}`);
        if (this.active.value === roomKey(msg.room)) this.#loadActive();
        return;
      case 'roomLeft': {
        const { [msg.room]: _gone, ...rest } = this.members.value;
        this.members.value = rest;
        return;
      }
      case 'memberJoined':
      case 'memberChanged': {
        const list = this.members.value[msg.room] ?? [];
        const next = list.some((m) => m.id === msg.member.id)
          ? list.map((m) => (m.id === msg.member.id ? msg.member : m))
          : [...list, msg.member];
        this.members.value = { ...this.members.value, [msg.room]: next };
        return;
      }
      case 'memberLeft': {
        const list = this.members.value[msg.room] ?? [];
        this.members.value = {
          ...this.members.value,
          [msg.room]: list.filter((m) => m.id !== msg.userId),
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
