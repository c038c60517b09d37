import { randomBytes } from 'node:crypto';
import {
  type CallEndReason,
  type CallMedia,
  type CallSummary,
  type ChatMessage,
  type ClientMessage,
  ErrorCode,
  HISTORY_MAX,
  type IceServer,
  type ImageRef,
  LOBBY,
  type Member,
  type MemberKind,
  NAME_MAX,
  PROTOCOL_VERSION,
  type ServerMessage,
  type SignalData,
  TEXT_MAX,
} from '../../protocol/protocol.js';
import { UserError } from '../errors.js';
import type { MessageStore, StoredMessage } from '../store/MessageStore.js';
import { Call } from './Call.js';
import { type HubMetrics, noMetrics } from './HubMetrics.js';
import { DueQueue } from './DueQueue.js';
import { Presence, type PresenceOptions } from './Presence.js';
import { Outbound, Session, type SessionSink } from './Session.js';

export interface IceGrant {
  iceServers: IceServer[];
  /** ms since epoch when the credentials expire; null when nothing expires. */
  expiresAt: number | null;
}

export interface HubLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface HubOptions {
  store: MessageStore;
  /** How long a dropped session waits for its user to resume before it ends. */
  graceMs: number;
  /** How long a call rings before it ends with `timeout`. */
  callTimeoutMs: number;
  /** Mints the ICE servers (with TURN credentials) for one user. */
  ice: (userId: string) => IceGrant;
  /**
   * The size of an uploaded image, or null when there is none with that id. A message may only
   * reference an image that exists, and carries the size the server measured, not the client's.
   * Without it (tests), image references are taken as sent.
   */
  imageSize?: (id: string) => Promise<{ width: number; height: number } | null>;
  maxFrameBytes: number;
  maxRoomsPerSession?: number;
  logger: HubLogger;
  /** Where counts and timings for /metrics go; nowhere by default. */
  metrics?: HubMetrics;
  /** Large-room threshold and delta windows (Presence.ts); defaults in presenceDefaults. */
  presence?: Partial<PresenceOptions>;
  now?: () => number;
}

type HubEvents = {
  /** A room's member list changed (join, leave, presence, rename). */
  roomChanged: [room: string];
  sessionEnded: [session: Session];
};

/** Replay on resume reads the store in pages of this size. */
const REPLAY_PAGE = 500;

