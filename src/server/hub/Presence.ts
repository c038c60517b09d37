import { type Member, memberSortKey } from '../../protocol/protocol.js';
import { Outbound, type Session } from './Session.js';

export interface PresenceOptions {
  /**
   * A room with more members than this is large: roomJoined carries a count and the first page
   * of the list, and members hear only about the part of the list they have loaded.
   */
  fullPresenceMax: number;
  /** How long a large room gathers changes before it tells its members (small rooms: one tick). */
  largeFlushMs: number;
  /** Members in a large room's roomJoined, and a `members` request's default page. */
  firstPage: number;
  /**
   * While a large room keeps changing, how often (at most) the members whose part of the list did
   * not change hear the new count. When the room goes quiet, the count goes out with the window in
   * which it did (see #wentQuiet), or else with the next one.
   */
  largeCountMs: number;
  /**
   * How many count-only frames per second a large room may send while it keeps changing: a room
   * with more members than this hears the count less often than every largeCountMs (every
   * members / largeCountRate seconds), so a storm's count updates cost the server and the clients
   * a bounded number of writes and reads whatever the room's size.
   */
  largeCountRate: number;
}

export const presenceDefaults: PresenceOptions = {
  fullPresenceMax: 250,
  largeFlushMs: 250,
  firstPage: 100,
  largeCountMs: 1000,
  largeCountRate: 5000,
};

/** A large room turns small again only below this share of the threshold, so it cannot flap. */
const SHRINK_RATIO = 0.8;

/**
 * A large room's storm is over, at the end of a window, once nothing has changed for this many of
 * the window's average gaps between changes (and for at least QUIET_SHARE of the window).
 */
const QUIET_GAPS = 4;
const QUIET_SHARE = 0.2;

/** What one member's latest change in the current window left behind. */
interface Pending {
  session: Session;
  key: string;
  /** Whether the member was in the room when the window opened (joined vs changed). */
  wasThere: boolean;
  gone: boolean;
}

interface RoomState {
  /** The hub's member set, in join order: a small room's list keeps that order, as it always has. */
  readonly members: ReadonlySet<Session>;
  /** Members sorted by memberSortKey, and those keys: the member list's pages. */
  readonly sorted: Session[];
  readonly keys: string[];
  large: boolean;
  /**
   * Large rooms only: the sort key of the last member each member's list reaches. Someone without
   * an entry has loaded the whole list and hears about every change.
   */
  readonly through: Map<Session, string>;
  pending: Map<string, Pending> | null;
  timer: { cancel(): void } | null;
  /** The member count the room's members last heard, and when (Date.now()). */
  lastCount: number;
  lastCountAt: number;
  /** Changes recorded since the last window ended, and when the latest was (Date.now()). */
  changes: number;
  lastChangeAt: number;
  /**
   * A large room's first page, as members and as JSON, shared by every roomJoined until a change
   * touches it: in a sign-in storm thousands of joiners get the same page.
   */
  firstPage: FirstPage | null;
}

interface FirstPage {
  members: Member[];
  json: string;
  bytes: Buffer;
}

function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Presence for every room: who is in it, in name order, and telling members about changes.
 *
 * Changes are coalesced: every join, leave and presence change in a room during one window (one
 * tick for a small room, `largeFlushMs` for a large one) becomes a single `members` frame,
 * serialized once and sent to every member, instead of one frame per change per member.
 *
 * Large rooms (more than `fullPresenceMax` members) never send the whole list: a joiner gets the
 * count and the first page, and pages on with `members` requests. Each member hears about changes
 * only up to the end of what it has loaded (its `through` key), so the list it holds stays exact,
 * and about the count. The changes in a window are sorted by key, so what a member hears is a
 * prefix of them; members with the same prefix share one serialized frame.
 */
export class Presence {
  readonly #opts: PresenceOptions;
  readonly #rooms = new Map<string, RoomState>();
  readonly #toMember: (s: Session) => Member;

  constructor(options: Partial<PresenceOptions>, toMember: (s: Session) => Member) {
    this.#opts = { ...presenceDefaults, ...options };
    this.#toMember = toMember;
  }

