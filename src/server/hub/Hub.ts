import { randomFillSync, timingSafeEqual } from 'node:crypto';
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
import { RoomCalls } from './RoomCalls.js';
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
  /** Other instances (src/server/bus): with it, users on every instance are one community. */
  cluster?: HubCluster;
  now?: () => number;
}

/** A user as other instances replicate it. */
export interface ReplicaUser {
  id: string;
  name: string;
  kind: MemberKind;
  token: string;
  status: 'online' | 'away';
  rooms: string[];
  /** The room call the user is in. */
  roomCall?: ReplicaSeat | null;
}

/** A user's seat in a room call, as other instances replicate it. */
export interface ReplicaSeat {
  room: string;
  callId: string;
  media: CallMedia;
  audio: boolean;
  video: boolean;
}

/** A 1:1 call as other instances replicate it; its owner (the instance that runs it) is the sender. */
export interface ReplicaCall {
  id: string;
  caller: string;
  callee: string;
  media: CallMedia;
  state: 'ringing' | 'active';
}

/**
 * A change to this instance's users or calls that every other instance applies to its replica.
 * Each instance delivers to its own connections only: a room message or a presence change is
 * published once, never once per remote member.
 */
export type ReplicaEvent =
  | { t: 'up'; user: ReplicaUser }
  | { t: 'moved'; id: string }
  | { t: 'down'; id: string }
  | { t: 'join'; id: string; room: string }
  | { t: 'leave'; id: string; room: string }
  | { t: 'status'; id: string; status: 'online' | 'away' }
  | { t: 'message'; message: ChatMessage }
  | { t: 'call'; call: ReplicaCall }
  | { t: 'callEnd'; id: string; reason: CallEndReason }
  | { t: 'seat'; id: string; seat: ReplicaSeat }
  | { t: 'unseat'; id: string; room: string };

/** What this instance's users and calls look like, for an instance that (re)joins. */
export interface ReplicaSnapshot {
  users: ReplicaUser[];
  calls: ReplicaCall[];
}

/** The hub's side of the bus: what it tells other instances and what it asks of them. */
export interface HubCluster {
  readonly instanceId: string;
  /** Claims `name` for the new user `userId` across instances; false when another user has it. */
  claimName(name: string, userId: string): Promise<boolean>;
  /** Makes `name` this instance's user's (a user who resumed here from another instance). */
  takeName(name: string, userId: string): void;
  /** Frees `name` if `userId` still holds it. */
  releaseName(name: string, userId: string): void;
  /**
   * The id of the call in `room`: `proposed` if no instance has one going, else theirs. Two people
   * starting a room's call on two instances at once end up in one call.
   */
  roomCallId(room: string, proposed: string): Promise<string>;
  /** The call `callId` in `room` is over (its last participant left). */
  roomCallOver(room: string, callId: string): void;
  /** Whether an instance is known to be running (heartbeats within the dead-after window). */
  isAlive(instance: string): boolean;
  publish(event: ReplicaEvent): void;
  /** A frame for `userId`, whose connection is on `instance` (`hops`: instances it went through). */
  deliver(instance: string, userId: string, out: Outbound, hops?: number): void;
  /** A call frame from `userId` to the instance that runs the call. */
  forward(instance: string, userId: string, msg: ClientMessage): void;
}

type HubEvents = {
  /** A room's member list changed (join, leave, presence, rename). */
  roomChanged: [room: string];
  sessionEnded: [session: Session];
};

/**
 * With other instances, how many message ids before the client's newest a resume sends again:
 * ids are given at store time, but two instances' messages may cross on the bus.
 */
const REORDER_SLACK = 64;

/** With other instances, how long a resume with an unknown token waits for the bus to catch up. */
const RESUME_SETTLE_MS = 150;

/** Replay on resume reads the store in pages of this size. */
const REPLAY_PAGE = 500;

/**
 * Ids and tokens are cut from a block of CSPRNG output, each byte used once: one getrandom call
 * per 4 KB instead of one per id (a sign-in takes two) spares a system call per id in a storm.
 */
let randomBlock = Buffer.alloc(0);
let randomAt = 0;

function mintId(prefix: string, bytes: number): string {
  if (randomAt + bytes > randomBlock.length) {
    randomBlock = randomFillSync(Buffer.allocUnsafeSlow(4096));
    randomAt = 0;
  }
  const id = randomBlock.toString('base64url', randomAt, randomAt + bytes);
  randomAt += bytes;
  return prefix + id;
}

