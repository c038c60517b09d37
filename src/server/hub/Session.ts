import type { MemberKind, Presence, ServerMessage } from '../../protocol/protocol.js';
import type { Call } from './Call.js';

/**
 * One server message on its way out, serialized at most once however many sessions receive it
 * (a room fan-out to a thousand members costs one JSON.stringify).
 */
export class Outbound {
  #json: string | undefined;
  /**
   * `parts`, when given, must spell `JSON.stringify(msg)` up to key order: a large body shared by
   * many messages between a head and a tail of their own (a large room's first page in every
   * joiner's roomJoined). The transport then sends the shared bytes without copying them.
   */
  constructor(
    readonly msg: ServerMessage,
    readonly parts?: SharedBody,
  ) {}
  get json(): string {
    this.#json ??= this.parts
      ? this.parts.head + this.parts.body + this.parts.tail
      : JSON.stringify(this.msg);
    return this.#json;
  }
}

/** JSON text built around a body that many messages share, also kept as UTF-8 bytes. */
export interface SharedBody {
  head: string;
  body: string;
  bodyBytes: Buffer;
  tail: string;
}

/** Where a session's messages go: one per connection, supplied by the transport. */
export interface SessionSink {
  deliver(out: Outbound): void;
  /** Closes the connection, e.g. when the session is resumed elsewhere. */
  close(code: number, reason: string): void;
}

/**
 * The rooms a session is in: a Set's interface on a small array. Most users are in one or two
 * rooms, and with 10k connections a Set apiece (about 170 bytes empty) is memory for nothing;
 * an array of one costs a few dozen bytes. Lookups scan, which is fast for a hundred rooms (the
 * most a session may join).
 */
export class RoomSet implements Iterable<string> {
  #list: string[] = EMPTY;

  get size(): number {
    return this.#list.length;
  }

  has(room: string): boolean {
    return this.#list.includes(room);
  }

  add(room: string): this {
    if (this.#list === EMPTY) this.#list = [room];
    else if (!this.#list.includes(room)) this.#list.push(room);
    return this;
  }

  delete(room: string): boolean {
    const at = this.#list.indexOf(room);
    if (at < 0) return false;
    if (this.#list.length === 1) this.#list = EMPTY;
    else this.#list.splice(at, 1);
    return true;
  }

  [Symbol.iterator](): Iterator<string> {
    return this.#list[Symbol.iterator]();
  }
}

const EMPTY: string[] = [];

/**
 * live: a connection is attached. detached: the connection dropped and the grace period runs;
 * nobody sees the user leave. ended: gone for good, the name is free again.
 */
export type SessionState = 'live' | 'detached' | 'ended';

/** Frames kept for a detached session and sent when it resumes (call signaling only). */
const DETACHED_BUFFER_MAX = 256;

export class Session {
  state: SessionState = 'live';
  sink: SessionSink | null;
  /**
   * The instance whose connection this user is on, when it is not this one (src/server/bus):
   * such a session is a replica, and only frames meant for this user alone reach its sink.
   */
  origin: string | null = null;
  readonly rooms = new RoomSet();
  status: 'online' | 'away' = 'online';
  call: Call | null = null;
  /** The room whose call (RoomCalls.ts) the session is in, or null. Set only by RoomCalls. */
  roomCall: string | null = null;
  /** The newest chat message id delivered to this session, the default resume point. */
  lastDeliveredId = 0;
  /** While a resume replays history, live chat is held here so nothing arrives out of order. */
  replayHold: Outbound[] | null = null;
  graceTimer: NodeJS.Timeout | null = null;
  /** When the session's next ICE refresh is due (the hub's DueQueue), or null. */
  iceDue: number | null = null;
  /** Allocated on first use: most sessions never drop in the middle of a call. */
  #detachedBuffer: Outbound[] | null = null;

  constructor(
    readonly id: string,
    public name: string,
    readonly kind: MemberKind,
    /** The random part of the session's token (see `token`). */
    readonly secret: string,
    sink: SessionSink,
  ) {
    this.sink = sink;
  }

  /**
   * What the client resumes with: the user id, a dot and the secret. Built when asked for (a
   * welcome, another instance's news) rather than kept, since it repeats the id.
   */
  get token(): string {
    return `${this.id}.${this.secret}`;
  }

  /** Legacy clients have no ring or decline: a call to them is accepted at once. */
  get autoAccept(): boolean {
    return this.kind !== 'parley';
  }

  get presence(): Presence {
    return this.call?.state === 'active' || this.roomCall !== null ? 'inCall' : this.status;
  }

  send(out: Outbound): void {
    if (this.state === 'live' && this.sink) {
      if (out.msg.type === 'message') {
        if (this.replayHold) {
          this.replayHold.push(out);
          return;
        }
        this.lastDeliveredId = Math.max(this.lastDeliveredId, out.msg.message.id);
      }
      this.sink.deliver(out);
      return;
    }
    // Detached: chat is replayed from the store and rooms/calls are re-sent on resume, but call
    // signaling exists nowhere else, so keep the latest of it for the few seconds of a reconnect.
    if (this.state === 'detached' && (out.msg.type === 'signal' || out.msg.type === 'callMedia')) {
      this.#detachedBuffer ??= [];
      this.#detachedBuffer.push(out);
      if (this.#detachedBuffer.length > DETACHED_BUFFER_MAX) this.#detachedBuffer.shift();
    }
  }

  /** Takes the signaling buffered while detached. */
  drainDetachedBuffer(): Outbound[] {
    const buffered = this.#detachedBuffer ?? [];
    this.#detachedBuffer = null;
    return buffered;
  }
}
