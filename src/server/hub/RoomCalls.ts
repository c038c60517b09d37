import {
  type CallMedia,
  ErrorCode,
  ROOM_CALL_MAX,
  type RoomCallParticipant,
  type ServerMessage,
} from '../../protocol/protocol.js';
import { UserError } from '../errors.js';
import type { Session } from './Session.js';

/** One participant's place in a room call. */
interface Seat {
  readonly session: Session;
  readonly media: CallMedia;
  audio: boolean;
  video: boolean;
}

/**
 * The call of one room: who is in it, in join order. A room has at most one call; it exists from
 * the first join until the last participant leaves, and a later call in the same room gets a new id.
 */
export class RoomCall {
  /** Map order is join order, which is also the order of `participants` on the wire. */
  readonly seats = new Map<Session, Seat>();

  constructor(
    readonly id: string,
    readonly room: string,
  ) {}

  get size(): number {
    return this.seats.size;
  }

  has(session: Session): boolean {
    return this.seats.has(session);
  }

  participants(): RoomCallParticipant[] {
    return [...this.seats.values()].map((s) => ({
      id: s.session.id,
      name: s.session.name,
      media: s.media,
      audio: s.audio,
      video: s.video,
    }));
  }

  /** The `roomCall` frame describing this call now. */
  state(ref: string | null): Extract<ServerMessage, { type: 'roomCall' }> {
    return { type: 'roomCall', room: this.room, callId: this.id, participants: this.participants(), ref };
  }
}

/**
 * Room calls: full-mesh group calls, one per room, up to ROOM_CALL_MAX participants. Pure
 * bookkeeping like the rest of hub/: it decides who is in which call and who may signal whom,
 * and throws UserError for requests it refuses; the Hub delivers the frames.
 *
 * A session is in at most one call at a time, a room call or a 1:1 call: the 1:1 side of that
 * rule is checked here (`session.call`), the room side by the Hub's callInvite (`of(session)`).
 */
export class RoomCalls {
  readonly #byRoom = new Map<string, RoomCall>();
  readonly #byId = new Map<string, RoomCall>();
  readonly #mintId: () => string;
  readonly #max: number;

  constructor(mintId: () => string, max = ROOM_CALL_MAX) {
    this.#mintId = mintId;
    this.#max = max;
  }

  /** How many room calls are going on. */
  get count(): number {
    return this.#byRoom.size;
  }

  /** The room call the session is in, if any. */
  of(session: Session): RoomCall | undefined {
    return session.roomCall === null ? undefined : this.#byRoom.get(session.roomCall);
  }

  inRoom(room: string): RoomCall | undefined {
    return this.#byRoom.get(room);
  }

  byId(callId: string): RoomCall | undefined {
    return this.#byId.get(callId);
  }

  /**
   * Puts the session in its room's call, starting one if there is none. Joining the call one is
   * already in changes nothing (`joined: false`), so a retried join is harmless.
   */
  join(session: Session, room: string, media: CallMedia, id?: string): { call: RoomCall; joined: boolean } {
    if (!session.rooms.has(room)) throw new UserError(ErrorCode.notInRoom, `you are not in room "${room}"`);
    const current = this.of(session);
    if (current?.room === room) return { call: current, joined: false };
    if (current || session.call) {
      throw new UserError(ErrorCode.alreadyInCall, 'you are already in a call; leave it first');
    }
    let call = this.#byRoom.get(room);
    if (call && call.size >= this.#max) {
      throw new UserError(ErrorCode.callFull, `the call in #${room} is full (${this.#max} people)`);
    }
    call ??= this.#start(room, id ?? this.#mintId());
    call.seats.set(session, { session, media, audio: true, video: media === 'video' });
    session.roomCall = room;
    return { call, joined: true };
  }

  #start(room: string, id: string): RoomCall {
    const call = new RoomCall(id, room);
    this.#byRoom.set(room, call);
    this.#byId.set(call.id, call);
    return call;
  }

  /**
   * Seats a user of another instance as that instance says (src/server/bus): no checks, it has
   * made them. Returns the call, or null when the user's seat was already exactly that.
   */
  seat(
    session: Session,
    room: string,
    seat: { callId: string; media: CallMedia; audio: boolean; video: boolean },
  ): RoomCall | null {
    const current = this.of(session);
    if (current && current.room !== room) this.leave(session);
    const call = this.#byRoom.get(room) ?? this.#start(room, seat.callId);
    const had = call.seats.get(session);
    if (had && had.media === seat.media && had.audio === seat.audio && had.video === seat.video) return null;
    call.seats.set(session, { session, media: seat.media, audio: seat.audio, video: seat.video });
    session.roomCall = room;
    return had ? null : call;
  }

  /** The user's seat, for other instances. */
  seatOf(session: Session): { room: string; callId: string; media: CallMedia; audio: boolean; video: boolean } | null {
    const call = this.of(session);
    const seat = call?.seats.get(session);
    if (!call || !seat) return null;
    return { room: call.room, callId: call.id, media: seat.media, audio: seat.audio, video: seat.video };
  }

  /**
   * Takes the session out of its room call (only if that call is in `room`, when given). Returns
   * the call it left, which is over when it has no participants left; null if it was in none.
   */
  leave(session: Session, room?: string): RoomCall | null {
    const call = this.of(session);
    if (!call || (room !== undefined && call.room !== room)) return null;
    call.seats.delete(session);
    session.roomCall = null;
    if (call.size === 0) {
      this.#byRoom.delete(call.room);
      this.#byId.delete(call.id);
    }
    return call;
  }

  /** The room call `callId` if the session is in it; call_not_found otherwise. */
  #partyCall(session: Session, callId: string): RoomCall {
    const call = this.#byId.get(callId);
    if (!call?.has(session)) throw new UserError(ErrorCode.callNotFound, 'no such call');
    return call;
  }

  /**
   * Whom a `signal` in a room call goes to: the participant `to`, who must be someone else in
   * the same call. Signals are point to point; a mesh has one connection per pair.
   */
  signalTarget(session: Session, callId: string, to: string | undefined): Session {
    const call = this.#partyCall(session, callId);
    if (to === undefined) throw new UserError(ErrorCode.badFrame, 'to: is required in a room call');
    for (const seat of call.seats.values()) {
      if (seat.session.id === to && seat.session !== session) return seat.session;
    }
    throw new UserError(ErrorCode.userNotFound, 'no such participant in this call');
  }

  /**
   * Records the sender's microphone and camera, and says whom to tell: `to` alone when given,
   * else every other participant.
   */
  setMedia(session: Session, callId: string, to: string | undefined, audio: boolean, video: boolean): Session[] {
    const call = this.#partyCall(session, callId);
    const seat = call.seats.get(session)!;
    seat.audio = audio;
    seat.video = video;
    if (to !== undefined) return [this.signalTarget(session, callId, to)];
    return [...call.seats.keys()].filter((s) => s !== session);
  }
}