/** Compares two secrets in constant time. */
function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
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
  readonly #opts: Required<Omit<HubOptions, 'now' | 'presence' | 'imageSize' | 'cluster'>> & { now: () => number };
  readonly #imageSize: NonNullable<HubOptions['imageSize']> | null;
  readonly #cluster: HubCluster | null;
  /** Sessions of users whose connection is on another instance (in #byId too). */
  #remoteCount = 0;
  readonly #byId = new Map<string, Session>();
  readonly #byName = new Map<string, Session>();
  readonly #rooms = new Map<string, Set<Session>>();
  readonly #calls = new Map<string, Call>();
  /** Group calls in rooms (full mesh, up to ROOM_CALL_MAX). */
  readonly #roomCalls = new RoomCalls(() => mintId('r', 9));
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
    this.#cluster = options.cluster ?? null;
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

  /** Users connected to this instance (not those replicated from others). */
  get sessionCount(): number {
    return this.#byId.size - this.#remoteCount;
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
    const session = this.#sessionOfToken(token);
    return session && session.state !== 'ended' ? session : undefined;
  }

  /**
   * A token is the session's id, a dot, and its secret (Session.token): the id finds the session
   * among those kept by id, with no map of tokens beside it (46 bytes a session at ten thousand),
   * and the secret, 24 random bytes, must match.
   */
  #sessionOfToken(token: string): Session | undefined {
    const dot = token.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const session = this.#byId.get(token.slice(0, dot));
    return session !== undefined && sameSecret(session.secret, token.slice(dot + 1)) ? session : undefined;
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
  suggestName(name: string, taken: ReadonlySet<string> = new Set()): string {
    const free = (n: string) => !this.#byName.has(n.toLowerCase()) && !taken.has(n.toLowerCase());
    if (free(name)) return name;
    for (let n = 2; ; n++) {
      const suffix = String(n);
      // Cut on a code point boundary so the suggestion is still a valid name.
      const head = name.slice(0, NAME_MAX - suffix.length).replace(/[\uD800-\uDBFF]$/, '').trimEnd();
      const candidate = head + suffix;
      if (free(candidate)) return candidate;
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
    options: { ref?: string | null; rename?: boolean; id?: string } = {},
  ): Session {
    let finalName = name;
    if (this.#byName.has(name.toLowerCase())) {
      const suggestion = this.suggestName(name);
      if (!options.rename) {
        throw new UserError(ErrorCode.nameTaken, `the name "${name}" is taken`, { suggestion });
      }
      finalName = suggestion;
    }
    const session = new Session(options.id ?? mintId('u', 9), finalName, kind, mintId('', 24), sink);
    session.lastDeliveredId = this.#lastStoredId;
    this.#byId.set(session.id, session);
    this.#byName.set(finalName.toLowerCase(), session);
    this.#cluster?.publish({ t: 'up', user: toReplicaUser(session) });
    this.#sendWelcome(session, false, options.ref ?? null);
    this.join(session, LOBBY);
    this.#opts.logger.info({ user: session.id, kind }, 'signed in');
    return session;
  }

  /**
   * signIn for a transport: with other instances, the name is first claimed across all of them
   * (a taken name is refused with a suggestion, or with `rename` the next free one is taken).
   * If the connection closed meanwhile (`gone`), the new session ends at once.
   */
  async enter(
    name: string,
    kind: MemberKind,
    sink: SessionSink,
    options: { ref?: string | null; rename?: boolean; gone?: () => boolean } = {},
  ): Promise<Session> {
    const cluster = this.#cluster;
    if (!cluster) return this.signIn(name, kind, sink, options);
    const id = mintId('u', 9);
    const tried = new Set<string>();
    let candidate = this.#byName.has(name.toLowerCase()) && options.rename ? this.suggestName(name) : name;
    for (;;) {
      const free = !this.#byName.has(candidate.toLowerCase()) && (await this.#claim(cluster, candidate, id));
      if (free && !this.#byName.has(candidate.toLowerCase())) break;
      if (free) cluster.releaseName(candidate, id);
      tried.add(candidate.toLowerCase());
      const suggestion = this.suggestName(name, tried);
      if (!options.rename) {
        throw new UserError(ErrorCode.nameTaken, `the name "${name}" is taken`, { suggestion });
      }
      candidate = suggestion;
    }
    const session = this.signIn(candidate, kind, sink, { ...options, id, rename: false });
    if (options.gone?.()) this.end(session);
    return session;
  }

  async #claim(cluster: HubCluster, name: string, id: string): Promise<boolean> {
    try {
      return await cluster.claimName(name, id);
    } catch (error) {
      this.#opts.logger.error({ err: error }, 'claiming a name on the bus failed');
      throw new UserError(ErrorCode.internal, 'signing in is not possible right now; try again in a moment');
    }
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
    let session = this.#sessionOfToken(token);
    if (!session && this.#cluster) {
      // Signed in on another instance a moment ago: its news may still be on the bus.
      await new Promise((r) => setTimeout(r, RESUME_SETTLE_MS));
      session = this.#sessionOfToken(token);
    }
    if (!session || session.state === 'ended') {
      throw new UserError(ErrorCode.resumeFailed, 'that session has ended; sign in again');
    }
    if (session.origin !== null) {
      // The user was on another instance (which may have died): the session moves here.
      this.#moveHere(session);
      if (since === undefined) session.lastDeliveredId = this.#lastStoredId;
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
      this.#sendRoomCall(session, room);
    }
    for (const out of session.drainDetachedBuffer()) session.send(out);
    const start = since ?? session.lastDeliveredId;
    const replayed = new Set<number>();
    try {
      // With other instances, messages are numbered when stored but may arrive out of that order
      // (two instances store at once): the client's newest id does not prove it has every older
      // one, so a few before it are sent again; the app shows each message once (by clientId).
      await this.#replay(session, this.#cluster ? Math.max(0, start - REORDER_SLACK) : start, replayed);
    } finally {
      const held = session.replayHold;
      session.replayHold = null;
      for (const out of held ?? []) {
        if (out.msg.type === 'message') {
          const id = out.msg.message.id;
          // Alone, ids arrive in order: anything at or below the newest replayed was replayed.
          if (replayed.has(id) || (!this.#cluster && id <= session.lastDeliveredId)) continue;
        }
        session.send(out);
      }
    }
    this.#opts.logger.info({ user: session.id }, 'resumed');
    return session;
  }

  async #replay(session: Session, afterId: number, replayed?: Set<number>): Promise<void> {
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
        replayed?.add(m.id);
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
    // A call another instance runs ends there, when it hears that this user is gone; one whose
    // instance died with nobody to take it over (both parties were there) is just forgotten.
    const call = session.call;
    if (call?.owner === null) this.#endCall(call, 'disconnected');
    else if (call && this.#cluster && !this.#cluster.isAlive(call.owner ?? '') && this.#dropCall(call)) {
      this.#announcePresence(call.peerOf(session));
    }
    if (session.origin === null) {
      this.#cluster?.publish({ t: 'down', id: session.id });
      this.#cluster?.releaseName(session.name, session.id);
    } else {
      this.#remoteCount--;
      // Its instance died: nobody else will free the name.
      if (!wasLive) this.#cluster?.releaseName(session.name, session.id);
    }
    for (const room of [...session.rooms]) this.#removeFromRoom(session, room);
    this.#byId.delete(session.id);
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
    if (this.#cluster && 'callId' in msg) {
      // A frame about a call another instance runs goes there whole, with its ref.
      const call = this.#calls.get(msg.callId);
      if (call && call.owner !== null && call.isParty(session)) {
        this.#cluster.forward(call.owner, session.id, msg);
        return;
      }
    }
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
        this.signal(session, msg.callId, msg.data, msg.to);
        return;
      case 'callMedia':
        this.callMedia(session, msg.callId, msg.audio, msg.video, msg.to);
        return;
      case 'roomCallJoin':
        return this.roomCallJoin(session, msg.room, msg.media, ref);
      case 'roomCallLeave':
        this.roomCallLeave(session, msg.room, ref);
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
      this.#cluster?.publish({ t: 'join', id: session.id, room });
      this.#emit('roomChanged', room);
      session.send(joined);
      this.#sendRoomCall(session, room);
      return;
    }
    session.send(this.#presence.roomJoined(room, session, ref));
    this.#sendRoomCall(session, room);
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
    this.#cluster?.publish({ t: 'leave', id: session.id, room });
    session.send(new Outbound({ type: 'roomLeft', room, ref }));
  }

  #removeFromRoom(session: Session, room: string): void {
    this.#leaveRoomCall(session, room, null);
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
    if (session.origin === null) this.#cluster?.publish({ t: 'status', id: session.id, status });
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
      const chatMessage = toChatMessage(message);
      this.#fanOut(room, new Outbound({ type: 'message', message: chatMessage }), session);
      // Other instances fan it out to their own members.
      this.#cluster?.publish({ t: 'message', message: chatMessage });
    }
    return message;
  }

  /** A room message to every member connected to this instance but the sender. */
  #fanOut(room: string, out: Outbound, sender: Session | undefined): void {
    let delivered = 0;
    for (const member of this.#rooms.get(room) ?? []) {
      if (member !== sender && member.origin === null) {
        member.send(out);
        delivered++;
      }
    }
    this.#opts.metrics.messagesDelivered(delivered);
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
    if (session.call || session.roomCall !== null) throw new UserError(ErrorCode.alreadyInCall, 'you are already in a call; hang up first');
    const target = this.#reachable(session, to);
    if (target === session) throw new UserError(ErrorCode.callSelf, 'you cannot call yourself');
    const callId = mintId('c', 9);
    if (target.call || target.roomCall !== null) {
      session.send(new Outbound({ type: 'callEnded', callId, reason: 'busy', ref }));
      this.#opts.metrics.callEnded('busy');
      return null;
    }
    const call = new Call(callId, session, target, media);
    this.#calls.set(callId, call);
    session.call = target.call = call;
    this.#publishCall(call);
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

  /**
   * The call `callId` if `session` is in it. When another instance runs the call, `frame` goes
   * there instead and the answer is null: that instance checks it and replies to the user.
   */
  #partyCall(session: Session, callId: string, frame: ClientMessage): Call | null {
    const call = this.#calls.get(callId);
    if (!call || !call.isParty(session)) throw new UserError(ErrorCode.callNotFound, 'no such call');
    if (call.owner === null) return call;
    this.#cluster?.forward(call.owner, session.id, frame);
    return null;
  }

  /** Tells other instances about a call this instance runs (before its frames go out). */
  #publishCall(call: Call): void {
    if (call.owner !== null || !this.#cluster) return;
    this.#cluster.publish({ t: 'call', call: toReplicaCall(call) });
  }

  callAccept(session: Session, callId: string, media: CallMedia): void {
    const call = this.#partyCall(session, callId, { type: 'callAccept', callId, media });
    if (!call) return;
    if (call.callee !== session || call.state !== 'ringing') {
      throw new UserError(ErrorCode.callState, 'only the callee can accept a ringing call');
    }
    if (call.timer) clearTimeout(call.timer);
    call.timer = null;
    call.setState('active');
    // The call is video only if both sides want video.
    call.media = media === 'video' && call.media === 'video' ? 'video' : 'audio';
    this.#publishCall(call);
    const accepted = new Outbound({ type: 'callAccepted', callId, media: call.media });
    call.caller.send(accepted);
    call.callee.send(accepted);
    this.#announcePresence(call.caller);
    this.#announcePresence(call.callee);
  }

  callDecline(session: Session, callId: string): void {
    const call = this.#partyCall(session, callId, { type: 'callDecline', callId });
    if (!call) return;
    if (call.callee !== session || call.state !== 'ringing') {
      throw new UserError(ErrorCode.callState, 'only the callee can decline a ringing call');
    }
    this.#endCall(call, 'declined');
  }

  callCancel(session: Session, callId: string): void {
    const call = this.#partyCall(session, callId, { type: 'callCancel', callId });
    if (!call) return;
    if (call.caller !== session || call.state !== 'ringing') {
      throw new UserError(ErrorCode.callState, 'only the caller can cancel a ringing call');
    }
    this.#endCall(call, 'cancelled');
  }

  /** Ends a call from either side in any state: a ringing call counts as cancelled or declined. */
  callHangup(session: Session, callId: string): void {
    const call = this.#partyCall(session, callId, { type: 'callHangup', callId });
    if (!call) return;
    const reason: CallEndReason =
      call.state === 'active' ? 'hangup' : session === call.caller ? 'cancelled' : 'declined';
    this.#endCall(call, reason);
  }

  /** Relays SDP or ICE to the other party, when maySignal lets the sender (below). */
  signal(session: Session, callId: string, data: SignalData, to?: string): void {
    if (this.#roomCalls.byId(callId)) {
      const target = this.#roomCalls.signalTarget(session, callId, to);
      target.send(new Outbound({ type: 'signal', callId, from: session.id, data }));
      return;
    }
    const call = this.#partyCall(session, callId, { type: 'signal', callId, data });
    if (!call) return;
    if (!maySignal(call, session)) {
      throw new UserError(ErrorCode.callState, 'the call has not been accepted yet');
    }
    call.peerOf(session).send(new Outbound({ type: 'signal', callId, from: session.id, data }));
  }

  callMedia(session: Session, callId: string, audio: boolean, video: boolean, to?: string): void {
    if (this.#roomCalls.byId(callId)) {
      const out = new Outbound({ type: 'callMedia', callId, from: session.id, audio, video });
      for (const target of this.#roomCalls.setMedia(session, callId, to, audio, video)) target.send(out);
      const seat = this.#roomCalls.seatOf(session);
      if (seat && session.origin === null) this.#cluster?.publish({ t: 'seat', id: session.id, seat });
      return;
    }
    const call = this.#partyCall(session, callId, { type: 'callMedia', callId, audio, video });
    if (!call) return;
    if (call.state !== 'active') throw new UserError(ErrorCode.callState, 'the call is not active');
    call.peerOf(session).send(new Outbound({ type: 'callMedia', callId, from: session.id, audio, video }));
  }

  // -------------------------------------------------------------------------------------------
  // Room calls (the logic is in RoomCalls.ts; this delivers its outcomes)

  get roomCallCount(): number {
    return this.#roomCalls.count;
  }

  roomCallJoin(session: Session, room: string, media: CallMedia, ref: string | null = null): Promise<void> | void {
    const cluster = this.#cluster;
    if (cluster && !this.#roomCalls.inRoom(room) && session.rooms.has(room)) {
      // The first here: agree on the call's id with the other instances first.
      return this.#agreeRoomCallId(cluster, room).then((id) => {
        this.#joinRoomCall(session, room, media, ref, id);
      });
    }
    this.#joinRoomCall(session, room, media, ref);
  }

  async #agreeRoomCallId(cluster: HubCluster, room: string): Promise<string> {
    try {
      return await cluster.roomCallId(room, mintId('r', 9));
    } catch (error) {
      this.#opts.logger.error({ err: error }, 'agreeing on a room call id on the bus failed');
      throw new UserError(ErrorCode.internal, 'the call cannot be started right now; try again in a moment');
    }
  }

  #joinRoomCall(session: Session, room: string, media: CallMedia, ref: string | null, id?: string): void {
    const { call, joined } = this.#roomCalls.join(session, room, media, id);
    if (!joined) {
      session.send(new Outbound(call.state(ref)));
      return;
    }
    const seat = this.#roomCalls.seatOf(session);
    if (seat) this.#cluster?.publish({ t: 'seat', id: session.id, seat });
    this.#announceRoomCall(room, call.state(null), session, call.state(ref));
    this.#announcePresence(session);
  }

  roomCallLeave(session: Session, room: string, ref: string | null = null): void {
    if (!this.#leaveRoomCall(session, room, ref)) {
      throw new UserError(ErrorCode.callNotFound, `you are not in the call of #${room}`);
    }
  }

  /** Takes the session out of the call of `room`, telling the room; false if it was not in it. */
  #leaveRoomCall(session: Session, room: string, ref: string | null): boolean {
    const call = this.#roomCalls.leave(session, room);
    if (!call) return false;
    if (session.origin === null) this.#cluster?.publish({ t: 'unseat', id: session.id, room });
    // Whichever instance sees the last one leave frees the id (only if it is still this call's).
    if (call.size === 0) this.#cluster?.roomCallOver(room, call.id);
    this.#announceRoomCall(room, call.state(null), session, call.state(ref));
    this.#announcePresence(session);
    return true;
  }

  /** A room call's new state to every member of the room; `own` (with the ref) to `sender`. */
  #announceRoomCall(
    room: string,
    state: Extract<ServerMessage, { type: 'roomCall' }>,
    sender: Session,
    own: Extract<ServerMessage, { type: 'roomCall' }>,
  ): void {
    const out = new Outbound(state);
    for (const member of this.#rooms.get(room) ?? []) {
      if (member !== sender) member.send(out);
    }
    if (sender.rooms.has(room)) sender.send(new Outbound(own));
  }

  /** After roomJoined: the room's call, if it has one. */
  #sendRoomCall(session: Session, room: string): void {
    const call = this.#roomCalls.inRoom(room);
    if (call) session.send(new Outbound(call.state(null)));
  }

  /** The call the session is in, if any (legacy adapters route by peer, not by call id). */
  callOf(session: Session): Call | null {
    return session.call;
  }

  #endCall(call: Call, reason: CallEndReason): void {
    if (call.state === 'ended') return;
    if (call.owner === null) this.#cluster?.publish({ t: 'callEnd', id: call.id, reason });
    const wasActive = this.#dropCall(call);
    call.endReason = reason;
    this.#opts.metrics.callEnded(reason);
    const ended = new Outbound({ type: 'callEnded', callId: call.id, reason, ref: null });
    call.caller.send(ended);
    call.callee.send(ended);
    if (wasActive) {
      this.#announcePresence(call.caller);
      this.#announcePresence(call.callee);
    }
    this.#opts.logger.debug({ call: call.id, reason }, 'call ended');
  }

  /** Forgets a call and frees its parties; true if it was active. */
  #dropCall(call: Call): boolean {
    const wasActive = call.state === 'active';
    call.setState('ended');
    if (call.timer) clearTimeout(call.timer);
    call.timer = null;
    this.#calls.delete(call.id);
    if (call.caller.call === call) call.caller.call = null;
    if (call.callee.call === call) call.callee.call = null;
    return wasActive;
  }

  // -------------------------------------------------------------------------------------------

  // -------------------------------------------------------------------------------------------
  // Other instances (src/server/bus/Cluster.ts calls these with what they published)

  /** This instance's users and the calls it runs, for an instance that (re)joins the bus. */
  snapshot(): ReplicaSnapshot {
    const users: ReplicaUser[] = [];
    for (const session of this.#byId.values()) {
      if (session.origin === null && session.state !== 'ended') {
        users.push({ ...toReplicaUser(session), roomCall: this.#roomCalls.seatOf(session) });
      }
    }
    const calls: ReplicaCall[] = [];
    for (const call of this.#calls.values()) if (call.owner === null) calls.push(toReplicaCall(call));
    return { users, calls };
  }

  /** The newest message id stored or heard of. */
  get lastStoredId(): number {
    return this.#lastStoredId;
  }

  /**
   * After the bus was down, replays to every connected Parley user the chat stored after
   * `afterId` (what other instances' users sent meanwhile never crossed the bus). The app shows
   * each message once, by its clientId, whatever it already had.
   */
  async catchUp(afterId: number): Promise<void> {
    const sessions = [...this.#byId.values()].filter(
      (s) => s.origin === null && s.state === 'live' && s.kind === 'parley' && s.replayHold === null,
    );
    for (const session of sessions) {
      session.replayHold = [];
      try {
        await this.#replay(session, afterId);
      } finally {
        const held = session.replayHold;
        session.replayHold = null;
        for (const out of held ?? []) session.send(out);
      }
    }
  }

  /** Applies one change another instance made to its users or calls. */
  apply(origin: string, event: ReplicaEvent): void {
    switch (event.t) {
      case 'up':
        this.#replicaUp(origin, event.user);
        return;
      case 'moved': {
        const session = this.#byId.get(event.id);
        if (session) this.#movedTo(session, origin);
        return;
      }
      case 'down': {
        const session = this.#byId.get(event.id);
        if (session && session.origin === origin) this.end(session);
        return;
      }
      case 'join': {
        const session = this.#replica(origin, event.id);
        if (session) this.#replicaJoin(session, event.room);
        return;
      }
      case 'leave': {
        const session = this.#replica(origin, event.id);
        if (session?.rooms.has(event.room)) this.#removeFromRoom(session, event.room);
        return;
      }
      case 'status': {
        const session = this.#replica(origin, event.id);
        if (session) this.setStatus(session, event.status);
        return;
      }
      case 'message':
        this.#lastStoredId = Math.max(this.#lastStoredId, event.message.id);
        if ('room' in event.message) {
          this.#fanOut(event.message.room, new Outbound({ type: 'message', message: event.message }), undefined);
        }
        return;
      case 'call':
        this.#replicaCall(origin, event.call);
        return;
      case 'seat': {
        const session = this.#replica(origin, event.id);
        if (session?.rooms.has(event.seat.room)) this.#replicaSeat(session, event.seat);
        return;
      }
      case 'unseat': {
        const session = this.#replica(origin, event.id);
        if (session) this.#leaveRoomCall(session, event.room, null);
        return;
      }
      case 'callEnd': {
        const call = this.#calls.get(event.id);
        if (!call || call.owner === null) return;
        if (this.#dropCall(call)) {
          this.#announcePresence(call.caller);
          this.#announcePresence(call.callee);
        }
        return;
      }
      default:
        assertNever(event);
    }
  }

  /** Makes this instance's replica of `origin` match what `origin` says it has. */
  reconcile(origin: string, snapshot: ReplicaSnapshot): void {
    const live = new Set(snapshot.users.map((u) => u.id));
    for (const session of [...this.#byId.values()]) {
      if (session.origin === origin && !live.has(session.id)) this.end(session);
    }
    for (const user of snapshot.users) {
      const session = this.#byId.get(user.id);
      if (!session) {
        this.#replicaUp(origin, user);
        continue;
      }
      if (session.origin === null) continue; // it moved here since
      this.#movedTo(session, origin);
      const rooms = new Set(user.rooms);
      for (const room of [...session.rooms]) if (!rooms.has(room)) this.#removeFromRoom(session, room);
      for (const room of user.rooms) this.#replicaJoin(session, room);
      this.setStatus(session, user.status);
      const seat = this.#roomCalls.seatOf(session);
      if (user.roomCall) this.#replicaSeat(session, user.roomCall);
      else if (seat) this.#leaveRoomCall(session, seat.room, null);
    }
    for (const call of snapshot.calls) this.#replicaCall(origin, call);
  }

  /**
   * `origin` stopped beating: its users wait out the grace period as if their connections had
   * dropped (they may resume on any instance), then leave. Calls it ran are taken over.
   */
  instanceGone(origin: string): void {
    for (const session of this.#byId.values()) {
      if (session.origin !== origin || session.state !== 'live') continue;
      session.state = 'detached';
      session.graceTimer = setTimeout(() => {
        this.end(session);
      }, this.#opts.graceMs);
      session.graceTimer.unref();
    }
    this.#adoptCalls();
  }

  /** A frame for one of this instance's users, from another instance. */
  deliverFromBus(userId: string, msg: ServerMessage, hops: number): void {
    const session = this.#byId.get(userId);
    if (!session) return;
    if (session.origin === null) session.send(new Outbound(msg));
    else if (hops === 0) this.#cluster?.deliver(session.origin, userId, new Outbound(msg), hops + 1);
  }

  /** A call frame another instance's user sent about a call this instance runs. */
  async handleFromBus(userId: string, msg: ClientMessage): Promise<void> {
    const session = this.#byId.get(userId);
    if (!session || session.state === 'ended') return;
    try {
      await this.handle(session, msg);
    } catch (error) {
      if (!(error instanceof UserError)) {
        this.#opts.logger.error({ err: error, user: userId }, 'a frame from the bus failed');
        return;
      }
      session.send(
        new Outbound({ type: 'error', code: error.code, message: error.message, ref: msg.ref ?? null, ...error.extra }),
      );
    }
  }

  #replica(origin: string, id: string): Session | undefined {
    const session = this.#byId.get(id);
    return session?.origin === origin ? session : undefined;
  }

  #replicaUp(origin: string, user: ReplicaUser): void {
    if (this.#byId.has(user.id)) return;
    const secret = user.token.slice(user.token.lastIndexOf('.') + 1);
    const session: Session = new Session(user.id, user.name, user.kind, secret, this.#remoteSink(() => session));
    session.origin = origin;
    session.status = user.status;
    this.#remoteCount++;
    this.#byId.set(session.id, session);
    if (!this.#byName.has(user.name.toLowerCase())) this.#byName.set(user.name.toLowerCase(), session);
    for (const room of user.rooms) this.#replicaJoin(session, room);
    if (user.roomCall) this.#replicaSeat(session, user.roomCall);
  }

  #replicaSeat(session: Session, seat: ReplicaSeat): void {
    const call = this.#roomCalls.seat(session, seat.room, seat);
    if (!call) return;
    this.#announceRoomCall(seat.room, call.state(null), session, call.state(null));
    this.#announcePresence(session);
  }

  #replicaJoin(session: Session, room: string): void {
    if (session.rooms.has(room)) return;
    let members = this.#rooms.get(room);
    if (!members) {
      members = new Set();
      this.#rooms.set(room, members);
    }
    members.add(session);
    session.rooms.add(room);
    this.#presence.add(room, session, members, null);
    this.#emit('roomChanged', room);
  }

  /**
   * Where a replica's frames go: only those meant for that user alone (call frames, direct
   * messages, errors). Room-wide frames its own instance makes from the same events.
   */
  #remoteSink(session: () => Session): SessionSink {
    return {
      deliver: (out) => {
        const s = session();
        if (s.origin === null || !this.#cluster) return;
        const msg = out.msg;
        if (msg.type === 'members' || msg.type === 'roomJoined' || msg.type === 'roomCall') return;
        if (msg.type === 'message' && 'room' in msg.message) return;
        this.#cluster.deliver(s.origin, s.id, out);
      },
      close: () => undefined,
    };
  }

  /** The user resumed here: the replica becomes this instance's session. */
  #moveHere(session: Session): void {
    session.origin = null;
    this.#remoteCount--;
    session.state = 'detached';
    this.#cluster?.takeName(session.name, session.id);
    this.#cluster?.publish({ t: 'moved', id: session.id });
    this.#adoptCalls();
  }

  /** The user is now on `origin` (resumed there, or it says so after a reconnect). */
  #movedTo(session: Session, origin: string): void {
    if (session.origin === origin) {
      if (session.state === 'detached') {
        // Its instance is back (it was cut off from the bus, not dead).
        if (session.graceTimer) clearTimeout(session.graceTimer);
        session.graceTimer = null;
        session.state = 'live';
      }
      return;
    }
    const wasHere = session.origin === null;
    const sink = session.sink;
    if (session.graceTimer) clearTimeout(session.graceTimer);
    session.graceTimer = null;
    session.origin = origin;
    if (!wasHere) {
      session.state = 'live';
      return;
    }
    this.#remoteCount++;
    this.#scheduleIceRefresh(session, null);
    const buffered = session.drainDetachedBuffer();
    session.sink = this.#remoteSink(() => session);
    session.state = 'live';
    if (sink) sink.close(4001, 'session resumed on another connection');
    // Call signaling kept while the user was away goes to where the user is now.
    for (const out of buffered) session.send(out);
  }

  #replicaCall(origin: string, replica: ReplicaCall): void {
    let call = this.#calls.get(replica.id);
    if (!call) {
      const caller = this.#byId.get(replica.caller);
      const callee = this.#byId.get(replica.callee);
      if (!caller || !callee) return;
      call = new Call(replica.id, caller, callee, replica.media);
      this.#calls.set(call.id, call);
      caller.call ??= call;
      callee.call ??= call;
    }
    if (call.timer) clearTimeout(call.timer);
    call.timer = null;
    call.owner = origin;
    call.media = replica.media;
    if (replica.state === 'active' && call.state === 'ringing') {
      call.setState('active');
      this.#announcePresence(call.caller);
      this.#announcePresence(call.callee);
    }
  }

  /**
   * Calls run by an instance that died are taken over by the instance of one of their parties:
   * the caller's if it runs, else the callee's. Every instance reaches the same choice.
   */
  #adoptCalls(): void {
    const cluster = this.#cluster;
    if (!cluster) return;
    const runs = (s: Session) => s.state !== 'ended' && (s.origin === null || cluster.isAlive(s.origin));
    for (const call of this.#calls.values()) {
      if (call.owner === null || cluster.isAlive(call.owner)) continue;
      const host = [call.caller, call.callee].find(runs);
      if (!host || host.origin !== null) continue;
      call.owner = null;
      if (call.state === 'ringing') {
        call.timer = setTimeout(() => {
          this.#endCall(call, 'timeout');
        }, this.#opts.callTimeoutMs);
        call.timer.unref();
      }
      this.#publishCall(call);
    }
  }

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

function toReplicaUser(session: Session): ReplicaUser {
  return {
    id: session.id,
    name: session.name,
    kind: session.kind,
    token: session.token,
    status: session.status,
    rooms: [...session.rooms],
  };
}

function toReplicaCall(call: Call): ReplicaCall {
  return {
    id: call.id,
    caller: call.caller.id,
    callee: call.callee.id,
    media: call.media,
    state: call.state === 'active' ? 'active' : 'ringing',
  };
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

/**
 * Either party signals in an active call. While it rings, the caller may already send its offer
 * and candidates (an early offer): the callee's app applies the offer and answers only once its
 * user accepts (docs/PROTOCOL.md); nothing goes the other way before the accept. Legacy callees
 * never ring (they accept at once), so an early offer only ever reaches a Parley app.
 */
function maySignal(call: Call, sender: Session): boolean {
  return call.state === 'active' || (call.state === 'ringing' && sender === call.caller);
}
