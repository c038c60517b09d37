/**
 * The web app's member lists (ChatStore) against the server's member frames: a small room's full
 * list kept current from coalesced deltas, a large room's partial list paged on demand.
 */
import { signal } from '@preact/signals';
import { describe, expect, it, vi } from 'vitest';
import { ChatStore } from '../../src/client/chat/ChatStore.js';
import { Emitter } from '../../src/client/events.js';
import type { SignalingClient } from '../../src/client/signaling/SignalingClient.js';
import type { ClientMessageInput, Member, ServerMessage } from '../../src/protocol/protocol.js';

const m = (name: string, presence: Member['presence'] = 'online'): Member => ({
  id: `u-${name}`,
  name,
  presence,
  kind: 'parley',
});

function setup() {
  const events = new Emitter<{ message: [ServerMessage] }>();
  const sent: ClientMessageInput[] = [];
  const fake = {
    events,
    user: signal({ id: 'u-Me', name: 'Me' }),
    send: vi.fn((msg: ClientMessageInput) => {
      sent.push(msg);
      return true;
    }),
    enqueue: vi.fn(),
    settle: vi.fn(),
    noteMessageId: vi.fn(),
  };
  const store = new ChatStore(fake as unknown as SignalingClient);
  const receive = (msg: ServerMessage) => {
    events.emit('message', msg);
  };
  const names = (room: string) => (store.members.value[room] ?? []).map((x) => x.name);
  return { store, sent, receive, names };
}

const delta = (
  room: string,
  count: number,
  change: { joined?: Member[]; left?: string[]; changed?: Member[] },
): ServerMessage => ({
  type: 'members',
  room,
  count,
  joined: change.joined ?? [],
  left: change.left ?? [],
  changed: change.changed ?? [],
});

describe('ChatStore member lists', () => {
  it('keeps a small room complete, in join order, from coalesced deltas', () => {
    const { store, receive, names } = setup();
    receive({ type: 'roomJoined', room: 'lobby', count: 2, members: [m('Zoe'), m('Me')], hasMore: false, ref: null });
    receive(delta('lobby', 3, { joined: [m('Adam')] }));
    expect(names('lobby')).toEqual(['Zoe', 'Me', 'Adam']);
    // Already there (it was in roomJoined): replaced, not doubled.
    receive(delta('lobby', 3, { joined: [m('Adam')], changed: [m('Zoe', 'away')] }));
    expect(names('lobby')).toEqual(['Zoe', 'Me', 'Adam']);
    expect(store.members.value.lobby?.[0]?.presence).toBe('away');
    receive(delta('lobby', 2, { left: ['u-Zoe', 'u-nobody'] }));
    expect(names('lobby')).toEqual(['Me', 'Adam']);
    expect(store.roomInfo.value.lobby).toEqual({ count: 2, hasMore: false, loading: false });
  });

  it('pages a large room on demand and keeps the loaded part sorted by name', () => {
    const { store, sent, receive, names } = setup();
    receive({ type: 'roomJoined', room: 'lobby', count: 900, members: [m('Ann'), m('bob')], hasMore: true, ref: null });
    expect(store.roomInfo.value.lobby).toEqual({ count: 900, hasMore: true, loading: false });

    // A join within the loaded part lands in name order; the count follows every delta.
    receive(delta('lobby', 901, { joined: [m('Abe')] }));
    expect(names('lobby')).toEqual(['Abe', 'Ann', 'bob']);
    receive(delta('lobby', 902, {}));
    expect(store.roomInfo.value.lobby?.count).toBe(902);

    store.loadMoreMembers('lobby');
    expect(sent.at(-1)).toEqual({ type: 'members', room: 'lobby', after: 'bob', limit: 100, ref: 'members:lobby' });
    expect(store.roomInfo.value.lobby?.loading).toBe(true);
    store.loadMoreMembers('lobby'); // one page at a time
    expect(sent.filter((x) => x.type === 'members')).toHaveLength(1);

    receive({ type: 'memberPage', room: 'lobby', count: 902, members: [m('Cleo'), m('Dan')], hasMore: false, ref: 'members:lobby' });
    expect(names('lobby')).toEqual(['Abe', 'Ann', 'bob', 'Cleo', 'Dan']);
    expect(store.roomInfo.value.lobby).toEqual({ count: 902, hasMore: false, loading: false });
    store.loadMoreMembers('lobby'); // nothing more to ask for
    expect(sent.filter((x) => x.type === 'members')).toHaveLength(1);
  });

  it('a refused page can be asked for again', () => {
    const { store, sent, receive } = setup();
    receive({ type: 'roomJoined', room: 'big', count: 700, members: [m('Ann')], hasMore: true, ref: 'join:big' });
    store.loadMoreMembers('big');
    receive({ type: 'error', code: 'rate_limited', message: 'slow down', ref: 'members:big' });
    expect(store.roomInfo.value.big?.loading).toBe(false);
    store.loadMoreMembers('big');
    expect(sent.filter((x) => x.type === 'members')).toHaveLength(2);
  });

  it('forgets a room it left', () => {
    const { store, receive } = setup();
    receive({ type: 'roomJoined', room: 'big', count: 700, members: [m('Ann')], hasMore: true, ref: null });
    receive({ type: 'roomLeft', room: 'big', ref: null });
    expect(store.members.value.big).toBeUndefined();
    expect(store.roomInfo.value.big).toBeUndefined();
  });
});
