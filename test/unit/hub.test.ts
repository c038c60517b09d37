/**
 * The hub on its own: no sockets, a real in-memory SQLite store, and fake sinks that record every
 * message the hub delivers. Timers (grace period, call timeout, ICE refresh) are faked where they
 * matter; setImmediate stays real because the store group-commits on it. Member changes are
 * coalesced per tick; a sink flushes them (hub.flushPresence) before anyone reads what it got, so
 * a test sees what the members would have after the tick.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type ClientMessage,
  ErrorCode,
  HISTORY_MAX,
  type Member,
  NAME_MAX,
  normalizeName,
  PROTOCOL_VERSION,
  type ServerMessage,
  TEXT_MAX,
} from '../../src/protocol/protocol.js';
import { InvalidStateError, UserError } from '../../src/server/errors.js';
import { Call } from '../../src/server/hub/Call.js';
import { Hub, type HubLogger, type HubOptions, type IceGrant } from '../../src/server/hub/Hub.js';
import { Outbound, Session, type SessionSink } from '../../src/server/hub/Session.js';
import type {
  AppendResult,
  Conversation,
  MessageStore,
  MissedQuery,
  NewMessage,
  StoredMessage,
} from '../../src/server/store/MessageStore.js';
import { SqliteStore } from '../../src/server/store/SqliteStore.js';

type MsgType = ServerMessage['type'];
type Msg<T extends MsgType> = Extract<ServerMessage, { type: T }>;

const noop = (): void => undefined;
const silent: HubLogger = { debug: noop, info: noop, warn: noop, error: noop };

const GRACE = 30_000;
const CALL_TIMEOUT = 20_000;

/** Records what the hub delivers, in order; all sinks of a test also share one log. */
class FakeSink implements SessionSink {
  readonly #outs: Outbound[] = [];
  closed: { code: number; reason: string } | null = null;
  /** Sends the hub's pending member changes; set by setup(). */
  flush: () => void = noop;

  constructor(
    readonly label: string,
    readonly log: [string, ServerMessage][],
  ) {}

  get outs(): Outbound[] {
    this.flush();
    return this.#outs;
  }

  deliver(out: Outbound): void {
    this.#outs.push(out);
    this.log.push([this.label, out.msg]);
  }

  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }

  get msgs(): ServerMessage[] {
    return this.outs.map((o) => o.msg);
  }

  types(): MsgType[] {
    return this.msgs.map((m) => m.type);
  }

  all<T extends MsgType>(type: T): Msg<T>[] {
    return this.msgs.filter((m): m is Msg<T> => m.type === type);
  }

  last<T extends MsgType>(type: T): Msg<T> {
    const found = this.all(type).at(-1);
    if (!found) throw new Error(`${this.label} got no ${type}; got ${this.types().join(', ')}`);
    return found;
  }

  clear(): void {
    this.outs.length = 0;
  }

  /** Members that joined, left and changed, over every coalesced `members` frame, in order. */
  joined(room?: string): Member[] {
    return this.#deltas(room).flatMap((m) => m.joined);
  }

  left(room?: string): string[] {
    return this.#deltas(room).flatMap((m) => m.left);
  }

  changed(room?: string): Member[] {
    return this.#deltas(room).flatMap((m) => m.changed);
  }

  #deltas(room: string | undefined): Msg<'members'>[] {
    return this.all('members').filter((m) => room === undefined || m.room === room);
  }
}

/** A store that can hold `missed` until the test lets it go, to race live chat against a replay. */
class GatedStore implements MessageStore {
  gate: Promise<void> | null = null;
  /** 'before': read the rows, then wait; 'after': wait, then read them. */
  readAt: 'before' | 'after' = 'after';
  failAppends = false;

  constructor(readonly inner: MessageStore) {}