  /** `session` was just added to `members`. Returns roomJoined for it. */
  add(room: string, session: Session, members: ReadonlySet<Session>, ref: string | null): Outbound {
    let state = this.#rooms.get(room);
    if (!state) {
      state = {
        members,
        sorted: [],
        keys: [],
        large: false,
        through: new Map(),
        pending: null,
        timer: null,
        lastCount: 0,
        lastCountAt: 0,
        changes: 0,
        lastChangeAt: 0,
        firstPage: null,
      };
      this.#rooms.set(room, state);
    }
    const key = memberSortKey(session.name);
    const at = lowerBound(state.keys, key);
    state.sorted.splice(at, 0, session);
    state.keys.splice(at, 0, key);
    if (at < this.#opts.firstPage) state.firstPage = null;
    this.#record(room, state, session, key, 'join');
    if (!state.large && members.size > this.#opts.fullPresenceMax) {
      // Turning large: everyone already in swaps the whole list for the first page.
      state.large = true;
      const reset = this.#roomJoined(room, state, null);
      for (const other of members) {
        if (other === session) continue;
        this.#setThrough(state, other, this.#opts.firstPage);
        other.send(reset);
      }
    }
    return this.roomJoined(room, session, ref);
  }

  /** `session` was just removed from `members`. */
  remove(room: string, session: Session, members: ReadonlySet<Session>): void {
    const state = this.#rooms.get(room);
    if (!state) return;
    const key = memberSortKey(session.name);
    const at = lowerBound(state.keys, key);
    if (state.sorted[at] === session) {
      state.sorted.splice(at, 1);
      state.keys.splice(at, 1);
      if (at < this.#opts.firstPage) state.firstPage = null;
    }
    state.through.delete(session);
    if (members.size === 0) {
      this.#cancel(state);
      this.#rooms.delete(room);
      return;
    }
    this.#record(room, state, session, key, 'leave');
    if (state.large && members.size < this.#opts.fullPresenceMax * SHRINK_RATIO) {
      // Small again: everyone gets the whole list, and every change from now on.
      state.large = false;
      state.through.clear();
      const full = this.#roomJoined(room, state, null);
      for (const other of members) other.send(full);
    }
  }

  /** `session`'s presence changed. */
  changed(room: string, session: Session): void {
    const state = this.#rooms.get(room);
    if (!state) return;
    const key = memberSortKey(session.name);
    if (lowerBound(state.keys, key) < this.#opts.firstPage) state.firstPage = null;
    this.#record(room, state, session, key, 'change');
  }

  /** roomJoined for a member of `room` (on join and on resume); sets where its list reaches. */
  roomJoined(room: string, session: Session, ref: string | null): Outbound {
    const state = this.#rooms.get(room)!;
    if (state.large) this.#setThrough(state, session, this.#opts.firstPage);
    return this.#roomJoined(room, state, ref);
  }

  /** A page of the member list after `after`; in a large room it extends what `session` hears. */
  page(room: string, session: Session, after: string | undefined, limit: number | undefined, ref: string | null): Outbound {
    const state = this.#rooms.get(room)!;
    const start = after === undefined ? 0 : upperBound(state.keys, memberSortKey(after));
    const end = Math.min(state.sorted.length, start + (limit ?? this.#opts.firstPage));
    const hasMore = end < state.sorted.length;
    if (state.large && state.through.has(session)) {
      if (!hasMore) state.through.delete(session);
      else if (end > 0 && state.keys[end - 1]! > state.through.get(session)!) {
        state.through.set(session, state.keys[end - 1]!);
      }
    }
    return new Outbound({
      type: 'memberPage',
      room,
      count: state.sorted.length,
      members: state.sorted.slice(start, end).map(this.#toMember),
      hasMore,
      ref,
    });
  }

  /** Sends every pending change and count now (tests, and before shutdown). */
  flush(): void {
    for (const [room, state] of this.#rooms) {
      if (state.pending || state.timer) {
        this.#cancel(state);
        this.#flush(room, state, true);
      }
    }
  }

  close(): void {
    for (const state of this.#rooms.values()) this.#cancel(state);
    this.#rooms.clear();
  }

  #roomJoined(room: string, state: RoomState, ref: string | null): Outbound {
    if (state.large) {
      state.firstPage ??= this.#page(state.sorted.slice(0, this.#opts.firstPage));
      const { members, json, bytes } = state.firstPage;
      const count = state.sorted.length;
      const hasMore = members.length < count;
      return new Outbound(
        { type: 'roomJoined', room, count, members, hasMore, ref },
        {
          head: `{"type":"roomJoined","room":${JSON.stringify(room)},"count":${count},"members":`,
          body: json,
          bodyBytes: bytes,
          tail: `,"hasMore":${hasMore},"ref":${JSON.stringify(ref)}}`,
        },
      );
    }
    const members = [...state.members];
    return new Outbound({
      type: 'roomJoined',
      room,
      count: state.sorted.length,
      members: members.map(this.#toMember),
      hasMore: members.length < state.sorted.length,
      ref,
    });
  }

  #page(sessions: readonly Session[]): FirstPage {
    const members = sessions.map(this.#toMember);
    const json = JSON.stringify(members);
    return { members, json, bytes: Buffer.from(json, 'utf8') };
  }

  #setThrough(state: RoomState, session: Session, reach: number): void {
    if (reach >= state.keys.length) state.through.delete(session);
    else state.through.set(session, state.keys[reach - 1]!);
  }

  #record(room: string, state: RoomState, session: Session, key: string, kind: 'join' | 'leave' | 'change'): void {
    state.pending ??= new Map();
    const had = state.pending.get(session.id);
    const wasThere = had ? had.wasThere : kind !== 'join';
    state.pending.set(session.id, { session, key, wasThere, gone: kind === 'leave' });
    state.changes++;
    state.lastChangeAt = Date.now();
    this.#schedule(room, state);
  }

  /** Opens a window, unless one is open: its end sends what changed in it. */
  #schedule(room: string, state: RoomState): void {
    if (state.timer === null) {
      if (state.large) {
        const timer = setTimeout(() => {
          this.#flush(room, state);
        }, this.#opts.largeFlushMs);
        timer.unref();
        state.timer = {
          cancel: () => {
            clearTimeout(timer);
          },
        };
      } else {
        const immediate = setImmediate(() => {
          this.#flush(room, state);
        });
        immediate.unref();
        state.timer = {
          cancel: () => {
            clearImmediate(immediate);
          },
        };
      }
    }
  }

  #cancel(state: RoomState): void {
    state.timer?.cancel();
    state.timer = null;
  }

  #flush(room: string, state: RoomState, force = false): void {
    state.timer = null;
    const pending = state.pending;
    state.pending = null;
    const changes = state.changes;
    state.changes = 0;
    if (this.#rooms.get(room) !== state) return;
    const entries = pending ? [...pending.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) : [];
    const count = state.sorted.length;
    const now = Date.now();
    let countChanged = count !== state.lastCount;
    if (
      countChanged &&
      state.large &&
      !force &&
      entries.length > 0 &&
      now - state.lastCountAt < this.#countEvery(count) &&
      !this.#wentQuiet(state, now, changes)
    ) {
      // A large room in a storm of joins: a count-only frame to every member each window would
      // be most of the storm's writes. Members whose part of the list changed get the count with
      // the change; the rest hear it once per #countEvery, or once the room goes quiet: at the
      // end of this window if the storm is seen to be over, else one window later (this
      // follow-up window has nothing pending unless more changes come).
      countChanged = false;
      this.#schedule(room, state);
    }
    if (countChanged) {
      state.lastCount = count;
      state.lastCountAt = now;
    }
    if (entries.length === 0 && !countChanged) return;
    const frames = new Map<number, Outbound | null>();
    const frameFor = (n: number): Outbound | null => {
      let out = frames.get(n);
      if (out === undefined) {
        out = n === 0 && !countChanged ? null : this.#delta(room, count, entries, n);
        frames.set(n, out);
      }
      return out;
    };
    const only = entries.length === 1 ? entries[0]!.session : null;
    const keys = entries.map((e) => e.key);
    for (const member of state.sorted) {
      const through = state.large ? state.through.get(member) : undefined;
      const n = through === undefined ? entries.length : upperBound(keys, through);
      // A member's own change alone is nothing new to it (it got roomJoined, or made the change).
      if (n === entries.length && member === only) continue;
      const out = frameFor(n);
      if (out) member.send(out);
    }
  }

  /**
   * Whether a large room's storm ended within the window now ending (which saw `changes`): nothing
   * has changed for QUIET_GAPS times the window's average gap between changes, and for at least
   * QUIET_SHARE of the window. After a burst of hundreds of joins that is a fifth of the window.
   * With changes arriving at random, k in a window, a gap that long ends the window with
   * probability e^-max(4, k/5) (under 2%), so a room with steady churn still sends the count only
   * every #countEvery, not every window.
   */
  #wentQuiet(state: RoomState, now: number, changes: number): boolean {
    const windowMs = this.#opts.largeFlushMs;
    return now - state.lastChangeAt >= Math.max(QUIET_SHARE * windowMs, (QUIET_GAPS * windowMs) / Math.max(1, changes));
  }

  /** How long a large room of `members` holds a count-only update while it keeps changing, in ms. */
  #countEvery(members: number): number {
    return Math.max(this.#opts.largeCountMs, (1000 * members) / this.#opts.largeCountRate);
  }

  #delta(room: string, count: number, entries: readonly Pending[], n: number): Outbound {
    const joined: Member[] = [];
    const left: string[] = [];
    const changed: Member[] = [];
    for (let i = 0; i < n; i++) {
      const e = entries[i]!;
      if (e.gone) left.push(e.session.id);
      else if (e.wasThere) changed.push(this.#toMember(e.session));
      else joined.push(this.#toMember(e.session));
    }
    return new Outbound({ type: 'members', room, count, joined, left, changed });
  }
}