function mintId(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

export function toChatMessage(m: StoredMessage): ChatMessage {
  const base = {
    id: m.id,
    ts: m.ts,
    from: { id: m.senderId, name: m.senderName },
    text: m.text,
    clientId: m.clientId,
    ...(m.image ? { image: m.image } : {}),
  };
  return m.room !== null ? { ...base, room: m.room } : { ...base, to: m.to ?? '' };
}

/**
 * The hub: sessions, names, rooms, presence, chat and call routing. Pure logic: it knows nothing
 * of sockets or SQL. Transports call its methods with already-validated input and the session
 * that the connection owns (so the sender's identity never comes from a frame); it answers by
 * delivering ServerMessages to session sinks, and throws UserError for requests it refuses.
 */
export class Hub {
  readonly #opts: Required<Omit<HubOptions, 'now' | 'presence' | 'imageSize'>> & { now: () => number };
  readonly #imageSize: NonNullable<HubOptions['imageSize']> | null;
  readonly #byId = new Map<string, Session>();
  readonly #byName = new Map<string, Session>();
  readonly #byToken = new Map<string, Session>();
  readonly #rooms = new Map<string, Set<Session>>();
  readonly #calls = new Map<string, Call>();
  readonly #presence: Presence;
  /** Every session's next ICE refresh, on one timer. */
  readonly #iceRefresh: DueQueue<Session>;
  readonly #listeners: { [K in keyof HubEvents]: Set<(...args: HubEvents[K]) => void> } = {
    roomChanged: new Set(),
    sessionEnded: new Set(),
  };
  #closed = false;
  /**
   * The newest message id known to be stored and fanned out. A new session starts its replay
   * point here: what was stored before it signed in is history, not something it missed.
   */
  #lastStoredId = 0;

  constructor(options: HubOptions) {
    this.#opts = { maxRoomsPerSession: 100, now: Date.now, metrics: noMetrics, ...options };
    this.#imageSize = options.imageSize ?? null;
    this.#presence = new Presence(options.presence ?? {}, toMember);
    this.#iceRefresh = new DueQueue(this.#opts.now, (session) => {
      this.#refreshIce(session);
    });
    // Messages from before a restart are history too.
    this.#opts.store.lastId().then(
      (id) => {
        this.#lastStoredId = Math.max(this.#lastStoredId, id);
      },
      (error: unknown) => {
        this.#opts.logger.error({ err: error }, 'reading the newest message id failed');
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Events

  on<K extends keyof HubEvents>(event: K, listener: (...args: HubEvents[K]) => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  #emit<K extends keyof HubEvents>(event: K, ...args: HubEvents[K]): void {
    for (const listener of this.#listeners[event]) {
      try {
        listener(...args);
      } catch (error) {
        // A listener's bug must not break the hub or the other listeners.
        this.#opts.logger.error({ err: error, event }, 'hub listener failed');
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Queries used by transports, metrics and tests

  get sessionCount(): number {
    return this.#byId.size;
  }

  get roomCount(): number {
    return this.#rooms.size;
  }

  get callCount(): number {
    return this.#calls.size;
  }

  findByName(name: string): Session | undefined {
    return this.#byName.get(name.toLowerCase());
  }

  /** The session a `welcome` token belongs to (HTTP requests authenticate with it), if it lives. */
  findByToken(token: string): Session | undefined {
    const session = this.#byToken.get(token);
    return session && session.state !== 'ended' ? session : undefined;
  }

  findById(id: string): Session | undefined {
    return this.#byId.get(id);
  }

  members(room: string): Member[] {
    return [...(this.#rooms.get(room) ?? [])].map(toMember);
  }

  memberSessions(room: string): ReadonlySet<Session> {
    return this.#rooms.get(room) ?? new Set();
  }

  /** A free name close to `name`: the name itself if free, else with a number appended. */
  suggestName(name: string): string {
    if (!this.#byName.has(name.toLowerCase())) return name;
    for (let n = 2; ; n++) {
      const suffix = String(n);
      // Cut on a code point boundary so the suggestion is still a valid name.
      const head = name.slice(0, NAME_MAX - suffix.length).replace(/[\uD800-\uDBFF]$/, '').trimEnd();
      const candidate = head + suffix;
      if (!this.#byName.has(candidate.toLowerCase())) return candidate;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  /**
   * Signs a user in under `name` (already normalized) and puts them in the lobby. A taken name is
   * refused with a suggestion, unless `rename` is set (legacy clients), which takes the suggestion.
   */
  signIn(
    name: string,
    kind: MemberKind,
    sink: SessionSink,
    options: { ref?: string | null; rename?: boolean } = {},
  ): Session {
    let finalName = name;
    if (this.#byName.has(name.toLowerCase())) {
      const suggestion = this.suggestName(name);
      if (!options.rename) {
        throw new UserError(ErrorCode.nameTaken, `the name "${name}" is taken`, { suggestion });
      }
      finalName = suggestion;
    }
    const session = new Session(mintId('u', 9), finalName, kind, mintId('', 24), sink);
    session.lastDeliveredId = this.#lastStoredId;
    this.#byId.set(session.id, session);
    this.#byName.set(finalName.toLowerCase(), session);
    this.#byToken.set(session.token, session);
    this.#sendWelcome(session, false, options.ref ?? null);
    this.join(session, LOBBY);
    this.#opts.logger.info({ user: session.id, kind }, 'signed in');
    return session;
  }

  /**
   * Reattaches a session to a new connection. Within the grace period nobody saw the user leave;
   * the user gets the state back (rooms with full member lists, calls) and every chat message
   * stored after `since` (default: the last one delivered to the session).
   */
  async resume(
    token: string,
    since: number | undefined,
    sink: SessionSink,
    ref: string | null = null,
  ): Promise<Session> {
    const session = this.#byToken.get(token);
    if (!session || session.state === 'ended') {
      throw new UserError(ErrorCode.resumeFailed, 'that session has ended; sign in again');
    }
    const previous = session.sink;
    if (session.graceTimer) clearTimeout(session.graceTimer);
    session.graceTimer = null;
    session.sink = sink;
    session.state = 'live';
    if (previous && previous !== sink) {
      previous.close(4001, 'session resumed on another connection');
    }
    session.replayHold = [];
    this.#sendWelcome(session, true, ref);
    for (const room of session.rooms) {
      session.send(this.#presence.roomJoined(room, session, null));
    }
    for (const out of session.drainDetachedBuffer()) session.send(out);
    try {
      await this.#replay(session, since ?? session.lastDeliveredId);
    } finally {
      const held = session.replayHold;
      session.replayHold = null;
      for (const out of held ?? []) {
        if (out.msg.type === 'message' && out.msg.message.id <= session.lastDeliveredId) continue;
        session.send(out);
      }
    }
    this.#opts.logger.info({ user: session.id }, 'resumed');
    return session;
  }

  async #replay(session: Session, afterId: number): Promise<void> {
    let cursor = afterId;
    for (;;) {
      const page = await this.#opts.store.missed({
        rooms: [...session.rooms],
        userId: session.id,
        afterId: cursor,
        limit: REPLAY_PAGE,
      });
      if (session.sink === null || session.state !== 'live') return;
      for (const m of page) {
        session.sink.deliver(new Outbound({ type: 'message', message: toChatMessage(m) }));
        session.lastDeliveredId = Math.max(session.lastDeliveredId, m.id);
        cursor = m.id;
      }
      this.#opts.metrics.messagesDelivered(page.length);
      if (page.length < REPLAY_PAGE) return;
    }
  }

  /** The connection dropped. A Parley session waits out the grace period; legacy ones end now. */
  detach(session: Session, sink: SessionSink): void {
    if (session.sink !== sink || session.state !== 'live') return;
    session.sink = null;
    if (session.kind !== 'parley' || this.#opts.graceMs <= 0) {
      this.end(session);
      return;
    }
    session.state = 'detached';
    session.graceTimer = setTimeout(() => {
      this.end(session);
    }, this.#opts.graceMs);
    session.graceTimer.unref();
  }

  /** Ends a session for good: its calls end, it leaves every room, its name is free again. */
  end(session: Session): void {
    if (session.state === 'ended') return;
    const wasLive = session.state === 'live';
    session.state = 'ended';
    if (session.graceTimer) clearTimeout(session.graceTimer);
    session.graceTimer = null;
    this.#scheduleIceRefresh(session, null);
    if (session.call) this.#endCall(session.call, 'disconnected');
    for (const room of [...session.rooms]) this.#removeFromRoom(session, room);
    this.#byId.delete(session.id);
    this.#byToken.delete(session.token);
    if (this.#byName.get(session.name.toLowerCase()) === session) {
      this.#byName.delete(session.name.toLowerCase());
    }
    const sink = session.sink;
    session.sink = null;
    if (wasLive && sink) sink.close(4002, 'session ended');
    this.#emit('sessionEnded', session);
    this.#opts.logger.info({ user: session.id }, 'session ended');
  }

  #sendWelcome(session: Session, resumed: boolean, ref: string | null): void {
    const grant = session.kind === 'parley' ? this.#opts.ice(session.id) : { iceServers: [], expiresAt: null };
    session.send(
      new Outbound({
        type: 'welcome',
        version: PROTOCOL_VERSION,
        user: { id: session.id, name: session.name },
        token: session.token,
        graceMs: this.#opts.graceMs,
        resumed,
        iceServers: grant.iceServers,
        iceExpiresAt: grant.expiresAt,
        limits: {
          maxFrameBytes: this.#opts.maxFrameBytes,
          maxTextLength: TEXT_MAX,
          historyPageMax: HISTORY_MAX,
        },
        rooms: [...session.rooms],
        calls: session.call ? [callSummary(session.call, session)] : [],
        ref,
      }),
    );
    this.#scheduleIceRefresh(session, grant.expiresAt);
  }

  /** TURN credentials expire; send fresh ones when 80% of their lifetime has passed. */
  #scheduleIceRefresh(session: Session, expiresAt: number | null): void {
    if (session.iceDue !== null) this.#iceRefresh.remove(session, session.iceDue);
    session.iceDue = null;
    if (expiresAt === null) return;
    const now = this.#opts.now();
    session.iceDue = now + Math.max(1000, (expiresAt - now) * 0.8);
    this.#iceRefresh.add(session, session.iceDue);
  }

  #refreshIce(session: Session): void {
    session.iceDue = null;
    if (session.state === 'ended') return;
    const grant = this.#opts.ice(session.id);
    session.send(
      new Outbound({ type: 'iceServers', iceServers: grant.iceServers, iceExpiresAt: grant.expiresAt }),
    );
    this.#scheduleIceRefresh(session, grant.expiresAt);
  }

  // -------------------------------------------------------------------------------------------
  // Dispatch of Parley frames

  /** Handles one validated frame from a signed-in session. */
  handle(session: Session, msg: ClientMessage): Promise<void> | void {
    const ref = msg.ref ?? null;
    switch (msg.type) {
      case 'hello':
      case 'resume':
        throw new UserError(ErrorCode.alreadySignedIn, 'this connection is already signed in');
      case 'join':
        this.join(session, msg.room, ref);
        return;
      case 'leave':
        this.leave(session, msg.room, ref);
        return;
      case 'members':
        this.memberPage(session, msg.room, msg.after, msg.limit, ref);
        return;
      case 'presence':
        this.setStatus(session, msg.status);
        return;
      case 'chat':
        return this.chat(session, msg.room, msg.clientId, msg.text, ref, msg.image).then(() => undefined);
      case 'dm':
        return this.dm(session, msg.to, msg.clientId, msg.text, ref, msg.image).then(() => undefined);
      case 'history':
        return this.history(session, msg, ref);
      case 'callInvite':
        this.callInvite(session, msg.to, msg.media, ref);
        return;
      case 'callAccept':
        this.callAccept(session, msg.callId, msg.media);
        return;
      case 'callDecline':
        this.callDecline(session, msg.callId);
        return;
      case 'callCancel':
        this.callCancel(session, msg.callId);
        return;
      case 'callHangup':
        this.callHangup(session, msg.callId);
        return;
      case 'signal':
        this.signal(session, msg.callId, msg.data);
        return;
      case 'callMedia':
        this.callMedia(session, msg.callId, msg.audio, msg.video);
        return;
      case 'ping':
        session.send(new Outbound({ type: 'pong', ts: this.#opts.now(), ref }));
        return;
      default:
        return assertNever(msg);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Rooms and presence

  join(session: Session, room: string, ref: string | null = null): void {
    let members = this.#rooms.get(room);
    if (!session.rooms.has(room)) {
      if (session.rooms.size >= this.#opts.maxRoomsPerSession) {
        throw new UserError(
          ErrorCode.roomLimit,
          `you are in ${session.rooms.size} rooms, the most allowed; leave one first`,
        );
      }
      if (!members) {
        members = new Set();
        this.#rooms.set(room, members);
      }
      members.add(session);
      session.rooms.add(room);
      // Members hear about the join in the room's next coalesced `members` frame.
      const joined = this.#presence.add(room, session, members, ref);
      this.#emit('roomChanged', room);
      session.send(joined);
      return;
    }
    session.send(this.#presence.roomJoined(room, session, ref));
  }

  /** A page of a room's member list, sorted by name, after the member named `after`. */
  memberPage(session: Session, room: string, after: string | undefined, limit: number | undefined, ref: string | null): void {
    if (!session.rooms.has(room)) {
      throw new UserError(ErrorCode.notInRoom, `you are not in room "${room}"`);
    }
    session.send(this.#presence.page(room, session, after, limit, ref));
  }

  /** Sends the member changes gathered so far now instead of at the end of their window. */
  flushPresence(): void {
    this.#presence.flush();
  }

  leave(session: Session, room: string, ref: string | null = null): void {
    if (!session.rooms.has(room)) {
      throw new UserError(ErrorCode.notInRoom, `you are not in room "${room}"`);
    }
    this.#removeFromRoom(session, room);
    session.send(new Outbound({ type: 'roomLeft', room, ref }));
  }

  #removeFromRoom(session: Session, room: string): void {
    const members = this.#rooms.get(room);
    session.rooms.delete(room);
    if (!members) return;
    members.delete(session);
    if (members.size === 0) this.#rooms.delete(room);
    this.#presence.remove(room, session, members);
    this.#emit('roomChanged', room);
  }

  setStatus(session: Session, status: 'online' | 'away'): void {
    if (session.status === status) return;
    const before = session.presence;
    session.status = status;
    if (session.presence !== before) this.#announcePresence(session);
  }

  #announcePresence(session: Session): void {
    for (const room of session.rooms) {
      this.#presence.changed(room, session);
      this.#emit('roomChanged', room);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Chat

  async #store(input: Parameters<MessageStore['append']>[0]) {
    try {
      const started = performance.now();
      const result = await this.#opts.store.append(input);
      this.#opts.metrics.messageStored(performance.now() - started, result.duplicate);
      this.#lastStoredId = Math.max(this.#lastStoredId, result.message.id);
      return result;
    } catch (error) {
      this.#opts.logger.error({ err: error }, 'storing a message failed');
      throw new UserError(ErrorCode.internal, 'the message could not be stored; try again');
    }
  }

  /**
   * The image a message references, with the size the server measured at upload. Refused when
   * no such image was uploaded: a message must not point at nothing (or at a guess).
   */
  async #image(image: ImageRef | undefined): Promise<ImageRef | null> {
    if (image === undefined) return null;
    if (this.#imageSize === null) return image;
    let size: { width: number; height: number } | null;
    try {
      size = await this.#imageSize(image.id);
    } catch (error) {
      this.#opts.logger.error({ err: error }, 'reading an image failed');
      throw new UserError(ErrorCode.internal, 'the image could not be read; try again');
    }
    if (!size) throw new UserError(ErrorCode.badFrame, 'image: no such image; upload it with POST /api/images first');
    return { id: image.id, width: size.width, height: size.height };
  }

  /** Stores a room message, acknowledges it to the sender, then fans it out to the room. */
  async chat(
    session: Session,
    room: string,
    clientId: string,
    text: string,
    ref: string | null = null,
    image?: ImageRef,
  ): Promise<StoredMessage> {
    if (!session.rooms.has(room)) throw new UserError(ErrorCode.notInRoom, `you are not in room "${room}"`);
    const { message, duplicate } = await this.#store({
      senderId: session.id,
      senderName: session.name,
      clientId,
      text,
      image: await this.#image(image),
      room,
      to: null,
    });
    session.send(new Outbound({ type: 'ack', clientId, id: message.id, ts: message.ts, ref }));
    if (!duplicate) {
      const out = new Outbound({ type: 'message', message: toChatMessage(message) });
      for (const member of this.#rooms.get(room) ?? []) {
        if (member !== session) member.send(out);
      }
      this.#opts.metrics.messagesDelivered((this.#rooms.get(room)?.size ?? 1) - 1);
    }
    return message;
  }

  /** A direct message to a user who shares a room with the sender. */
  async dm(
    session: Session,
    to: string,
    clientId: string,
    text: string,
    ref: string | null = null,
    image?: ImageRef,
  ): Promise<StoredMessage> {
    const target = this.#reachable(session, to);
    if (target.kind === 'login') {
      throw new UserError(ErrorCode.notSupported, `${target.name}'s app cannot receive messages`);
    }
    const { message, duplicate } = await this.#store({
      senderId: session.id,
      senderName: session.name,
      clientId,
      text,
      image: await this.#image(image),
      room: null,
      to: target.id,
    });
    session.send(new Outbound({ type: 'ack', clientId, id: message.id, ts: message.ts, ref }));
    if (!duplicate && target !== session) {
      target.send(new Outbound({ type: 'message', message: toChatMessage(message) }));
      this.#opts.metrics.messagesDelivered(1);
    }
    return message;
  }

  async history(
    session: Session,
    query: { room?: string | undefined; peer?: string | undefined; before?: number | undefined; limit?: number | undefined },
    ref: string | null,
  ): Promise<void> {
    const limit = Math.min(query.limit ?? 50, HISTORY_MAX);
    let rows: StoredMessage[];
    if (query.room !== undefined) {
      if (!session.rooms.has(query.room)) {
        throw new UserError(ErrorCode.notInRoom, `you are not in room "${query.room}"`);
      }
      rows = await this.#opts.store.history({ room: query.room }, query.before, limit + 1);
    } else {
      rows = await this.#opts.store.history(
        { userA: session.id, userB: query.peer ?? '' },
        query.before,
        limit + 1,
      );
    }
    const hasMore = rows.length > limit;
    session.send(
      new Outbound({
        type: 'history',
        room: query.room ?? null,
        peer: query.peer ?? null,
        messages: (hasMore ? rows.slice(1) : rows).map(toChatMessage),
        hasMore,
        ref,
      }),
    );
  }

  /** The user with that id if they share a room with `session` (or are the session itself). */
  #reachable(session: Session, userId: string): Session {
    const target = this.#byId.get(userId);
    if (target && target.state !== 'ended') {
      if (target === session) return target;
      for (const room of session.rooms) if (target.rooms.has(room)) return target;
    }
    throw new UserError(ErrorCode.userNotFound, 'no such user in your rooms');
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  callInvite(session: Session, to: string, media: CallMedia, ref: string | null = null): Call | null {
    if (session.call) throw new UserError(ErrorCode.alreadyInCall, 'you are already in a call; hang up first');
    const target = this.#reachable(session, to);
    if (target === session) throw new UserError(ErrorCode.callSelf, 'you cannot call yourself');
    const callId = mintId('c', 9);
    if (target.call) {
      session.send(new Outbound({ type: 'callEnded', callId, reason: 'busy', ref }));
      this.#opts.metrics.callEnded('busy');
      return null;
    }
    const call = new Call(callId, session, target, media);
    this.#calls.set(callId, call);
    session.call = target.call = call;
    session.send(new Outbound({ type: 'callRinging', callId, to: target.id, media, ref }));
    target.send(new Outbound({ type: 'callIncoming', callId, from: toMember(session), media }));
    call.timer = setTimeout(() => {
      this.#endCall(call, 'timeout');
    }, this.#opts.callTimeoutMs);
    call.timer.unref();
    this.#opts.logger.debug({ call: callId, from: session.id, to: target.id }, 'call ringing');
    if (target.autoAccept) this.callAccept(target, callId, media);
    return call;
  }

  #partyCall(session: Session, callId: string): Call {
    const call = this.#calls.get(callId);
    if (!call || !call.isParty(session)) throw new UserError(ErrorCode.callNotFound, 'no such call');
    return call;
  }

  callAccept(session: Session, callId: string, media: CallMedia): void {
    const call = this.#partyCall(session, callId);
    if (call.callee !== session || call.state !== 'ringing') {
      throw new UserError(ErrorCode.callState, 'only the callee can accept a ringing call');
    }
    if (call.timer) clearTimeout(call.timer);
    call.timer = null;
    call.setState('active');
    // The call is video only if both sides want video.
    call.media = media === 'video' && call.media === 'video' ? 'video' : 'audio';
    const accepted = new Outbound({ type: 'callAccepted', callId, media: call.media });
    call.caller.send(accepted);
    call.callee.send(accepted);
    this.#announcePresence(call.caller);
    this.#announcePresence(call.callee);
  }

  callDecline(session: Session, callId: string): void {
    const call = this.#partyCall(session, callId);
    if (call.callee !== session || call.state !== 'ringing') {
      throw new UserError(ErrorCode.callState, 'only the callee can decline a ringing call');
    }
    this.#endCall(call, 'declined');
  }

  callCancel(session: Session, callId: string): void {
    const call = this.#partyCall(session, callId);
    if (call.caller !== session || call.state !== 'ringing') {
      throw new UserError(ErrorCode.callState, 'only the caller can cancel a ringing call');
    }
    this.#endCall(call, 'cancelled');
  }

  /** Ends a call from either side in any state: a ringing call counts as cancelled or declined. */
  callHangup(session: Session, callId: string): void {
    const call = this.#partyCall(session, callId);
    const reason: CallEndReason =
      call.state === 'active' ? 'hangup' : session === call.caller ? 'cancelled' : 'declined';
    this.#endCall(call, reason);
  }

  /** Relays SDP or ICE to the other party; only once the callee has accepted. */
  signal(session: Session, callId: string, data: SignalData): void {
    const call = this.#partyCall(session, callId);
    if (call.state !== 'active') {
      throw new UserError(ErrorCode.callState, 'the call has not been accepted yet');
    }
    call.peerOf(session).send(new Outbound({ type: 'signal', callId, from: session.id, data }));
  }

  callMedia(session: Session, callId: string, audio: boolean, video: boolean): void {
    const call = this.#partyCall(session, callId);
    if (call.state !== 'active') throw new UserError(ErrorCode.callState, 'the call is not active');
    call.peerOf(session).send(new Outbound({ type: 'callMedia', callId, from: session.id, audio, video }));
  }

  /** The call the session is in, if any (legacy adapters route by peer, not by call id). */
  callOf(session: Session): Call | null {
    return session.call;
  }

  #endCall(call: Call, reason: CallEndReason): void {
    if (call.state === 'ended') return;
    const wasActive = call.state === 'active';
    call.setState('ended');
    call.endReason = reason;
    this.#opts.metrics.callEnded(reason);
    if (call.timer) clearTimeout(call.timer);
    call.timer = null;
    this.#calls.delete(call.id);
    if (call.caller.call === call) call.caller.call = null;
    if (call.callee.call === call) call.callee.call = null;
    const ended = new Outbound({ type: 'callEnded', callId: call.id, reason, ref: null });
    call.caller.send(ended);
    call.callee.send(ended);
    if (wasActive) {
      this.#announcePresence(call.caller);
      this.#announcePresence(call.callee);
    }
    this.#opts.logger.debug({ call: call.id, reason }, 'call ended');
  }

  // -------------------------------------------------------------------------------------------

  /** Delivers a message to one session (used by transports for replies outside the hub's flow). */
  send(session: Session, msg: ServerMessage): void {
    session.send(new Outbound(msg));
  }

  /** Stops every timer and ends every session. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const session of [...this.#byId.values()]) this.end(session);
    this.#presence.close();
    this.#iceRefresh.close();
  }
}

export function toMember(session: Session): Member {
  return { id: session.id, name: session.name, presence: session.presence, kind: session.kind };
}

function callSummary(call: Call, session: Session): CallSummary {
  return {
    callId: call.id,
    peer: toMember(call.peerOf(session)),
    media: call.media,
    role: call.caller === session ? 'caller' : 'callee',
    state: call.state === 'active' ? 'active' : 'ringing',
  };
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