  append(message: NewMessage): Promise<AppendResult> {
    if (this.failAppends) return Promise.reject(new Error('disk full'));
    return this.inner.append(message);
  }
  history(
    conversation: Conversation,
    before: number | undefined,
    limit: number,
  ): Promise<StoredMessage[]> {
    return this.inner.history(conversation, before, limit);
  }
  async missed(query: MissedQuery): Promise<StoredMessage[]> {
    if (this.readAt === 'before') {
      const rows = await this.inner.missed(query);
      if (this.gate) await this.gate;
      return rows;
    }
    if (this.gate) await this.gate;
    return this.inner.missed(query);
  }
  lastId(): Promise<number> {
    return this.inner.lastId();
  }
  ready(): boolean {
    return this.inner.ready();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface User {
  session: Session;
  sink: FakeSink;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function setup(options: Partial<HubOptions> = {}) {
  const inner = new SqliteStore({ path: ':memory:' });
  const store = new GatedStore(inner);
  const log: [string, ServerMessage][] = [];
  const hub = new Hub({
    store,
    graceMs: GRACE,
    callTimeoutMs: CALL_TIMEOUT,
    ice: () => ({ iceServers: [{ urls: ['stun:stun.example'] }], expiresAt: null }),
    maxFrameBytes: 65_536,
    logger: silent,
    ...options,
  });
  cleanups.push(async () => {
    hub.close();
    await store.close();
  });

  function sink(label: string): FakeSink {
    const s = new FakeSink(label, log);
    s.flush = () => {
      hub.flushPresence();
    };
    return s;
  }

  function user(
    name: string,
    kind: 'parley' | 'chat' | 'login' = 'parley',
    ref: string | null = null,
  ): User {
    const s = sink(name);
    const session = hub.signIn(name, kind, s, { ref });
    return { session, sink: s };
  }

  /** Signs users in, then clears every sink so a test sees only what happens next. */
  function users(...names: string[]): User[] {
    const list = names.map((n) => user(n));
    hub.flushPresence();
    for (const u of list) u.sink.clear();
    log.length = 0;
    return list;
  }

  return { hub, store, inner, log, sink, user, users };
}

/** Fake the timers the hub uses; leave setImmediate real for the store. */
function fakeTimers(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
}

function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError');
}

async function userErrorAsync(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError');
}

/** A coalesced `members` frame; the count is checked where it matters. */
function delta(
  room: string,
  change: { joined?: Member[]; left?: string[]; changed?: Member[] },
  count: unknown = expect.any(Number),
): unknown {
  return {
    type: 'members',
    room,
    count,
    joined: change.joined ?? [],
    left: change.left ?? [],
    changed: change.changed ?? [],
  };
}

function toMemberOf(s: Session, presence: Member['presence'] = 'online'): Member {
  return { id: s.id, name: s.name, presence, kind: s.kind };
}

function member(u: User, presence: Member['presence'] = 'online'): Member {
  return { id: u.session.id, name: u.session.name, presence, kind: u.session.kind };
}

// ---------------------------------------------------------------------------------------------

describe('signing in', () => {
  it('gives every session its own id (u + 12 chars) and token (the id, a dot, 32 chars), across many random blocks', () => {
    const t = setup();
    const sessions = Array.from({ length: 400 }, (_, i) => t.hub.signIn(`u${i}`, 'parley', { deliver: noop, close: noop }));
    const ids = new Set(sessions.map((s) => s.id));
    const tokens = new Set(sessions.map((s) => s.token));
    expect(ids.size).toBe(400);
    expect(tokens.size).toBe(400);
    for (const s of sessions) {
      expect(s.id).toMatch(/^u[A-Za-z0-9_-]{12}$/);
      expect(s.token.startsWith(`${s.id}.`)).toBe(true);
      expect(s.token.slice(s.id.length + 1)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    }
  });

  it('welcomes the user, then puts them in the lobby', () => {
    const t = setup();
    const alice = t.user('Alice', 'parley', 'hello-1');
    expect(alice.sink.types()).toEqual(['welcome', 'roomJoined']);
    const welcome = alice.sink.last('welcome');
    expect(welcome).toEqual({
      type: 'welcome',
      version: PROTOCOL_VERSION,
      user: { id: alice.session.id, name: 'Alice' },
      token: alice.session.token,
      graceMs: GRACE,
      resumed: false,
      iceServers: [{ urls: ['stun:stun.example'] }],
      iceExpiresAt: null,
      limits: { maxFrameBytes: 65_536, maxTextLength: TEXT_MAX, historyPageMax: HISTORY_MAX },
      rooms: [],
      calls: [],
      ref: 'hello-1',
    } satisfies Msg<'welcome'>);
    expect(alice.sink.last('roomJoined')).toEqual({
      type: 'roomJoined',
      room: 'lobby',
      count: 1,
      members: [member(alice)],
      hasMore: false,
      ref: null,
    });
    expect(t.hub.sessionCount).toBe(1);
    expect(t.hub.findByName('ALICE')).toBe(alice.session);
    expect(t.hub.findById(alice.session.id)).toBe(alice.session);
  });

  it('mints distinct ids and tokens', () => {
    const t = setup();
    const [a, b] = t.users('A', 'B');
    expect(a!.session.id).not.toBe(b!.session.id);
    expect(a!.session.token).not.toBe(b!.session.token);
    expect(a!.session.token.length).toBeGreaterThanOrEqual(32);
  });

  it('legacy sessions get no ICE servers', () => {
    const ice = vi.fn((): IceGrant => ({ iceServers: [{ urls: ['stun:x'] }], expiresAt: null }));
    const t = setup({ ice });
    const legacy = t.user('Old', 'chat');
    expect(legacy.sink.last('welcome').iceServers).toEqual([]);
    expect(ice).not.toHaveBeenCalled();
  });

  describe('names are unique, case-insensitively', () => {
    it.each([['Alice'], ['alice'], ['ALICE'], ['aLiCe']])(
      '"%s" is taken once Alice is in',
      (name) => {
        const t = setup();
        const [alice] = t.users('Alice');
        const rejected = t.sink('rejected');
        const error = userError(() => t.hub.signIn(name, 'parley', rejected));
        expect(error.code).toBe(ErrorCode.nameTaken);
        expect(error.extra.suggestion).toBe(`${name}2`);
        // The refused attempt leaves no trace.
        expect(rejected.msgs).toEqual([]);
        expect(alice!.sink.msgs).toEqual([]);
        expect(t.hub.sessionCount).toBe(1);
      },
    );

    it('compares non-ASCII names case-insensitively too', () => {
      const t = setup();
      t.users('Émile');
      expect(userError(() => t.hub.signIn('ÉMILE', 'parley', t.sink('x'))).code).toBe(
        ErrorCode.nameTaken,
      );
      expect(userError(() => t.hub.signIn('émile', 'parley', t.sink('x'))).code).toBe(
        ErrorCode.nameTaken,
      );
    });

    it('suggests the next free number', () => {
      const t = setup();
      t.users('Alice', 'Alice2', 'alice3');
      expect(userError(() => t.hub.signIn('alice', 'parley', t.sink('x'))).extra.suggestion).toBe(
        'alice4',
      );
      expect(t.hub.suggestName('Bob')).toBe('Bob');
    });

    it('keeps suggestions for long names valid', () => {
      const t = setup();
      const long = 'x'.repeat(NAME_MAX);
      t.users(long);
      const suggestion = t.hub.suggestName(long);
      expect(suggestion).toBe(`${'x'.repeat(NAME_MAX - 1)}2`);
      expect(normalizeName(suggestion)).toBe(suggestion);

      // 16 astral letters fill 32 UTF-16 units; the cut must not split a surrogate pair.
      const astral = '𝒜'.repeat(16);
      expect(normalizeName(astral)).toBe(astral);
      t.users(astral);
      const astralSuggestion = t.hub.suggestName(astral);
      expect(normalizeName(astralSuggestion)).toBe(astralSuggestion);
      expect(astralSuggestion).toBe(`${'𝒜'.repeat(15)}2`);
    });

    it('legacy clients asking to be renamed take the suggestion', () => {
      const t = setup();
      t.users('Alice');
      const s = t.sink('legacy');
      const session = t.hub.signIn('alice', 'chat', s, { rename: true });
      expect(session.name).toBe('alice2');
      expect(t.hub.findByName('ALICE2')).toBe(session);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('large rooms', () => {
  // Large above 3 members, small again below 2.4; first pages of 2.
  const large = () => setup({ presence: { fullPresenceMax: 3, firstPage: 2, largeFlushMs: 50, largeCountMs: 0 } });
  const names = (list: readonly Member[]) => list.map((m) => m.name);

  it('turns large past the threshold: a count and the first page, for everyone', () => {
    const t = large();
    const [carol, alice, dave] = t.users('Carol', 'Alice', 'Dave');
    const bob = t.user('Bob');
    const reset = carol!.sink.last('roomJoined');
    expect(reset).toMatchObject({ room: 'lobby', count: 4, hasMore: true, ref: null });
    expect(names(reset.members)).toEqual(['Alice', 'Bob']);
    expect(alice!.sink.last('roomJoined')).toBe(reset);
    expect(dave!.sink.last('roomJoined')).toBe(reset);
    expect(bob.sink.last('roomJoined')).toMatchObject({ count: 4, hasMore: true });
    expect(names(bob.sink.last('roomJoined').members)).toEqual(['Alice', 'Bob']);
    // The first page is serialized once and shared; each roomJoined's text still says the same.
    const out = bob.sink.outs.find((o) => o.msg.type === 'roomJoined')!;
    expect(out.parts?.bodyBytes).toBe(
      carol!.sink.outs.find((o) => o.msg.type === 'roomJoined')!.parts?.bodyBytes,
    );
    expect(JSON.parse(out.json)).toEqual(out.msg);
  });

  it('tells each member the count, and changes only up to where its list reaches', () => {
    const t = large();
    const [alice, bob, carol, dave] = t.users('Alice', 'Bob', 'Carol', 'Dave');
    t.hub.flushPresence();
    for (const u of [alice, bob, carol, dave]) u!.sink.clear();

    const eve = t.user('Eve'); // after "bob": only the count changes for those with the first page
    expect(alice!.sink.msgs).toEqual([delta('lobby', {}, 5)]);
    const aaron = t.user('Aaron'); // before "bob": within everyone's first page
    expect(dave!.sink.last('members')).toEqual(delta('lobby', { joined: [toMemberOf(aaron.session)] }, 6));

    // Dave pages on to the end; from then on he hears about everyone.
    t.hub.memberPage(dave!.session, 'lobby', 'Bob', 2, 'm1');
    expect(dave!.sink.last('memberPage')).toMatchObject({ count: 6, hasMore: true, ref: 'm1' });
    expect(names(dave!.sink.last('memberPage').members)).toEqual(['Carol', 'Dave']);
    t.hub.memberPage(dave!.session, 'lobby', 'dave', undefined, 'm2');
    expect(dave!.sink.last('memberPage')).toMatchObject({ count: 6, hasMore: false, ref: 'm2' });
    expect(names(dave!.sink.last('memberPage').members)).toEqual(['Eve']);

    for (const u of [alice, dave]) u!.sink.clear();
    t.hub.setStatus(eve.session, 'away');
    expect(dave!.sink.msgs).toEqual([delta('lobby', { changed: [member(eve, 'away')] }, 6)]);
    expect(alice!.sink.msgs).toEqual([]);
  });

  it('waits largeFlushMs before telling a large room, then sends one frame', () => {
    fakeTimers();
    const t = large();
    const [alice] = t.users('Alice', 'Bob', 'Carol', 'Dave');
    t.hub.flushPresence();
    const log: ServerMessage[] = [];
    t.hub.signIn('Zed', 'parley', { deliver: noop, close: noop });
    t.hub.signIn('Yan', 'parley', { deliver: noop, close: noop });
    const spy = t.hub.signIn('Watcher', 'parley', { deliver: (out) => log.push(out.msg), close: noop });
    expect(spy.rooms.has('lobby')).toBe(true);
    expect(log.map((m) => m.type)).toEqual(['welcome', 'roomJoined']);
    vi.advanceTimersByTime(49);
    expect(log).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(log.slice(2)).toEqual([delta('lobby', {}, 7)]);
    expect(alice!.sink.all('members').at(-1)).toEqual(delta('lobby', {}, 7));
  });

  /**
   * A large room whose member Watcher has a list that reaches "Bob"; `join` adds members named
   * after Bob (outside Watcher's part of the list). `heard` is what Watcher hears, with when (ms
   * since the room was set up), and `counts` the `members` frames among it.
   */
  function watched(presence: NonNullable<HubOptions['presence']>) {
    fakeTimers();
    const t = setup({ presence });
    t.users('Alice', 'Bob', 'Carol', 'Dave');
    const t0 = Date.now();
    const heard: { at: number; msg: ServerMessage }[] = [];
    t.hub.signIn('Watcher', 'parley', { deliver: (out) => heard.push({ at: Date.now() - t0, msg: out.msg }), close: noop });
    let joined = 0;
    const join = (n = 1) => {
      for (let i = 0; i < n; i++) t.hub.signIn(`Zz${String(joined++).padStart(4, '0')}`, 'parley', { deliver: noop, close: noop });
    };
    vi.advanceTimersByTime(1000);
    heard.length = 0;
    return { t, heard, join, counts: () => heard.flatMap((h) => (h.msg.type === 'members' ? [{ at: h.at, count: h.msg.count }] : [])) };
  }

  /**
   * `joins` joins 10 ms apart into the room of `watched`. Returns the counts Watcher heard during
   * the storm, with when, and what it hears from then on.
   */
  function storm(presence: NonNullable<HubOptions['presence']>, joins: number) {
    const { t, heard, join, counts } = watched(presence);
    for (let i = 0; i < joins; i++) {
      join();
      vi.advanceTimersByTime(10);
    }
    const during = counts();
    heard.length = 0;
    return { t, during, heard };
  }

  it('in a storm of joins, members whose part did not change hear the count once per largeCountMs, and the last count once it is quiet', () => {
    // One join every 10 ms for 600 ms; windows end every 50 ms.
    const { t, during, heard } = storm({ fullPresenceMax: 3, firstPage: 2, largeFlushMs: 50, largeCountMs: 200 }, 60);
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect(during.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < during.length; i++) expect(during[i]!.at - during[i - 1]!.at).toBeGreaterThanOrEqual(200);
    // Quiet: the window still open ends with its changes held; the next one, with none, has the count.
    vi.advanceTimersByTime(100);
    expect(heard.map((h) => h.msg)).toEqual([delta('lobby', {}, 65)]);
    heard.length = 0;
    vi.advanceTimersByTime(1000);
    expect(heard).toEqual([]);

    // A change inside a member's part of the list is not held back: it comes with the count.
    t.hub.signIn('Aaron', 'parley', { deliver: noop, close: noop });
    t.hub.signIn('Zzz', 'parley', { deliver: noop, close: noop });
    vi.advanceTimersByTime(50);
    t.hub.signIn('Abe', 'parley', { deliver: noop, close: noop });
    vi.advanceTimersByTime(50);
    expect(heard.map((h) => h.msg)).toEqual([
      delta('lobby', { joined: [toMemberOf(t.hub.findByName('Aaron')!)] }, 67),
      delta('lobby', { joined: [toMemberOf(t.hub.findByName('Abe')!)] }, 68),
    ]);
  });

  it('after a burst of joins, the count comes at the end of the window in which the room went quiet', () => {
    // Windows of 50 ms; the count may go every 200 ms while the room keeps changing.
    const { heard, join, counts } = watched({ fullPresenceMax: 3, firstPage: 2, largeFlushMs: 50, largeCountMs: 200 });
    join(30); // at 1000 ms: the window ends at 1050 and the count goes (none for a second)
    vi.advanceTimersByTime(60);
    join(30); // at 1060: the window ends at 1110, the room quiet for all of it
    vi.advanceTimersByTime(50);
    expect(counts()).toEqual([
      { at: 1050, count: 35 },
      { at: 1110, count: 65 },
    ]);
    heard.length = 0;

    // A burst that goes on to the window's last moments is not seen to be over: the count waits
    // for the next window, which has nothing else to send.
    vi.advanceTimersByTime(100); // 1210: the last count is 100 ms old
    join(10);
    vi.advanceTimersByTime(48);
    join(10); // 1258: 2 ms before the window ends
    vi.advanceTimersByTime(2);
    expect(counts()).toEqual([]);
    vi.advanceTimersByTime(50);
    expect(counts()).toEqual([{ at: 1310, count: 85 }]);
  });

  it('a room with a join or two a window is not taken for quiet between them: the count still waits for largeCountMs', () => {
    // One join every 45 ms for 1.35 s: no 50 ms window is without a change, yet many end 10 ms or
    // more after their last one, which alone would pass for quiet.
    const { join, counts } = watched({ fullPresenceMax: 3, firstPage: 2, largeFlushMs: 50, largeCountMs: 200 });
    for (let i = 0; i < 30; i++) {
      join();
      vi.advanceTimersByTime(45);
    }
    const during = counts();
    expect(during.length).toBeGreaterThanOrEqual(5);
    expect(during.length).toBeLessThanOrEqual(7);
    for (let i = 1; i < during.length; i++) expect(during[i]!.at - during[i - 1]!.at).toBeGreaterThanOrEqual(200);
  });

  it('the bigger a large room, the less often its count goes out in a storm: at most largeCountRate count frames a second', () => {
    // 200 count frames a second: with 20 members the count may go every 100 ms, with 100 every
    // 500 ms. One join every 10 ms for 1.5 s (the room grows from 5 to 155); windows end every 50 ms.
    const { during, heard } = storm(
      { fullPresenceMax: 3, firstPage: 2, largeFlushMs: 50, largeCountMs: 100, largeCountRate: 200 },
      150,
    );
    // Every 100 ms (largeCountMs alone) would be 15 frames; the rate allows 4 (at 50, 150, 350, 750 ms).
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect(during.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < during.length; i++) {
      expect(during[i]!.at - during[i - 1]!.at).toBeGreaterThanOrEqual(Math.max(100, (1000 * during[i]!.count) / 200));
    }
    // Quiet: the last count still comes one window after the last change.
    vi.advanceTimersByTime(100);
    expect(heard.map((h) => h.msg)).toEqual([delta('lobby', {}, 155)]);
  });

  it('turns small again below the threshold: everyone gets the whole list', () => {
    const t = large();
    const [alice, bob, carol, dave] = t.users('Alice', 'Bob', 'Carol', 'Dave');
    t.hub.leave(dave!.session, 'lobby');
    expect(alice!.sink.all('roomJoined')).toEqual([]); // 3 is not below 2.4 yet
    t.hub.leave(carol!.session, 'lobby');
    const full = alice!.sink.last('roomJoined');
    expect(full).toMatchObject({ count: 2, hasMore: false });
    expect(names(full.members)).toEqual(['Alice', 'Bob']);
    expect(bob!.sink.last('roomJoined')).toBe(full);
  });

  it('pages only rooms the session is in', () => {
    const t = large();
    const [alice] = t.users('Alice');
    expect(
      userError(() => {
        t.hub.memberPage(alice!.session, 'elsewhere', undefined, undefined, null);
      }).code,
    ).toBe(ErrorCode.notInRoom);
  });
});

describe('rooms and presence', () => {
  it('sends existing members one members delta, never a second full list', () => {
    const t = setup();
    const [alice] = t.users('Alice');
    const bob = t.user('Bob');
    expect(alice!.sink.msgs).toEqual([delta('lobby', { joined: [member(bob)] }, 2)]);
    expect(bob.sink.last('roomJoined').members).toEqual([member(alice!), member(bob)]);
    expect(bob.sink.all('members')).toEqual([]);

    alice!.sink.clear();
    bob.sink.clear();
    const carol = t.user('Carol');
    expect(alice!.sink.msgs).toEqual([delta('lobby', { joined: [member(carol)] }, 3)]);
    expect(bob.sink.msgs).toEqual([delta('lobby', { joined: [member(carol)] }, 3)]);
    expect(t.hub.members('lobby').map((m) => m.name)).toEqual(['Alice', 'Bob', 'Carol']);
  });

  it('announces presence changes to the others only, and only when they change', () => {
    const t = setup();
    const [alice, bob, carol] = t.users('Alice', 'Bob', 'Carol');
    t.hub.setStatus(bob!.session, 'away');
    const changed = delta('lobby', { changed: [member(bob!, 'away')] }, 3);
    expect(alice!.sink.msgs).toEqual([changed]);
    expect(carol!.sink.msgs).toEqual([changed]);
    expect(bob!.sink.msgs).toEqual([]);

    t.hub.setStatus(bob!.session, 'away');
    expect(alice!.sink.msgs).toHaveLength(1);

    t.hub.setStatus(bob!.session, 'online');
    expect(alice!.sink.last('members').changed[0]!.presence).toBe('online');
    expect(t.hub.members('lobby').find((m) => m.id === bob!.session.id)?.presence).toBe('online');
  });

  it('sends a presence change once per shared room', () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    t.hub.join(alice!.session, 'team');
    t.hub.join(bob!.session, 'team');
    alice!.sink.clear();
    t.hub.setStatus(bob!.session, 'away');
    expect(
      alice!.sink
        .all('members')
        .filter((m) => m.changed.length > 0)
        .map((m) => m.room)
        .sort(),
    ).toEqual(['lobby', 'team']);
  });

  it('joins and leaves rooms with deltas to the other members', () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    const roomChanged = vi.fn();
    t.hub.on('roomChanged', roomChanged);

    t.hub.join(alice!.session, 'team', 'j1');
    expect(alice!.sink.msgs).toEqual([
      { type: 'roomJoined', room: 'team', count: 1, members: [member(alice!)], hasMore: false, ref: 'j1' },
    ]);
    expect(bob!.sink.msgs).toEqual([]);
    expect(t.hub.roomCount).toBe(2);

    alice!.sink.clear();
    t.hub.join(bob!.session, 'team');
    expect(alice!.sink.msgs).toEqual([delta('team', { joined: [member(bob!)] }, 2)]);
    expect(roomChanged).toHaveBeenCalledWith('team');

    // Joining again only repeats the list to the joiner.
    alice!.sink.clear();
    bob!.sink.clear();
    t.hub.join(bob!.session, 'team', 'j2');
    expect(bob!.sink.msgs).toEqual([
      {
        type: 'roomJoined',
        room: 'team',
        count: 2,
        members: [member(alice!), member(bob!)],
        hasMore: false,
        ref: 'j2',
      },
    ]);
    expect(alice!.sink.msgs).toEqual([]);

    t.hub.leave(bob!.session, 'team', 'l1');
    expect(bob!.sink.last('roomLeft')).toEqual({ type: 'roomLeft', room: 'team', ref: 'l1' });
    expect(alice!.sink.msgs).toEqual([delta('team', { left: [bob!.session.id] }, 1)]);
    expect(
      userError(() => {
        t.hub.leave(bob!.session, 'team');
      }).code,
    ).toBe(ErrorCode.notInRoom);

    t.hub.leave(alice!.session, 'team');
    expect(t.hub.roomCount).toBe(1);
    expect(t.hub.members('team')).toEqual([]);
  });

  it('coalesces the changes of one tick into one members frame, serialized once', async () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    // No flush in between: these all happen within one tick.
    const carol = t.hub.signIn('Carol', 'parley', t.sink('Carol'));
    const dave = t.hub.signIn('Dave', 'parley', t.sink('Dave'));
    t.hub.setStatus(bob!.session, 'away');
    t.hub.end(dave);
    await new Promise((r) => setImmediate(r));
    const frame = {
      type: 'members',
      room: 'lobby',
      count: 3,
      joined: [toMemberOf(carol)],
      left: [dave.id],
      changed: [member(bob!, 'away')],
    };
    expect(alice!.sink.msgs).toEqual([frame]);
    expect(bob!.sink.msgs).toEqual([frame]);
    expect(alice!.sink.outs[0]).toBe(bob!.sink.outs[0]);
  });

  it('flushes a tick of changes by itself, without anyone asking', async () => {
    const t = setup();
    const [alice] = t.users('Alice');
    const log: ServerMessage[] = [];
    const quiet = new FakeSink('quiet', []);
    const watcher = t.hub.signIn('Watcher', 'parley', {
      deliver: (out) => log.push(out.msg),
      close: noop,
    });
    t.hub.signIn('Bob', 'parley', quiet);
    expect(log.map((m) => m.type)).toEqual(['welcome', 'roomJoined']);
    await new Promise((r) => setImmediate(r));
    // Sorted by name; the watcher hears about itself too, as it is not the only change.
    expect(log.at(-1)).toMatchObject({
      type: 'members',
      count: 3,
      joined: [{ name: 'Bob' }, { name: 'Watcher' }],
    });
    expect(watcher.rooms.has('lobby')).toBe(true);
    expect(alice!.sink.joined().map((m) => m.name)).toEqual(['Bob', 'Watcher']);
  });

  it('a session may leave the lobby', () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    t.hub.leave(bob!.session, 'lobby');
    expect(alice!.sink.msgs).toEqual([delta('lobby', { left: [bob!.session.id] }, 1)]);
    expect([...bob!.session.rooms]).toEqual([]);
  });

  it('refuses more rooms than allowed with room_limit', () => {
    const t = setup({ maxRoomsPerSession: 3 });
    const [alice, bob] = t.users('Alice', 'Bob');
    t.hub.join(bob!.session, 'c');
    t.hub.join(alice!.session, 'a');
    t.hub.join(alice!.session, 'b');
    bob!.sink.clear();
    alice!.sink.clear();
    expect(
      userError(() => {
        t.hub.join(alice!.session, 'c');
      }).code,
    ).toBe(ErrorCode.roomLimit);
    expect(bob!.sink.msgs).toEqual([]);
    expect(alice!.sink.msgs).toEqual([]);
    expect([...alice!.session.rooms].sort()).toEqual(['a', 'b', 'lobby']);
    // A room already joined is not a new one.
    t.hub.join(alice!.session, 'a');
    expect(alice!.sink.last('roomJoined').room).toBe('a');
    t.hub.leave(alice!.session, 'a');
    t.hub.join(alice!.session, 'c');
    expect([...alice!.session.rooms].sort()).toEqual(['b', 'c', 'lobby']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('chat', () => {
  it('acknowledges the sender, then fans out to the room, not back to the sender', async () => {
    const t = setup();
    const [alice, bob, carol, dave] = t.users('Alice', 'Bob', 'Carol', 'Dave');
    t.hub.leave(dave!.session, 'lobby');
    t.hub.join(dave!.session, 'other');
    for (const u of [alice, bob, carol, dave]) u!.sink.clear();
    t.log.length = 0;

    const stored = await t.hub.chat(alice!.session, 'lobby', 'c-1', 'hello', 'ref-1');
    const ack = alice!.sink.last('ack');
    expect(ack).toEqual({
      type: 'ack',
      clientId: 'c-1',
      id: stored.id,
      ts: stored.ts,
      ref: 'ref-1',
    });
    expect(alice!.sink.all('message')).toEqual([]);

    const message = {
      type: 'message',
      message: {
        id: stored.id,
        ts: stored.ts,
        from: { id: alice!.session.id, name: 'Alice' },
        text: 'hello',
        clientId: 'c-1',
        room: 'lobby',
      },
    };
    expect(bob!.sink.msgs).toEqual([message]);
    expect(carol!.sink.msgs).toEqual([message]);
    expect(dave!.sink.msgs).toEqual([]);
    // The ack goes out before anyone else sees the message.
    expect(t.log.map(([who, m]) => `${who}:${m.type}`)).toEqual([
      'Alice:ack',
      'Bob:message',
      'Carol:message',
    ]);
    // One Outbound for the whole room: serialized once.
    expect(bob!.sink.outs[0]).toBe(carol!.sink.outs[0]);
  });

  it('acknowledges a duplicate clientId with the same id and does not fan it out again', async () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    const first = await t.hub.chat(alice!.session, 'lobby', 'c-1', 'hello');
    const again = await t.hub.chat(alice!.session, 'lobby', 'c-1', 'hello (re-sent)', 'retry');
    expect(again).toEqual(first);
    expect(alice!.sink.all('ack').map((a) => [a.clientId, a.id, a.ref])).toEqual([
      ['c-1', first.id, null],
      ['c-1', first.id, 'retry'],
    ]);
    expect(bob!.sink.all('message')).toHaveLength(1);
    expect(await t.store.lastId()).toBe(first.id);
  });

  it('refuses a room the sender is not in, and stores nothing', async () => {
    const t = setup();
    const [alice] = t.users('Alice');
    expect((await userErrorAsync(t.hub.chat(alice!.session, 'elsewhere', 'c', 'x'))).code).toBe(
      ErrorCode.notInRoom,
    );
    expect(await t.store.lastId()).toBe(0);
    expect(alice!.sink.msgs).toEqual([]);
  });

  it('answers internal when the store fails, and neither acks nor fans out', async () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    t.store.failAppends = true;
    expect((await userErrorAsync(t.hub.chat(alice!.session, 'lobby', 'c', 'x'))).code).toBe(
      ErrorCode.internal,
    );
    expect(alice!.sink.msgs).toEqual([]);
    expect(bob!.sink.msgs).toEqual([]);
  });

  it('keeps concurrent messages in id order for every member', async () => {
    const t = setup();
    const [alice, bob, carol] = t.users('Alice', 'Bob', 'Carol');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.hub.chat((i % 2 ? alice : bob)!.session, 'lobby', `c${i}`, `m${i}`),
      ),
    );
    const ids = carol!.sink.all('message').map((m) => m.message.id);
    expect(ids).toHaveLength(20);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  describe('direct messages', () => {
    it('go only to the recipient, who must share a room', async () => {
      const t = setup();
      const [alice, bob, carol] = t.users('Alice', 'Bob', 'Carol');
      const stored = await t.hub.dm(alice!.session, bob!.session.id, 'd-1', 'psst', 'r');
      expect(alice!.sink.msgs).toEqual([
        { type: 'ack', clientId: 'd-1', id: stored.id, ts: stored.ts, ref: 'r' },
      ]);
      expect(bob!.sink.msgs).toEqual([
        {
          type: 'message',
          message: {
            id: stored.id,
            ts: stored.ts,
            from: { id: alice!.session.id, name: 'Alice' },
            text: 'psst',
            clientId: 'd-1',
            to: bob!.session.id,
          },
        },
      ]);
      expect(carol!.sink.msgs).toEqual([]);
    });

    it('to someone who shares no room is user_not_found', async () => {
      const t = setup();
      const [alice, dave] = t.users('Alice', 'Dave');
      t.hub.leave(dave!.session, 'lobby');
      t.hub.join(dave!.session, 'other');
      dave!.sink.clear();
      expect(
        (await userErrorAsync(t.hub.dm(alice!.session, dave!.session.id, 'd', 'x'))).code,
      ).toBe(ErrorCode.userNotFound);
      expect((await userErrorAsync(t.hub.dm(alice!.session, 'u-nobody', 'd', 'x'))).code).toBe(
        ErrorCode.userNotFound,
      );
      expect(dave!.sink.msgs).toEqual([]);
      expect(await t.store.lastId()).toBe(0);

      // Sharing any room is enough.
      t.hub.join(alice!.session, 'other');
      await t.hub.dm(alice!.session, dave!.session.id, 'd2', 'now we share a room');
      expect(dave!.sink.last('message').message.text).toBe('now we share a room');
    });

    it('to oneself is stored and acknowledged but not delivered twice', async () => {
      const t = setup();
      const [alice] = t.users('Alice');
      await t.hub.dm(alice!.session, alice!.session.id, 'note', 'remember the milk');
      expect(alice!.sink.types()).toEqual(['ack']);
    });

    it('to a login-protocol client is not_supported', async () => {
      const t = setup();
      const [alice] = t.users('Alice');
      const old = t.user('Old', 'login');
      expect((await userErrorAsync(t.hub.dm(alice!.session, old.session.id, 'd', 'x'))).code).toBe(
        ErrorCode.notSupported,
      );
    });

    it('are deduplicated by clientId', async () => {
      const t = setup();
      const [alice, bob] = t.users('Alice', 'Bob');
      const a = await t.hub.dm(alice!.session, bob!.session.id, 'd', 'x');
      const b = await t.hub.dm(alice!.session, bob!.session.id, 'd', 'x');
      expect(b.id).toBe(a.id);
      expect(alice!.sink.all('ack').map((m) => m.id)).toEqual([a.id, a.id]);
      expect(bob!.sink.all('message')).toHaveLength(1);
    });
  });

  describe('history', () => {
    it('pages a room backwards with hasMore', async () => {
      const t = setup();
      const [alice] = t.users('Alice');
      const ids: number[] = [];
      for (let i = 1; i <= 5; i++)
        ids.push((await t.hub.chat(alice!.session, 'lobby', `c${i}`, `m${i}`)).id);
      alice!.sink.clear();

      const page = async (before: number | undefined, limit: number) => {
        await t.hub.history(alice!.session, { room: 'lobby', before, limit }, 'h');
        const h = alice!.sink.last('history');
        return { ids: h.messages.map((m) => m.id), hasMore: h.hasMore };
      };
      expect(await page(undefined, 2)).toEqual({ ids: [ids[3], ids[4]], hasMore: true });
      expect(await page(ids[3], 2)).toEqual({ ids: [ids[1], ids[2]], hasMore: true });
      expect(await page(ids[1], 2)).toEqual({ ids: [ids[0]], hasMore: false });
      // Exactly `limit` left: no more.
      expect(await page(ids[2], 2)).toEqual({ ids: [ids[0], ids[1]], hasMore: false });
      expect(await page(undefined, 5)).toEqual({ ids, hasMore: false });

      const h = alice!.sink.last('history');
      expect(h).toMatchObject({ type: 'history', room: 'lobby', peer: null, ref: 'h' });
      expect(h.messages[0]).toEqual({
        id: ids[0],
        ts: expect.any(Number) as number,
        from: { id: alice!.session.id, name: 'Alice' },
        text: 'm1',
        clientId: 'c1',
        room: 'lobby',
      });
    });

    it('defaults to 50 messages', async () => {
      const t = setup();
      const [alice] = t.users('Alice');
      await Promise.all(
        Array.from({ length: 60 }, (_, i) => t.hub.chat(alice!.session, 'lobby', `c${i}`, `m${i}`)),
      );
      await t.hub.handle(alice!.session, { type: 'history', room: 'lobby' });
      const h = alice!.sink.last('history');
      expect(h.messages).toHaveLength(50);
      expect(h.messages[49]?.text).toBe('m59');
      expect(h.hasMore).toBe(true);
    });

    it('pages direct messages with a peer', async () => {
      const t = setup();
      const [alice, bob, carol] = t.users('Alice', 'Bob', 'Carol');
      await t.hub.dm(alice!.session, bob!.session.id, 'a', 'hi bob');
      await t.hub.dm(bob!.session, alice!.session.id, 'b', 'hi alice');
      await t.hub.dm(alice!.session, carol!.session.id, 'c', 'hi carol');
      await t.hub.history(bob!.session, { peer: alice!.session.id, limit: 10 }, null);
      const h = bob!.sink.last('history');
      expect(h.room).toBeNull();
      expect(h.peer).toBe(alice!.session.id);
      expect(h.messages.map((m) => m.text)).toEqual(['hi bob', 'hi alice']);
      expect(h.hasMore).toBe(false);
    });

    it('refuses a room the user is not in', async () => {
      const t = setup();
      const [alice] = t.users('Alice');
      expect(
        (await userErrorAsync(t.hub.history(alice!.session, { room: 'secret' }, null))).code,
      ).toBe(ErrorCode.notInRoom);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('detach, grace and end', () => {
  it('keeps a dropped user present through the grace period, then ends them', () => {
    fakeTimers();
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    const ended = vi.fn();
    t.hub.on('sessionEnded', ended);

    t.hub.detach(bob!.session, bob!.sink);
    expect(bob!.session.state).toBe('detached');
    expect(alice!.sink.msgs).toEqual([]);
    expect(t.hub.members('lobby').map((m) => m.name)).toEqual(['Alice', 'Bob']);
    // The name stays reserved while Bob may come back.
    expect(userError(() => t.hub.signIn('bob', 'parley', t.sink('x'))).code).toBe(
      ErrorCode.nameTaken,
    );

    vi.advanceTimersByTime(GRACE - 1);
    expect(alice!.sink.msgs).toEqual([]);
    expect(ended).not.toHaveBeenCalled();

    vi.advanceTimersByTime(1);
    expect(alice!.sink.msgs).toEqual([delta('lobby', { left: [bob!.session.id] }, 1)]);
    expect(ended).toHaveBeenCalledWith(bob!.session);
    expect(bob!.session.state).toBe('ended');
    expect(t.hub.findById(bob!.session.id)).toBeUndefined();
    // A detached session had no connection left to close.
    expect(bob!.sink.closed).toBeNull();

    const newBob = t.user('bob');
    expect(newBob.session.name).toBe('bob');
    expect(newBob.session.id).not.toBe(bob!.session.id);
  });

  it('cannot be resumed once the grace period is over', async () => {
    fakeTimers();
    const t = setup();
    const [bob] = t.users('Bob');
    t.hub.detach(bob!.session, bob!.sink);
    vi.advanceTimersByTime(GRACE);
    const s = t.sink('late');
    expect((await userErrorAsync(t.hub.resume(bob!.session.token, undefined, s))).code).toBe(
      ErrorCode.resumeFailed,
    );
    expect(s.msgs).toEqual([]);
    expect((await userErrorAsync(t.hub.resume('no-such-token', undefined, s))).code).toBe(
      ErrorCode.resumeFailed,
    );
  });

  it("finds a session by its token only with the token's whole secret", async () => {
    fakeTimers();
    const t = setup();
    const [ann, bob] = t.users('Ann', 'Bob');
    const token = bob!.session.token;
    const secret = token.slice(token.indexOf('.') + 1);
    expect(t.hub.findByToken(token)).toBe(bob!.session);
    const wrong = [
      `${bob!.session.id}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`,
      `${bob!.session.id}.${secret.slice(1)}`,
      `${bob!.session.id}.${secret}x`,
      `${bob!.session.id}.`,
      `${ann!.session.id}.${secret}`,
      secret,
      `.${secret}`,
      `${token}.${secret}`,
    ];
    for (const guess of wrong) expect(t.hub.findByToken(guess), guess).toBeUndefined();
    t.hub.detach(bob!.session, bob!.sink);
    for (const guess of wrong) {
      expect((await userErrorAsync(t.hub.resume(guess, undefined, t.sink('guess')))).code, guess).toBe(
        ErrorCode.resumeFailed,
      );
    }
    expect((await t.hub.resume(token, undefined, t.sink('bob again'))).id).toBe(bob!.session.id);
  });

  it("ignores a detach from a connection that is no longer the session's", () => {
    fakeTimers();
    const t = setup();
    const [bob] = t.users('Bob');
    t.hub.detach(bob!.session, t.sink('stale'));
    expect(bob!.session.state).toBe('live');
    vi.advanceTimersByTime(GRACE * 2);
    expect(bob!.session.state).toBe('live');
  });

  it('ends legacy sessions at once', () => {
    const t = setup();
    const [alice] = t.users('Alice');
    const old = t.user('Old', 'chat');
    alice!.sink.clear();
    t.hub.detach(old.session, old.sink);
    expect(old.session.state).toBe('ended');
    expect(alice!.sink.msgs).toEqual([delta('lobby', { left: [old.session.id] }, 1)]);
    expect(t.hub.findByName('old')).toBeUndefined();
  });

  it('ends at once when the grace period is 0', () => {
    const t = setup({ graceMs: 0 });
    const [alice, bob] = t.users('Alice', 'Bob');
    t.hub.detach(bob!.session, bob!.sink);
    expect(bob!.session.state).toBe('ended');
    expect(alice!.sink.left()).toEqual([bob!.session.id]);
  });

  it('end() on a live session closes its connection and is idempotent', () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    t.hub.end(bob!.session);
    t.hub.end(bob!.session);
    expect(bob!.sink.closed).toEqual({ code: 4002, reason: 'session ended' });
    expect(alice!.sink.left()).toHaveLength(1);
    expect(t.hub.sessionCount).toBe(1);
  });

  it('close() ends every session', () => {
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    t.hub.close();
    expect(t.hub.sessionCount).toBe(0);
    expect(t.hub.roomCount).toBe(0);
    expect(alice!.sink.closed?.code).toBe(4002);
    expect(bob!.sink.closed?.code).toBe(4002);
  });
});

describe('resume', () => {
  it('restores rooms with full lists and replays missed messages in order, once each', async () => {
    fakeTimers();
    const t = setup();
    const [alice, bob, carol] = t.users('Alice', 'Bob', 'Carol');
    t.hub.join(alice!.session, 'team');
    t.hub.join(bob!.session, 'team');
    const seen = await t.hub.chat(alice!.session, 'lobby', 'c0', 'seen before the drop');
    expect(bob!.session.lastDeliveredId).toBe(seen.id);
    for (const u of [alice, bob, carol]) u!.sink.clear();

    t.hub.detach(bob!.session, bob!.sink);
    const missed = [
      await t.hub.chat(alice!.session, 'lobby', 'c1', 'one'),
      await t.hub.chat(carol!.session, 'lobby', 'c2', 'two'),
      await t.hub.chat(alice!.session, 'team', 'c3', 'three'),
      await t.hub.dm(alice!.session, bob!.session.id, 'c4', 'four'),
    ];
    await t.hub.dm(alice!.session, carol!.session.id, 'c5', 'not for bob');
    t.hub.join(carol!.session, 'elsewhere');
    await t.hub.chat(carol!.session, 'elsewhere', 'c6', "not in bob's rooms");
    expect(bob!.sink.msgs).toEqual([]);

    vi.advanceTimersByTime(GRACE - 1);
    const sink = t.sink('Bob2');
    const session = await t.hub.resume(bob!.session.token, undefined, sink, 'res-1');
    expect(session).toBe(bob!.session);
    expect(session.state).toBe('live');

    expect(sink.types()).toEqual([
      'welcome',
      'roomJoined',
      'roomJoined',
      'message',
      'message',
      'message',
      'message',
    ]);
    const welcome = sink.last('welcome');
    expect(welcome).toMatchObject({
      resumed: true,
      ref: 'res-1',
      user: { id: bob!.session.id, name: 'Bob' },
    });
    expect(welcome.rooms.sort()).toEqual(['lobby', 'team']);
    expect(sink.all('roomJoined').map((r) => [r.room, r.members.map((m) => m.name)])).toEqual([
      ['lobby', ['Alice', 'Bob', 'Carol']],
      ['team', ['Alice', 'Bob']],
    ]);
    expect(sink.all('message').map((m) => m.message.id)).toEqual(missed.map((m) => m.id));
    expect(bob!.session.lastDeliveredId).toBe(missed.at(-1)!.id);

    // Nobody saw Bob leave or come back, and the grace timer is gone.
    expect(alice!.sink.left()).toEqual([]);
    expect(alice!.sink.joined().filter((m) => m.id === bob!.session.id)).toEqual([]);
    vi.advanceTimersByTime(GRACE * 2);
    expect(bob!.session.state).toBe('live');

    // Live chat flows again.
    await t.hub.chat(alice!.session, 'lobby', 'c7', 'welcome back');
    expect(sink.last('message').message.text).toBe('welcome back');
  });

  it('replays from `since` when the client says what it has', async () => {
    fakeTimers();
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    const m1 = await t.hub.chat(alice!.session, 'lobby', 'c1', 'one');
    const m2 = await t.hub.chat(alice!.session, 'lobby', 'c2', 'two');
    t.hub.detach(bob!.session, bob!.sink);
    const m3 = await t.hub.chat(alice!.session, 'lobby', 'c3', 'three');
    const sink = t.sink('Bob2');
    await t.hub.resume(bob!.session.token, m1.id, sink);
    expect(sink.all('message').map((m) => m.message.id)).toEqual([m2.id, m3.id]);
  });

  it.each([
    ['replay reads after the live message is stored', 'after'],
    ['replay reads before the live message is stored', 'before'],
  ] as const)(
    'holds live chat during the replay (%s): in order, no duplicates',
    async (_label, readAt) => {
      fakeTimers();
      const t = setup();
      const [alice, bob] = t.users('Alice', 'Bob');
      t.hub.detach(bob!.session, bob!.sink);
      const offline = await t.hub.chat(alice!.session, 'lobby', 'c1', 'while away');

      let open!: () => void;
      t.store.gate = new Promise((resolve) => {
        open = resolve;
      });
      t.store.readAt = readAt;
      const sink = t.sink('Bob2');
      const resumed = t.hub.resume(bob!.session.token, undefined, sink);
      // A message arrives while the replay is still reading the store.
      const live = await t.hub.chat(alice!.session, 'lobby', 'c2', 'during replay');
      expect(sink.all('message')).toEqual([]);
      open();
      await resumed;
      t.store.gate = null;

      expect(sink.all('message').map((m) => m.message.id)).toEqual([offline.id, live.id]);
      expect(bob!.session.lastDeliveredId).toBe(live.id);
      await t.hub.chat(alice!.session, 'lobby', 'c3', 'after');
      expect(sink.all('message').map((m) => m.message.text)).toEqual([
        'while away',
        'during replay',
        'after',
      ]);
    },
  );

  it('does not replay what was stored before the session signed in', async () => {
    fakeTimers();
    const t = setup();
    const [alice] = t.users('Alice');
    await t.hub.chat(alice!.session, 'lobby', 'c1', 'before Bob came');
    const bob = t.user('Bob');
    t.hub.detach(bob.session, bob.sink);
    const after = await t.hub.chat(alice!.session, 'lobby', 'c2', 'while Bob was away');
    const sink = t.sink('Bob2');
    await t.hub.resume(bob.session.token, undefined, sink);
    expect(sink.all('message').map((m) => m.message.id)).toEqual([after.id]);
  });

  it('does not replay what was stored before a restart either', async () => {
    fakeTimers();
    const first = setup();
    const [alice] = first.users('Alice');
    await first.hub.chat(alice!.session, 'lobby', 'c1', 'before the restart');
    // A second hub on the same store, as after a restart.
    const hub = new Hub({
      store: first.store,
      graceMs: GRACE,
      callTimeoutMs: CALL_TIMEOUT,
      ice: () => ({ iceServers: [], expiresAt: null }),
      maxFrameBytes: 65_536,
      logger: silent,
    });
    cleanups.unshift(() => {
      hub.close();
      return Promise.resolve();
    });
    await new Promise((resolve) => setImmediate(resolve));
    const s = first.sink('Bob');
    const bob = hub.signIn('Bob', 'parley', s);
    hub.detach(bob, s);
    const sink = first.sink('Bob2');
    await hub.resume(bob.token, undefined, sink);
    expect(sink.all('message')).toEqual([]);
  });

  it('taking over a live session closes the old connection, whose later detach is ignored', async () => {
    fakeTimers();
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    const sink = t.sink('Bob2');
    await t.hub.resume(bob!.session.token, undefined, sink);
    expect(bob!.sink.closed).toEqual({
      code: 4001,
      reason: 'session resumed on another connection',
    });
    t.hub.detach(bob!.session, bob!.sink);
    expect(bob!.session.state).toBe('live');
    await t.hub.chat(alice!.session, 'lobby', 'c', 'to the new connection');
    expect(sink.last('message').message.text).toBe('to the new connection');
    expect(bob!.sink.all('message')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('calls', () => {
  function callSetup(options: Partial<HubOptions> = {}) {
    fakeTimers();
    const t = setup(options);
    const [alice, bob, carol] = t.users('Alice', 'Bob', 'Carol');
    return { t, alice: alice!, bob: bob!, carol: carol! };
  }

  function invite(
    t: ReturnType<typeof setup>,
    from: User,
    to: User,
    media: 'audio' | 'video' = 'video',
  ): string {
    const call = t.hub.callInvite(from.session, to.session.id, media, 'inv');
    expect(call).not.toBeNull();
    return call!.id;
  }

  function clearAll(...users: User[]): void {
    for (const u of users) u.sink.clear();
  }

  it('rings the callee and tells the caller', () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob, 'video');
    expect(alice.sink.msgs).toEqual([
      { type: 'callRinging', callId, to: bob.session.id, media: 'video', ref: 'inv' },
    ]);
    expect(bob.sink.msgs).toEqual([
      { type: 'callIncoming', callId, from: member(alice), media: 'video' },
    ]);
    expect(carol.sink.msgs).toEqual([]);
    expect(t.hub.callCount).toBe(1);
    // Ringing is not "in a call" for presence.
    expect(t.hub.members('lobby').every((m) => m.presence === 'online')).toBe(true);
  });

  it('accept makes the call active and shows both as inCall', () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob, 'video');
    clearAll(alice, bob, carol);
    t.hub.callAccept(bob.session, callId, 'video');
    const accepted = { type: 'callAccepted', callId, media: 'video' };
    expect(alice.sink.msgs[0]).toEqual(accepted);
    expect(bob.sink.msgs[0]).toEqual(accepted);
    expect(carol.sink.changed().map((m) => [m.name, m.presence])).toEqual([
      ['Alice', 'inCall'],
      ['Bob', 'inCall'],
    ]);
    // One coalesced frame for both, shared by everyone in the room (serialized once).
    expect(carol.sink.all('members')).toHaveLength(1);
    expect(alice.sink.all('members')[0]).toBe(carol.sink.all('members')[0]);
    expect(t.hub.members('lobby').map((m) => m.presence)).toEqual(['inCall', 'inCall', 'online']);
    expect(t.hub.callOf(alice.session)?.state).toBe('active');
  });

  it.each([
    ['video', 'video', 'video'],
    ['video', 'audio', 'audio'],
    ['audio', 'video', 'audio'],
    ['audio', 'audio', 'audio'],
  ] as const)('invite %s + accept %s is a %s call', (offered, accepted, result) => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob, offered);
    t.hub.callAccept(bob.session, callId, accepted);
    expect(alice.sink.last('callAccepted').media).toBe(result);
  });

  it('relays signals and media state between the parties only, stamped with the sender', () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.callAccept(bob.session, callId, 'video');
    clearAll(alice, bob, carol);
    const data = { kind: 'description', description: { type: 'offer', sdp: 'v=0\r\n' } } as const;
    t.hub.signal(alice.session, callId, data);
    expect(bob.sink.msgs).toEqual([{ type: 'signal', callId, from: alice.session.id, data }]);
    t.hub.signal(bob.session, callId, { kind: 'candidate', candidate: null });
    expect(alice.sink.last('signal')).toEqual({
      type: 'signal',
      callId,
      from: bob.session.id,
      data: { kind: 'candidate', candidate: null },
    });
    t.hub.callMedia(bob.session, callId, false, true);
    expect(alice.sink.last('callMedia')).toEqual({
      type: 'callMedia',
      callId,
      from: bob.session.id,
      audio: false,
      video: true,
    });
    expect(carol.sink.msgs).toEqual([]);
  });

  it('hangup ends an active call for both and restores presence', () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.callAccept(bob.session, callId, 'audio');
    clearAll(alice, bob, carol);
    t.hub.callHangup(bob.session, callId);
    const ended = { type: 'callEnded', callId, reason: 'hangup', ref: null };
    expect(alice.sink.msgs[0]).toEqual(ended);
    expect(bob.sink.msgs[0]).toEqual(ended);
    expect(carol.sink.changed().map((m) => [m.name, m.presence])).toEqual([
      ['Alice', 'online'],
      ['Bob', 'online'],
    ]);
    expect(t.hub.callCount).toBe(0);
    expect(alice.session.call).toBeNull();
    expect(bob.session.call).toBeNull();
    expect(
      userError(() => {
        t.hub.signal(alice.session, callId, { kind: 'candidate', candidate: null });
      }).code,
    ).toBe(ErrorCode.callNotFound);
    expect(
      userError(() => {
        t.hub.callHangup(alice.session, callId);
      }).code,
    ).toBe(ErrorCode.callNotFound);
    // Both are free to call again.
    expect(t.hub.callInvite(alice.session, carol.session.id, 'audio')).not.toBeNull();
  });

  it('decline ends a ringing call; only the callee may decline', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    expect(
      userError(() => {
        t.hub.callDecline(alice.session, callId);
      }).code,
    ).toBe(ErrorCode.callState);
    clearAll(alice, bob);
    t.hub.callDecline(bob.session, callId);
    expect(alice.sink.msgs).toEqual([{ type: 'callEnded', callId, reason: 'declined', ref: null }]);
    expect(bob.sink.msgs).toEqual([{ type: 'callEnded', callId, reason: 'declined', ref: null }]);
    expect(t.hub.callCount).toBe(0);
  });

  it('cancel ends a ringing call; only the caller may cancel', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    expect(
      userError(() => {
        t.hub.callCancel(bob.session, callId);
      }).code,
    ).toBe(ErrorCode.callState);
    t.hub.callCancel(alice.session, callId);
    expect(alice.sink.last('callEnded').reason).toBe('cancelled');
    expect(bob.sink.last('callEnded').reason).toBe('cancelled');
  });

  it('cannot be cancelled or declined once active', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.callAccept(bob.session, callId, 'audio');
    expect(
      userError(() => {
        t.hub.callCancel(alice.session, callId);
      }).code,
    ).toBe(ErrorCode.callState);
    expect(
      userError(() => {
        t.hub.callDecline(bob.session, callId);
      }).code,
    ).toBe(ErrorCode.callState);
    expect(
      userError(() => {
        t.hub.callAccept(bob.session, callId, 'audio');
      }).code,
    ).toBe(ErrorCode.callState);
  });

  it('hangup while ringing counts as cancel from the caller and decline from the callee', () => {
    const { t, alice, bob, carol } = callSetup();
    const first = invite(t, alice, bob);
    t.hub.callHangup(alice.session, first);
    expect(bob.sink.last('callEnded')).toMatchObject({ callId: first, reason: 'cancelled' });
    const second = invite(t, carol, bob);
    t.hub.callHangup(bob.session, second);
    expect(carol.sink.last('callEnded')).toMatchObject({ callId: second, reason: 'declined' });
  });

  it('only the callee can accept', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    expect(
      userError(() => {
        t.hub.callAccept(alice.session, callId, 'audio');
      }).code,
    ).toBe(ErrorCode.callState);
  });

  it('a callee already in a call makes the caller hear busy, with the invite ref', () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob);
    clearAll(alice, bob, carol);
    expect(t.hub.callInvite(carol.session, bob.session.id, 'audio', 'inv-2')).toBeNull();
    expect(carol.sink.msgs).toEqual([
      { type: 'callEnded', callId: expect.any(String) as string, reason: 'busy', ref: 'inv-2' },
    ]);
    expect(carol.sink.last('callEnded').callId).not.toBe(callId);
    expect(bob.sink.msgs).toEqual([]);
    expect(alice.sink.msgs).toEqual([]);
    expect(carol.session.call).toBeNull();
    expect(t.hub.callCount).toBe(1);
  });

  it('rings out after the call timeout', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    vi.advanceTimersByTime(CALL_TIMEOUT - 1);
    expect(alice.sink.all('callEnded')).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(alice.sink.last('callEnded')).toEqual({
      type: 'callEnded',
      callId,
      reason: 'timeout',
      ref: null,
    });
    expect(bob.sink.last('callEnded').reason).toBe('timeout');
    expect(t.hub.callCount).toBe(0);
    expect(
      userError(() => {
        t.hub.callAccept(bob.session, callId, 'audio');
      }).code,
    ).toBe(ErrorCode.callNotFound);
  });

  it('an accepted call does not time out', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    vi.advanceTimersByTime(CALL_TIMEOUT - 1);
    t.hub.callAccept(bob.session, callId, 'audio');
    vi.advanceTimersByTime(CALL_TIMEOUT * 10);
    expect(alice.sink.all('callEnded')).toEqual([]);
    expect(t.hub.callOf(alice.session)?.state).toBe('active');
  });

  it('a declined call does not time out later', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.callDecline(bob.session, callId);
    vi.advanceTimersByTime(CALL_TIMEOUT * 2);
    expect(alice.sink.all('callEnded').map((m) => m.reason)).toEqual(['declined']);
  });

  it("survives a party's short disconnect and ends when the grace period runs out", () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.callAccept(bob.session, callId, 'audio');
    clearAll(alice, bob, carol);
    t.hub.detach(bob.session, bob.sink);
    vi.advanceTimersByTime(GRACE - 1);
    expect(alice.sink.msgs).toEqual([]);
    expect(t.hub.callOf(alice.session)?.state).toBe('active');
    vi.advanceTimersByTime(1);
    expect(alice.sink.msgs[0]).toEqual({
      type: 'callEnded',
      callId,
      reason: 'disconnected',
      ref: null,
    });
    expect(alice.sink.left()).toEqual([bob.session.id]);
    expect(alice.session.call).toBeNull();
    expect(t.hub.callCount).toBe(0);
    expect(
      carol.sink.changed().find((m) => m.id === alice.session.id)?.presence,
    ).toBe('online');
  });

  it('buffers signaling for a party who drops and hands it over on resume', async () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob, 'audio');
    t.hub.callAccept(bob.session, callId, 'audio');
    t.hub.flushPresence(); // the tick passes: both are seen in the call
    t.hub.detach(bob.session, bob.sink);
    const data = {
      kind: 'candidate',
      candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host' },
    } as const;
    t.hub.signal(alice.session, callId, data);
    t.hub.callMedia(alice.session, callId, true, false);
    const sink = t.sink('Bob2');
    await t.hub.resume(bob.session.token, undefined, sink);
    expect(sink.last('welcome').calls).toEqual([
      { callId, peer: member(alice, 'inCall'), media: 'audio', role: 'callee', state: 'active' },
    ]);
    expect(sink.types()).toEqual(['welcome', 'roomJoined', 'signal', 'callMedia']);
    expect(sink.last('signal')).toEqual({ type: 'signal', callId, from: alice.session.id, data });
  });

  it('while it rings, relays the caller\'s signals (the early offer) and refuses the callee\'s and callMedia with call_state', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    const data = { kind: 'candidate', candidate: null } as const;
    t.hub.signal(alice.session, callId, data);
    expect(bob.sink.all('signal')).toEqual([{ type: 'signal', callId, from: alice.session.id, data }]);
    expect(
      userError(() => {
        t.hub.signal(bob.session, callId, data);
      }).code,
    ).toBe(ErrorCode.callState);
    expect(
      userError(() => {
        t.hub.callMedia(alice.session, callId, true, true);
      }).code,
    ).toBe(ErrorCode.callState);
    expect(alice.sink.all('signal')).toEqual([]);
  });

  it('treats a non-party as if the call did not exist', () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.callAccept(bob.session, callId, 'audio');
    clearAll(alice, bob);
    const data = { kind: 'candidate', candidate: null } as const;
    for (const act of [
      () => {
        t.hub.signal(carol.session, callId, data);
      },
      () => {
        t.hub.callMedia(carol.session, callId, true, true);
      },
      () => {
        t.hub.callHangup(carol.session, callId);
      },
      () => {
        t.hub.callAccept(carol.session, callId, 'audio');
      },
      () => {
        t.hub.callDecline(carol.session, callId);
      },
      () => {
        t.hub.callCancel(carol.session, callId);
      },
      () => {
        t.hub.signal(alice.session, 'c-unknown', data);
      },
    ]) {
      expect(userError(act).code).toBe(ErrorCode.callNotFound);
    }
    expect(alice.sink.msgs).toEqual([]);
    expect(bob.sink.msgs).toEqual([]);
    expect(t.hub.callOf(alice.session)?.state).toBe('active');
  });

  it('refuses calling oneself, a stranger, or while in a call', () => {
    const { t, alice, bob, carol } = callSetup();
    expect(userError(() => t.hub.callInvite(alice.session, alice.session.id, 'audio')).code).toBe(
      ErrorCode.callSelf,
    );
    expect(userError(() => t.hub.callInvite(alice.session, 'u-nobody', 'audio')).code).toBe(
      ErrorCode.userNotFound,
    );
    t.hub.leave(carol.session, 'lobby');
    expect(userError(() => t.hub.callInvite(alice.session, carol.session.id, 'audio')).code).toBe(
      ErrorCode.userNotFound,
    );
    t.hub.join(carol.session, 'lobby');

    invite(t, alice, bob);
    // Both the ringing caller and the ringing callee count as in a call.
    expect(userError(() => t.hub.callInvite(alice.session, carol.session.id, 'audio')).code).toBe(
      ErrorCode.alreadyInCall,
    );
    expect(userError(() => t.hub.callInvite(bob.session, carol.session.id, 'audio')).code).toBe(
      ErrorCode.alreadyInCall,
    );
    expect(t.hub.callCount).toBe(1);
  });

  it('a status change during a call does not show, and shows after it', () => {
    const { t, alice, bob, carol } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.callAccept(bob.session, callId, 'audio');
    clearAll(carol);
    t.hub.setStatus(alice.session, 'away');
    expect(carol.sink.msgs).toEqual([]);
    expect(t.hub.members('lobby').find((m) => m.id === alice.session.id)?.presence).toBe('inCall');
    t.hub.callHangup(alice.session, callId);
    expect(
      carol.sink.changed().find((m) => m.id === alice.session.id)?.presence,
    ).toBe('away');
  });

  it('a legacy callee accepts at once', () => {
    const { t, alice } = callSetup();
    const old = t.user('Old', 'chat');
    alice.sink.clear();
    const call = t.hub.callInvite(alice.session, old.session.id, 'video');
    expect(call?.state).toBe('active');
    expect(alice.sink.types().slice(0, 2)).toEqual(['callRinging', 'callAccepted']);
    vi.advanceTimersByTime(CALL_TIMEOUT * 2);
    expect(alice.sink.all('callEnded')).toEqual([]);
  });

  it('ending a session ends its calls as disconnected', () => {
    const { t, alice, bob } = callSetup();
    const callId = invite(t, alice, bob);
    t.hub.end(bob.session);
    expect(alice.sink.last('callEnded')).toEqual({
      type: 'callEnded',
      callId,
      reason: 'disconnected',
      ref: null,
    });
    expect(alice.session.call).toBeNull();
  });
});

