import { describe, expect, it } from 'vitest';
import { ROOM_CALL_MAX } from '../../src/protocol/protocol.js';
import { UserError } from '../../src/server/errors.js';
import { RoomCalls } from '../../src/server/hub/RoomCalls.js';
import { Session } from '../../src/server/hub/Session.js';

const sink = { deliver: () => undefined, close: () => undefined };

function user(name: string, ...rooms: string[]): Session {
  const s = new Session(`u-${name}`, name, 'parley', `t-${name}`, sink);
  for (const room of ['lobby', ...rooms]) s.rooms.add(room);
  return s;
}

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof UserError) return error.code;
    throw error;
  }
}

describe('RoomCalls', () => {
  let seq = 0;
  const make = () => new RoomCalls(() => `r${++seq}`);

  it('seats people in join order, marks them in a call, and ends the call with the last one', () => {
    const calls = make();
    const [a, b] = [user('a'), user('b')];
    const first = calls.join(a, 'lobby', 'video');
    expect(first.joined).toBe(true);
    expect(calls.join(b, 'lobby', 'audio').call).toBe(first.call);
    expect(first.call.participants()).toEqual([
      { id: 'u-a', name: 'a', media: 'video', audio: true, video: true },
      { id: 'u-b', name: 'b', media: 'audio', audio: true, video: false },
    ]);
    expect(a.presence).toBe('inCall');
    expect(calls.join(a, 'lobby', 'audio').joined).toBe(false);
    expect(calls.leave(a)).toBe(first.call);
    expect(a.presence).toBe('online');
    expect(calls.leave(a)).toBeNull();
    calls.leave(b);
    expect(calls.count).toBe(0);
    expect(calls.byId(first.call.id)).toBeUndefined();
    expect(calls.join(a, 'lobby', 'video').call.id).not.toBe(first.call.id);
  });

  it(`refuses the ${ROOM_CALL_MAX + 1}th, a second call, and rooms one is not in`, () => {
    const calls = make();
    const people = Array.from({ length: ROOM_CALL_MAX + 1 }, (_, i) => user(`p${i}`, 'other'));
    for (const p of people.slice(0, ROOM_CALL_MAX)) calls.join(p, 'lobby', 'audio');
    expect(codeOf(() => calls.join(people[ROOM_CALL_MAX]!, 'lobby', 'audio'))).toBe('call_full');
    expect(codeOf(() => calls.join(people[0]!, 'other', 'audio'))).toBe('already_in_call');
    expect(codeOf(() => calls.join(user('x'), 'nowhere', 'audio'))).toBe('not_in_room');
    // leave(room) only leaves the call of that room.
    expect(calls.leave(people[0]!, 'other')).toBeNull();
    expect(people[0]!.roomCall).toBe('lobby');
  });

  it('routes signals only within the call and media to the others or to one', () => {
    const calls = make();
    const [a, b, c, d] = [user('a'), user('b'), user('c'), user('d')];
    const { call } = calls.join(a, 'lobby', 'video');
    calls.join(b, 'lobby', 'video');
    calls.join(c, 'lobby', 'video');
    expect(calls.signalTarget(a, call.id, 'u-b')).toBe(b);
    expect(codeOf(() => calls.signalTarget(a, call.id, 'u-d'))).toBe('user_not_found');
    expect(codeOf(() => calls.signalTarget(a, call.id, 'u-a'))).toBe('user_not_found');
    expect(codeOf(() => calls.signalTarget(a, call.id, undefined))).toBe('bad_frame');
    expect(codeOf(() => calls.signalTarget(d, call.id, 'u-a'))).toBe('call_not_found');
    expect(calls.setMedia(a, call.id, undefined, false, true)).toEqual([b, c]);
    expect(calls.setMedia(a, call.id, 'u-c', false, false)).toEqual([c]);
    expect(call.participants()[0]).toMatchObject({ audio: false, video: false });
  });
});
