import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoomSet } from '../../src/server/hub/Session.js';

describe('RoomSet', () => {
  it('behaves like a Set of strings under any sequence of adds and deletes', () => {
    const op = fc.tuple(fc.constantFrom('add', 'delete'), fc.constantFrom('lobby', 'ops', 'design', 'x', 'y'));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const rooms = new RoomSet();
        const model = new Set<string>();
        for (const [kind, room] of ops) {
          if (kind === 'add') {
            rooms.add(room);
            model.add(room);
          } else {
            expect(rooms.delete(room)).toBe(model.delete(room));
          }
          expect(rooms.size).toBe(model.size);
          expect([...rooms]).toEqual([...model]);
          for (const r of ['lobby', 'ops', 'design', 'x', 'y']) expect(rooms.has(r)).toBe(model.has(r));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('empty sets share nothing: emptying one does not touch another', () => {
    const a = new RoomSet();
    const b = new RoomSet();
    a.add('lobby');
    a.delete('lobby');
    b.add('ops');
    expect([...a]).toEqual([]);
    expect([...b]).toEqual(['ops']);
  });
});