describe('Call.setState', () => {
  function parties(): [Session, Session] {
    const log: [string, ServerMessage][] = [];
    return [
      new Session('u1', 'A', 'parley', 't1', new FakeSink('A', log)),
      new Session('u2', 'B', 'parley', 't2', new FakeSink('B', log)),
    ];
  }

  it('follows ringing → active → ended', () => {
    const call = new Call('c1', ...parties(), 'audio');
    expect(call.state).toBe('ringing');
    call.setState('ringing');
    call.setState('active');
    call.setState('active');
    call.setState('ended');
    expect(call.state).toBe('ended');
  });

  it('allows ringing → ended', () => {
    const call = new Call('c1', ...parties(), 'audio');
    call.setState('ended');
    expect(call.state).toBe('ended');
  });

  it.each([
    [['active'], 'ringing'],
    [['ended'], 'ringing'],
    [['ended'], 'active'],
    [['active', 'ended'], 'active'],
  ] as const)('after %j, %s throws InvalidStateError', (path, next) => {
    const call = new Call('c1', ...parties(), 'audio');
    for (const state of path) call.setState(state);
    const before = call.state;
    expect(() => {
      call.setState(next);
    }).toThrow(InvalidStateError);
    expect(call.state).toBe(before);
  });

  it('knows its parties', () => {
    const [a, b] = parties();
    const call = new Call('c1', a, b, 'audio');
    const log: [string, ServerMessage][] = [];
    const c = new Session('u3', 'C', 'parley', 't3', new FakeSink('C', log));
    expect(call.isParty(a)).toBe(true);
    expect(call.isParty(b)).toBe(true);
    expect(call.isParty(c)).toBe(false);
    expect(call.peerOf(a)).toBe(b);
    expect(call.peerOf(b)).toBe(a);
  });
});

describe('Outbound', () => {
  it('serializes once however often it is read', () => {
    const out = new Outbound({ type: 'pong', ts: 1, ref: null });
    const stringify = vi.spyOn(JSON, 'stringify');
    const first = out.json;
    const second = out.json;
    expect(stringify).toHaveBeenCalledTimes(1);
    expect(second).toBe(first);
    expect(JSON.parse(first)).toEqual({ type: 'pong', ts: 1, ref: null });
  });

  it('is serialized once for a whole room', async () => {
    const t = setup();
    const [alice, bob, carol] = t.users('Alice', 'Bob', 'Carol');
    await t.hub.chat(alice!.session, 'lobby', 'c', 'hi');
    const stringify = vi.spyOn(JSON, 'stringify');
    const a = bob!.sink.outs[0]!.json;
    const b = carol!.sink.outs[0]!.json;
    expect(a).toBe(b);
    expect(stringify).toHaveBeenCalledTimes(1);
  });
});

describe('handle', () => {
  it('dispatches frames and answers ping with pong', async () => {
    fakeTimers();
    vi.setSystemTime(1_700_000_000_000);
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    const frames: ClientMessage[] = [
      { type: 'ping', ref: 'p' },
      { type: 'join', room: 'team', ref: 'j' },
      { type: 'presence', status: 'away' },
      { type: 'chat', clientId: 'c', room: 'team', text: 'hi', ref: 'c' },
      { type: 'leave', room: 'team', ref: 'l' },
    ];
    for (const frame of frames) await t.hub.handle(alice!.session, frame);
    expect(alice!.sink.types()).toEqual(['pong', 'roomJoined', 'ack', 'roomLeft']);
    expect(alice!.sink.last('pong')).toEqual({ type: 'pong', ts: 1_700_000_000_000, ref: 'p' });
    expect(bob!.sink.last('members').changed[0]!.presence).toBe('away');
  });

  it('refuses hello and resume on a signed-in session', () => {
    const t = setup();
    const [alice] = t.users('Alice');
    expect(
      userError(() => t.hub.handle(alice!.session, { type: 'hello', versions: [1], name: 'X' }))
        .code,
    ).toBe(ErrorCode.alreadySignedIn);
    expect(
      userError(() => t.hub.handle(alice!.session, { type: 'resume', versions: [1], token: 't' }))
        .code,
    ).toBe(ErrorCode.alreadySignedIn);
  });

  it('routes call frames', () => {
    fakeTimers();
    const t = setup();
    const [alice, bob] = t.users('Alice', 'Bob');
    void t.hub.handle(alice!.session, {
      type: 'callInvite',
      to: bob!.session.id,
      media: 'audio',
      ref: 'i',
    });
    const callId = bob!.sink.last('callIncoming').callId;
    void t.hub.handle(bob!.session, { type: 'callAccept', callId, media: 'audio' });
    void t.hub.handle(bob!.session, { type: 'callMedia', callId, audio: false, video: false });
    void t.hub.handle(alice!.session, {
      type: 'signal',
      callId,
      data: { kind: 'candidate', candidate: null },
    });
    void t.hub.handle(alice!.session, { type: 'callHangup', callId });
    // The presence changes (in call, then online) all happened within one tick: the members
    // frame that follows carries only where they ended.
    expect(alice!.sink.types()).toEqual([
      'callRinging',
      'callAccepted',
      'callMedia',
      'callEnded',
      'members',
    ]);
    expect(bob!.sink.types()).toEqual(['callIncoming', 'callAccepted', 'signal', 'callEnded', 'members']);
  });
});

describe('ICE refresh', () => {
  it('sends fresh ICE servers when 80% of the credential lifetime has passed', () => {
    fakeTimers();
    vi.setSystemTime(1_000_000);
    let minted = 0;
    const ice = (): IceGrant => {
      minted++;
      return {
        iceServers: [{ urls: ['turn:t'], username: `u${minted}`, credential: 'x' }],
        expiresAt: Date.now() + 10_000,
      };
    };
    const t = setup({ ice });
    const [alice] = t.users('Alice');
    vi.advanceTimersByTime(7_999);
    expect(alice!.sink.all('iceServers')).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(alice!.sink.last('iceServers')).toEqual({
      type: 'iceServers',
      iceServers: [{ urls: ['turn:t'], username: 'u2', credential: 'x' }],
      iceExpiresAt: 1_000_000 + 8_000 + 10_000,
    });
    vi.advanceTimersByTime(8_000);
    expect(alice!.sink.all('iceServers')).toHaveLength(2);

    t.hub.end(alice!.session);
    vi.advanceTimersByTime(100_000);
    expect(minted).toBe(3);
  });
});
