/**
 * Table-driven tests of the Parley protocol v1 client frames: every message type has valid frames
 * (minimal and full) and invalid ones, and each invalid frame must map to its exact ErrorCode with
 * the frame's `ref` echoed whenever it could be read.
 */
import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  CANDIDATE_MAX,
  CLIENT_ID_MAX,
  type ClientMessageType,
  clientSchemas,
  ErrorCode,
  HISTORY_MAX,
  IMAGE_SIDE_MAX,
  NAME_MAX,
  normalizeName,
  normalizeRoom,
  REF_MAX,
  ROOM_MAX,
  SDP_MAX,
  TEXT_MAX,
} from '../../src/protocol/protocol.js';
import {
  parseClientMessage,
  parseServerMessage,
  plainSignal,
  validateClientMessage,
} from '../../src/protocol/validate.js';

type Frame = Record<string, unknown>;

function parse(frame: unknown) {
  return parseClientMessage(JSON.stringify(frame));
}

function expectError(frame: unknown, code: ErrorCode, ref: string | null = null) {
  const result = typeof frame === 'string' ? parseClientMessage(frame) : parse(frame);
  expect(result.ok, `expected ${code} for ${JSON.stringify(frame).slice(0, 200)}`).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  expect(result.error.ref).toBe(ref);
  expect(result.error.message.length).toBeGreaterThan(0);
}

// ---------------------------------------------------------------------------------------------
// Valid frames: one row per message type; the `satisfies` makes the compiler demand every type.

interface ValidRow {
  /** Only the required fields. */
  minimal: Frame;
  /** Every optional field set too (including ref). */
  full: Frame;
  /** What the full frame parses to when the schema normalizes it (default: the full frame). */
  fullParsed?: Frame;
  /** More valid frames: edge values that must still be accepted. */
  more?: Frame[];
}

const SDP_LINE = 'v=0\r\n';
const PHOTO = { id: 'AbCdEfGhIjKlMnOpQrSt_-', width: 640, height: 480 };

const valid = {
  hello: {
    minimal: { type: 'hello', versions: [1], name: 'Alice' },
    full: { type: 'hello', versions: [1, 2], name: '  Alice   B.  Smith_-2 ', ref: 'r1' },
    fullParsed: { type: 'hello', versions: [1, 2], name: 'Alice B. Smith_-2', ref: 'r1' },
    more: [
      { type: 'hello', versions: [1], name: 'x'.repeat(NAME_MAX) },
      { type: 'hello', versions: Array.from({ length: 16 }, (_, i) => i), name: 'Zoë' },
      { type: 'hello', versions: [1], name: 'Дмитрий' },
      { type: 'hello', versions: [1], name: '山田太郎' },
      { type: 'hello', versions: [1], name: '7' },
      { type: 'hello', versions: [1], name: 'Bob', ref: '' },
      { type: 'hello', versions: [1], name: 'Bob', ref: 'r'.repeat(REF_MAX) },
    ],
  },
  resume: {
    minimal: { type: 'resume', versions: [1], token: 't' },
    full: { type: 'resume', versions: [1], token: 'a'.repeat(128), since: 42, ref: 'r2' },
    more: [{ type: 'resume', versions: [1], token: 'tok', since: 0 }],
  },
  join: {
    minimal: { type: 'join', room: 'lobby' },
    full: { type: 'join', room: '  Team-1_B ', ref: 'r3' },
    fullParsed: { type: 'join', room: 'team-1_b', ref: 'r3' },
    more: [
      { type: 'join', room: 'a'.repeat(ROOM_MAX) },
      { type: 'join', room: '0' },
      { type: 'join', room: 'x-' },
    ],
  },
  leave: {
    minimal: { type: 'leave', room: 'lobby' },
    full: { type: 'leave', room: 'LOBBY', ref: 'r4' },
    fullParsed: { type: 'leave', room: 'lobby', ref: 'r4' },
  },
  presence: {
    minimal: { type: 'presence', status: 'online' },
    full: { type: 'presence', status: 'away', ref: 'r5' },
  },
  chat: {
    minimal: { type: 'chat', clientId: 'c1', room: 'lobby', text: 'hi' },
    full: {
      type: 'chat',
      clientId: 'c'.repeat(CLIENT_ID_MAX),
      room: 'Lobby',
      text: ' hi ',
      image: PHOTO,
      ref: 'r6',
    },
    // The text is kept as written (only rooms and names are normalized).
    fullParsed: {
      type: 'chat',
      clientId: 'c'.repeat(CLIENT_ID_MAX),
      room: 'lobby',
      text: ' hi ',
      image: PHOTO,
      ref: 'r6',
    },
    more: [
      // With an image, the text may be empty or white space.
      { type: 'chat', clientId: 'c', room: 'lobby', text: '', image: PHOTO },
      { type: 'chat', clientId: 'c', room: 'lobby', text: ' ', image: { id: '-'.repeat(22), width: 1, height: IMAGE_SIDE_MAX } },
      { type: 'chat', clientId: 'c', room: 'lobby', text: 'x'.repeat(TEXT_MAX) },
      { type: 'chat', clientId: 'c', room: 'lobby', text: '<b>not html</b>' },
      { type: 'chat', clientId: 'c', room: 'lobby', text: 'line 1\nline 2' },
    ],
  },
  dm: {
    minimal: { type: 'dm', clientId: 'c1', to: 'u1', text: 'psst' },
    full: { type: 'dm', clientId: 'c2', to: 'u'.repeat(64), text: 'psst', image: PHOTO, ref: 'r7' },
    more: [{ type: 'dm', clientId: 'c', to: 'u1', text: '', image: PHOTO }],
  },
  history: {
    minimal: { type: 'history', room: 'lobby' },
    full: { type: 'history', room: 'Lobby', before: 10, limit: HISTORY_MAX, ref: 'r8' },
    fullParsed: { type: 'history', room: 'lobby', before: 10, limit: HISTORY_MAX, ref: 'r8' },
    more: [
      { type: 'history', peer: 'u1' },
      { type: 'history', peer: 'u1', before: 0, limit: 1 },
    ],
  },
  callInvite: {
    minimal: { type: 'callInvite', to: 'u1', media: 'audio' },
    full: { type: 'callInvite', to: 'u1', media: 'video', ref: 'r9' },
  },
  callAccept: {
    minimal: { type: 'callAccept', callId: 'c1', media: 'audio' },
    full: { type: 'callAccept', callId: 'c1', media: 'video', ref: 'r10' },
  },
  callDecline: {
    minimal: { type: 'callDecline', callId: 'c1' },
    full: { type: 'callDecline', callId: 'c1', ref: 'r11' },
  },
  callCancel: {
    minimal: { type: 'callCancel', callId: 'c1' },
    full: { type: 'callCancel', callId: 'c1', ref: 'r12' },
  },
  callHangup: {
    minimal: { type: 'callHangup', callId: 'c1' },
    full: { type: 'callHangup', callId: 'c1', ref: 'r13' },
  },
  signal: {
    minimal: { type: 'signal', callId: 'c1', data: { kind: 'candidate', candidate: null } },
    full: {
      type: 'signal',
      callId: 'c1',
      data: {
        kind: 'candidate',
        candidate: {
          candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
          usernameFragment: 'abcd',
        },
      },
      ref: 'r14',
    },
    more: [
      // In a room call, to one participant.
      { type: 'signal', callId: 'r1', to: 'u'.repeat(64), data: { kind: 'candidate', candidate: null } },
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'offer', sdp: SDP_LINE } },
      },
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'answer', sdp: '' } },
      },
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'offer', sdp: 'x'.repeat(SDP_MAX) } },
      },
      { type: 'signal', callId: 'c1', data: { kind: 'candidate', candidate: { candidate: '' } } },
      {
        type: 'signal',
        callId: 'c1',
        data: {
          kind: 'candidate',
          candidate: {
            candidate: 'x'.repeat(CANDIDATE_MAX),
            sdpMid: null,
            sdpMLineIndex: null,
            usernameFragment: null,
          },
        },
      },
    ],
  },
  callMedia: {
    minimal: { type: 'callMedia', callId: 'c1', audio: true, video: false },
    full: { type: 'callMedia', callId: 'c1', audio: false, video: true, ref: 'r15' },
    more: [{ type: 'callMedia', callId: 'r1', to: 'u1', audio: true, video: true }],
  },
  roomCallJoin: {
    minimal: { type: 'roomCallJoin', room: 'lobby', media: 'video' },
    full: { type: 'roomCallJoin', room: ' Design ', media: 'audio', ref: 'r18' },
    fullParsed: { type: 'roomCallJoin', room: 'design', media: 'audio', ref: 'r18' },
  },
  roomCallLeave: {
    minimal: { type: 'roomCallLeave', room: 'lobby' },
    full: { type: 'roomCallLeave', room: 'Design', ref: 'r19' },
    fullParsed: { type: 'roomCallLeave', room: 'design', ref: 'r19' },
  },
  members: {
    minimal: { type: 'members', room: 'lobby' },
    full: { type: 'members', room: ' Lobby ', after: 'Bob', limit: 200, ref: 'r17' },
    fullParsed: { type: 'members', room: 'lobby', after: 'Bob', limit: 200, ref: 'r17' },
  },
  ping: {
    minimal: { type: 'ping' },
    full: { type: 'ping', ref: 'r16' },
  },
} satisfies Record<ClientMessageType, ValidRow>;

const types = Object.keys(clientSchemas) as ClientMessageType[];

describe('valid frames', () => {
  it('covers every client message type', () => {
    expect(Object.keys(valid).sort()).toEqual([...types].sort());
  });

  describe.each(types)('%s', (type) => {
    const row: ValidRow = valid[type];

    it('accepts the minimal frame unchanged', () => {
      const result = parse(row.minimal);
      expect(result).toEqual({ ok: true, value: row.minimal });
    });

    it('accepts the full frame', () => {
      const result = parse(row.full);
      expect(result).toEqual({ ok: true, value: row.fullParsed ?? row.full });
    });

    it.each((row.more ?? []).map((frame) => [JSON.stringify(frame).slice(0, 80), frame] as const))(
      'accepts %s',
      (_label, frame) => {
        const result = parse(frame);
        expect(result.ok, JSON.stringify(!result.ok && result.error)).toBe(true);
      },
    );

    it('strips unknown fields so they are never relayed', () => {
      const result = parse({ ...row.full, from: 'u-spoofed', admin: true, __extra: { x: 1 } });
      expect(result).toEqual({ ok: true, value: row.fullParsed ?? row.full });
      if (result.ok) {
        expect(result.value).not.toHaveProperty('from');
        expect(result.value).not.toHaveProperty('admin');
        expect(result.value).not.toHaveProperty('__extra');
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Invalid frames, generated from the table: every required field missing, null, or of the wrong type.

const generated: [string, Frame, string][] = types.flatMap((type) => {
  const frame: Frame = valid[type].minimal;
  return Object.keys(frame)
    .filter((k) => k !== 'type')
    .flatMap((field): [string, Frame, string][] => {
      const { [field]: _omitted, ...without } = frame;
      const wrong = typeof frame[field] === 'string' ? 42 : 'x';
      return [
        [`${type} without ${field}`, without, field],
        [`${type} with ${field}: null`, { ...frame, [field]: null }, field],
        [`${type} with ${field}: ${JSON.stringify(wrong)}`, { ...frame, [field]: wrong }, field],
        [
          `${type} with ${field}: []`,
          { ...frame, [field]: typeof frame[field] === 'object' ? 7 : [] },
          field,
        ],
      ];
    });
});

describe('generated invalid frames → bad_frame', () => {
  it.each(generated)('%s', (_label, frame, field) => {
    expectError({ ...frame, ref: 'gen' }, ErrorCode.badFrame, 'gen');
    const result = parse(frame);
    if (!result.ok) {
      // The message names the offending field (history's room/peer rule has no single field).
      if (frame.type !== 'history') expect(result.error.message).toContain(field);
    }
  });

  it('reports a missing field as required', () => {
    const result = parse({ type: 'hello', versions: [1] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toBe('name: is required');
  });
});

// ---------------------------------------------------------------------------------------------
// Invalid frames, written out: out-of-range values, over-long strings, bad names and rooms.

const long = (n: number, ch = 'x') => ch.repeat(n);

const badFrames: Record<ClientMessageType, [string, Frame][]> = {
  hello: [
    ['no versions', { type: 'hello', versions: [], name: 'Al' }],
    ['17 versions', { type: 'hello', versions: Array.from({ length: 17 }, () => 1), name: 'Al' }],
    ['string version', { type: 'hello', versions: ['1'], name: 'Al' }],
    ['fractional version', { type: 'hello', versions: [1.5], name: 'Al' }],
    ['empty name', { type: 'hello', versions: [1], name: '' }],
    ['blank name', { type: 'hello', versions: [1], name: '   ' }],
    ['33-character name', { type: 'hello', versions: [1], name: long(NAME_MAX + 1) }],
    [
      '33 characters after trimming',
      { type: 'hello', versions: [1], name: `  ${long(NAME_MAX + 1)}  ` },
    ],
    ['over-long raw name', { type: 'hello', versions: [1], name: `a${' '.repeat(NAME_MAX * 4)}b` }],
    ['name with <b>', { type: 'hello', versions: [1], name: '<b>' }],
    ['name with markup', { type: 'hello', versions: [1], name: 'Al<script>' }],
    ['name with NUL', { type: 'hello', versions: [1], name: 'Al\u0000ice' }],
    ['name with BEL', { type: 'hello', versions: [1], name: 'Al\u0007' }],
    ['name with ESC', { type: 'hello', versions: [1], name: '\u001b[31mAl' }],
    ['name with DEL', { type: 'hello', versions: [1], name: 'Al\u007f' }],
    ['name with zero-width space', { type: 'hello', versions: [1], name: 'Al\u200bice' }],
    ['name with right-to-left override', { type: 'hello', versions: [1], name: 'Al\u202eice' }],
    ['name with emoji', { type: 'hello', versions: [1], name: 'Al 😀' }],
    ['name with @', { type: 'hello', versions: [1], name: 'al@example' }],
  ],
  resume: [
    ['empty token', { type: 'resume', versions: [1], token: '' }],
    ['129-character token', { type: 'resume', versions: [1], token: long(129) }],
    ['negative since', { type: 'resume', versions: [1], token: 't', since: -1 }],
    ['fractional since', { type: 'resume', versions: [1], token: 't', since: 1.5 }],
    ['string since', { type: 'resume', versions: [1], token: 't', since: '3' }],
    ['no versions', { type: 'resume', versions: [], token: 't' }],
  ],
  join: [
    ['empty room', { type: 'join', room: '' }],
    ['blank room', { type: 'join', room: '  ' }],
    ['33-character room', { type: 'join', room: long(ROOM_MAX + 1, 'a') }],
    ['room with a space', { type: 'join', room: 'a b' }],
    ['room with a slash', { type: 'join', room: 'a/b' }],
    ['room with dots', { type: 'join', room: '..' }],
    ['room starting with -', { type: 'join', room: '-a' }],
    ['room starting with _', { type: 'join', room: '_a' }],
    ['room with non-ASCII letters', { type: 'join', room: 'café' }],
    ['room with markup', { type: 'join', room: '<b>' }],
  ],
  leave: [
    ['empty room', { type: 'leave', room: '' }],
    ['room with a space', { type: 'leave', room: 'a b' }],
    ['33-character room', { type: 'leave', room: long(ROOM_MAX + 1, 'a') }],
  ],
  presence: [
    ['inCall (derived by the server)', { type: 'presence', status: 'inCall' }],
    ['unknown status', { type: 'presence', status: 'busy' }],
    ['status in capitals', { type: 'presence', status: 'ONLINE' }],
  ],
  chat: [
    ['empty text', { type: 'chat', clientId: 'c', room: 'lobby', text: '' }],
    ['whitespace-only text', { type: 'chat', clientId: 'c', room: 'lobby', text: ' \n\t ' }],
    [
      'text over TEXT_MAX',
      { type: 'chat', clientId: 'c', room: 'lobby', text: long(TEXT_MAX + 1) },
    ],
    ['empty clientId', { type: 'chat', clientId: '', room: 'lobby', text: 'hi' }],
    [
      'over-long clientId',
      { type: 'chat', clientId: long(CLIENT_ID_MAX + 1), room: 'lobby', text: 'hi' },
    ],
    ['bad room', { type: 'chat', clientId: 'c', room: 'a b', text: 'hi' }],
    ['image id not one the server mints', { type: 'chat', clientId: 'c', room: 'lobby', text: '', image: { ...PHOTO, id: '../../etc/passwd' } }],
    ['image id too short', { type: 'chat', clientId: 'c', room: 'lobby', text: 'hi', image: { ...PHOTO, id: 'abc' } }],
    ['image without a size', { type: 'chat', clientId: 'c', room: 'lobby', text: '', image: { id: PHOTO.id } }],
    ['image width 0', { type: 'chat', clientId: 'c', room: 'lobby', text: '', image: { ...PHOTO, width: 0 } }],
    ['image taller than IMAGE_SIDE_MAX', { type: 'chat', clientId: 'c', room: 'lobby', text: '', image: { ...PHOTO, height: IMAGE_SIDE_MAX + 1 } }],
    ['image that is a string', { type: 'chat', clientId: 'c', room: 'lobby', text: '', image: PHOTO.id }],
    ['image null', { type: 'chat', clientId: 'c', room: 'lobby', text: 'hi', image: null }],
  ],
  dm: [
    ['empty to', { type: 'dm', clientId: 'c', to: '', text: 'hi' }],
    ['over-long to', { type: 'dm', clientId: 'c', to: long(65), text: 'hi' }],
    ['empty text', { type: 'dm', clientId: 'c', to: 'u1', text: '' }],
    ['whitespace-only text', { type: 'dm', clientId: 'c', to: 'u1', text: '   ' }],
    ['text over TEXT_MAX', { type: 'dm', clientId: 'c', to: 'u1', text: long(TEXT_MAX + 1) }],
    ['over-long clientId', { type: 'dm', clientId: long(CLIENT_ID_MAX + 1), to: 'u1', text: 'hi' }],
  ],
  history: [
    ['neither room nor peer', { type: 'history' }],
    ['both room and peer', { type: 'history', room: 'lobby', peer: 'u1' }],
    ['limit 0', { type: 'history', room: 'lobby', limit: 0 }],
    [`limit ${HISTORY_MAX + 1}`, { type: 'history', room: 'lobby', limit: HISTORY_MAX + 1 }],
    ['fractional limit', { type: 'history', room: 'lobby', limit: 2.5 }],
    ['string limit', { type: 'history', room: 'lobby', limit: '10' }],
    ['negative before', { type: 'history', room: 'lobby', before: -1 }],
    ['fractional before', { type: 'history', room: 'lobby', before: 1.5 }],
    ['bad room', { type: 'history', room: 'A B' }],
    ['empty peer', { type: 'history', peer: '' }],
    ['room of the wrong type', { type: 'history', room: 5 }],
  ],
  callInvite: [
    ['unknown media', { type: 'callInvite', to: 'u1', media: 'screen' }],
    ['empty to', { type: 'callInvite', to: '', media: 'audio' }],
    ['over-long to', { type: 'callInvite', to: long(65), media: 'audio' }],
  ],
  callAccept: [
    ['unknown media', { type: 'callAccept', callId: 'c1', media: 'both' }],
    ['empty callId', { type: 'callAccept', callId: '', media: 'audio' }],
    ['over-long callId', { type: 'callAccept', callId: long(65), media: 'audio' }],
  ],
  callDecline: [
    ['empty callId', { type: 'callDecline', callId: '' }],
    ['over-long callId', { type: 'callDecline', callId: long(65) }],
  ],
  callCancel: [
    ['empty callId', { type: 'callCancel', callId: '' }],
    ['over-long callId', { type: 'callCancel', callId: long(65) }],
  ],
  callHangup: [
    ['empty callId', { type: 'callHangup', callId: '' }],
    ['over-long callId', { type: 'callHangup', callId: long(65) }],
  ],
  signal: [
    ['data without kind', { type: 'signal', callId: 'c1', data: { candidate: null } }],
    ['unknown kind', { type: 'signal', callId: 'c1', data: { kind: 'bogus' } }],
    ['description missing', { type: 'signal', callId: 'c1', data: { kind: 'description' } }],
    ['candidate missing (not null)', { type: 'signal', callId: 'c1', data: { kind: 'candidate' } }],
    [
      'pranswer',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'pranswer', sdp: SDP_LINE } },
      },
    ],
    [
      'rollback',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'rollback', sdp: '' } },
      },
    ],
    [
      'description without sdp',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'offer' } },
      },
    ],
    [
      'SDP over SDP_MAX',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'offer', sdp: long(SDP_MAX + 1) } },
      },
    ],
    [
      'candidate over CANDIDATE_MAX',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'candidate', candidate: { candidate: long(CANDIDATE_MAX + 1) } },
      },
    ],
    [
      'candidate without its candidate line',
      { type: 'signal', callId: 'c1', data: { kind: 'candidate', candidate: { sdpMid: '0' } } },
    ],
    [
      'negative sdpMLineIndex',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'candidate', candidate: { candidate: '', sdpMLineIndex: -1 } },
      },
    ],
    [
      'over-long sdpMid',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'candidate', candidate: { candidate: '', sdpMid: long(65) } },
      },
    ],
    [
      'over-long usernameFragment',
      {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'candidate', candidate: { candidate: '', usernameFragment: long(257) } },
      },
    ],
    ['data as an array', { type: 'signal', callId: 'c1', data: [] }],
    ['to as a number', { type: 'signal', callId: 'r1', to: 7, data: { kind: 'candidate', candidate: null } }],
    ['to empty', { type: 'signal', callId: 'r1', to: '', data: { kind: 'candidate', candidate: null } }],
  ],
  callMedia: [
    ['audio as a string', { type: 'callMedia', callId: 'c1', audio: 'yes', video: false }],
    ['video as a number', { type: 'callMedia', callId: 'c1', audio: true, video: 1 }],
    ['to over 64 characters', { type: 'callMedia', callId: 'r1', to: long(65), audio: true, video: true }],
  ],
  roomCallJoin: [
    ['no media', { type: 'roomCallJoin', room: 'lobby' }],
    ['unknown media', { type: 'roomCallJoin', room: 'lobby', media: 'hologram' }],
    ['a bad room', { type: 'roomCallJoin', room: 'Not A Room!', media: 'video' }],
  ],
  roomCallLeave: [
    ['no room', { type: 'roomCallLeave' }],
    ['a bad room', { type: 'roomCallLeave', room: '#lobby' }],
  ],
  members: [
    ['no room', { type: 'members' }],
    ['a bad room', { type: 'members', room: 'Not A Room!' }],
    ['limit 0', { type: 'members', room: 'lobby', limit: 0 }],
    ['limit over MEMBER_PAGE_MAX', { type: 'members', room: 'lobby', limit: 201 }],
    ['after as a number', { type: 'members', room: 'lobby', after: 5 }],
  ],
  ping: [
    ['ref as a number', { type: 'ping', ref: 5 }],
    ['ref over REF_MAX', { type: 'ping', ref: long(REF_MAX + 1) }],
  ],
};

describe('invalid frames → bad_frame', () => {
  describe.each(types)('%s', (type) => {
    const rows = badFrames[type];

    it.each(rows)('rejects %s, echoing ref', (_label, frame) => {
      // A frame whose own ref is the problem cannot have it echoed.
      const ref = 'ref' in frame ? null : 'bad-1';
      expectError(ref === null ? frame : { ...frame, ref }, ErrorCode.badFrame, ref);
    });
  });

  it('rejects an over-long or non-string ref in every type, without echoing it', () => {
    for (const type of types) {
      const frame = valid[type].minimal;
      expectError({ ...frame, ref: long(REF_MAX + 1) }, ErrorCode.badFrame, null);
      expectError({ ...frame, ref: 1 }, ErrorCode.badFrame, null);
      expectError({ ...frame, ref: null }, ErrorCode.badFrame, null);
    }
  });

  it('explains the history rule', () => {
    const result = parse({ type: 'history', room: 'lobby', peer: 'u1', ref: 'h' });
    expect(result).toEqual({
      ok: false,
      error: {
        code: ErrorCode.badFrame,
        message: 'history needs exactly one of room or peer',
        ref: 'h',
      },
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Envelope errors: not JSON, not an object, no type or an unknown one.

describe('envelope errors', () => {
  it.each([
    ['not JSON', 'hello there'],
    ['empty frame', ''],
    ['truncated JSON', '{"type":"ping"'],
    ['single quotes', "{'type':'ping'}"],
    ['array', '[{"type":"ping"}]'],
    ['null', 'null'],
    ['number', '42'],
    ['string', '"ping"'],
    ['boolean', 'true'],
  ])('%s → bad_json', (_label, text) => {
    expectError(text, ErrorCode.badJson, null);
  });

  it('validateClientMessage rejects non-objects with bad_json', () => {
    for (const frame of [null, undefined, 1, 'x', [], [{ type: 'ping' }], true]) {
      const result = validateClientMessage(frame);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error).toMatchObject({ code: ErrorCode.badJson, ref: null });
    }
  });

  it.each([
    ['missing type', { ref: 'e1' }],
    ['null type', { type: null, ref: 'e1' }],
    ['numeric type', { type: 1, ref: 'e1' }],
    ['object type', { type: { name: 'ping' }, ref: 'e1' }],
    ['array type', { type: ['ping'], ref: 'e1' }],
    ['empty type', { type: '', ref: 'e1' }],
    ['unknown type', { type: 'teleport', ref: 'e1' }],
    ['wrong case', { type: 'Ping', ref: 'e1' }],
    ['padded type', { type: ' ping', ref: 'e1' }],
    ['a server type', { type: 'welcome', ref: 'e1' }],
    ['error', { type: 'error', ref: 'e1' }],
    ['__proto__', { type: '__proto__', ref: 'e1' }],
    ['constructor', { type: 'constructor', ref: 'e1' }],
    ['toString', { type: 'toString', ref: 'e1' }],
    ['hasOwnProperty', { type: 'hasOwnProperty', ref: 'e1' }],
    ['valueOf', { type: 'valueOf', ref: 'e1' }],
  ])('%s → unknown_type with ref', (_label, frame) => {
    expectError(frame, ErrorCode.unknownType, 'e1');
  });

  it('unknown_type without a readable ref', () => {
    expectError({ type: 'teleport' }, ErrorCode.unknownType, null);
    expectError({ type: 'teleport', ref: 7 }, ErrorCode.unknownType, null);
    expectError({ type: 'teleport', ref: long(REF_MAX + 1) }, ErrorCode.unknownType, null);
  });

  it('keeps a long unknown type out of the message', () => {
    const result = parse({ type: long(10_000) });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message.length).toBeLessThan(100);
  });

  it('a "__proto__" key in the JSON neither pollutes nor survives', () => {
    const result = parseClientMessage('{"type":"ping","__proto__":{"polluted":true},"ref":"p"}');
    expect(result).toEqual({ ok: true, value: { type: 'ping', ref: 'p' } });
    if (result.ok)
      expect(Object.prototype.hasOwnProperty.call(result.value, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('unknown fields inside nested objects are stripped too', () => {
    const result = parse({
      type: 'signal',
      callId: 'c1',
      data: {
        kind: 'description',
        description: { type: 'offer', sdp: SDP_LINE, evil: 1 },
        from: 'u2',
      },
      relayVia: 'u9',
    });
    expect(result).toEqual({
      ok: true,
      value: {
        type: 'signal',
        callId: 'c1',
        data: { kind: 'description', description: { type: 'offer', sdp: SDP_LINE } },
      },
    });
  });
});

describe('parseServerMessage', () => {
  it('accepts a known type and rejects the rest', () => {
    expect(parseServerMessage('{"type":"pong","ts":1,"ref":null}')).toEqual({
      ok: true,
      value: { type: 'pong', ts: 1, ref: null },
    });
    expect(parseServerMessage('{"type":"hello"}')).toMatchObject({
      ok: false,
      error: { code: ErrorCode.unknownType },
    });
    expect(parseServerMessage('{"type":"__proto__"}')).toMatchObject({
      ok: false,
      error: { code: ErrorCode.unknownType },
    });
    expect(parseServerMessage('[]')).toMatchObject({
      ok: false,
      error: { code: ErrorCode.badJson },
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('normalizeName', () => {
  it.each([
    ['Alice', 'Alice'],
    ['  Alice  ', 'Alice'],
    ['Alice   Smith', 'Alice Smith'],
    [' a  b   c ', 'a b c'],
    ['Al\tice', 'Al ice'],
    ['Al\u00a0\u00a0ice', 'Al ice'],
    ['J.R.R._Tolkien-2', 'J.R.R._Tolkien-2'],
    ['Zoë', 'Zoë'],
    ['Дмитрий', 'Дмитрий'],
    ['山田太郎', '山田太郎'],
    ['Ólafur Örn', 'Ólafur Örn'],
    ['أحمد', 'أحمد'],
    ['Σωκράτης', 'Σωκράτης'],
    // Scripts whose letters need combining marks (vowel signs) must work too.
    ['अमित', 'अमित'],
    ['สมชาย', 'สมชาย'],
    ['தமிழ்', 'தமிழ்'],
    // Decomposed input is composed, so "José" typed two ways is one name.
    ['Jose\u0301', 'José'],
    ['٣', '٣'],
    [`  ${'x'.repeat(NAME_MAX)}  `, 'x'.repeat(NAME_MAX)],
  ])('%j → %j', (raw, expected) => {
    expect(normalizeName(raw)).toBe(expected);
  });

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['33 characters', 'x'.repeat(NAME_MAX + 1)],
    ['markup', '<b>'],
    ['ampersand', 'a&b'],
    ['quote', '"a"'],
    ['NUL', 'a\u0000'],
    ['BEL', '\u0007'],
    ['C1 control', 'a\u0085b'],
    ['zero-width joiner', 'a\u200db'],
    ['bidi override', '\u202eabc'],
    ['emoji', '🙂'],
    ['a lone combining mark', '\u0301'],
    ['a combining mark first', '\u0301abc'],
    ['slash', 'a/b'],
  ])('rejects %s', (_label, raw) => {
    expect(normalizeName(raw)).toBeNull();
  });

  it('is idempotent', () => {
    for (const raw of ['  Alice   Smith ', 'Jose\u0301', 'Дмитрий', 'अमित']) {
      const once = normalizeName(raw);
      expect(once).not.toBeNull();
      expect(normalizeName(once!)).toBe(once);
    }
  });
});

describe('normalizeRoom', () => {
  it.each([
    ['lobby', 'lobby'],
    [' Lobby ', 'lobby'],
    ['TEAM-1', 'team-1'],
    ['a_b-c', 'a_b-c'],
    ['0day', '0day'],
    ['x'.repeat(ROOM_MAX), 'x'.repeat(ROOM_MAX)],
  ])('%j → %j', (raw, expected) => {
    expect(normalizeRoom(raw)).toBe(expected);
  });

  it.each([
    ['empty', ''],
    ['blank', '  '],
    ['33 characters', 'x'.repeat(ROOM_MAX + 1)],
    ['space inside', 'a b'],
    ['leading hyphen', '-a'],
    ['leading underscore', '_a'],
    ['dot', 'a.b'],
    ['slash', 'a/b'],
    ['non-ASCII letter', 'straße'],
    ['Cyrillic', 'комната'],
    ['percent-encoding', 'a%20b'],
  ])('rejects %s', (_label, raw) => {
    expect(normalizeRoom(raw)).toBeNull();
  });
});

describe('well-formed text', () => {
  it.each([
    ['a lone high surrogate', 'hi \uD83D there'],
    ['a lone low surrogate', '\uDE00 hi'],
    ['a reversed pair', '\uDE00\uD83D'],
  ])('refuses chat text with %s, which storage would mangle', (_label, text) => {
    const r = validateClientMessage({ type: 'chat', clientId: 'c1', room: 'lobby', text });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('bad_frame');
  });

  it('accepts a proper surrogate pair (emoji)', () => {
    const r = validateClientMessage({ type: 'chat', clientId: 'c1', room: 'lobby', text: 'hi 😀' });
    expect(r.ok).toBe(true);
  });

  it('refuses a clientId with a lone surrogate', () => {
    const r = validateClientMessage({ type: 'chat', clientId: 'c\uD800', room: 'lobby', text: 'x' });
    expect(r.ok).toBe(false);
  });
});

describe('signals checked by hand', () => {
  /** Strings at and around every limit a signal has. */
  const sized = fc
    .constantFrom(0, 1, 2, 63, 64, 65, 255, 256, 257, 999, 1000, 1001, SDP_MAX - 1, SDP_MAX, SDP_MAX + 1)
    .map((n) => 'x'.repeat(n));
  const other = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -3, max: 3 }),
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 8 }),
    fc.constant([]),
    fc.constant({}),
  );
  /** Mostly `usual`, sometimes `unusual`: enough valid frames for the hand check to take. */
  const mostly = <T, U>(usual: fc.Arbitrary<T>, unusual: fc.Arbitrary<U>) =>
    fc.oneof({ arbitrary: usual, weight: 5 }, { arbitrary: unusual, weight: 1 });
  /** Mostly a short string, sometimes one at a limit. */
  const str = mostly(fc.string({ minLength: 1, maxLength: 12 }), sized);
  const maybeExtra = mostly(
    fc.constant(null),
    fc.tuple(fc.constantFrom('x', 'from', '__proto__', 'toString', 'Type'), other),
  );
  const withExtra = <T extends object>(value: fc.Arbitrary<T>) =>
    fc.tuple(value, maybeExtra).map(([o, extra]) => (extra === null ? o : { ...o, [extra[0]]: extra[1] }));
  /** Every key usually there, sometimes any of them missing. */
  const record = <T extends Record<string, unknown>>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
    withExtra(mostly(fc.record(model), fc.record(model, { requiredKeys: [] })));
  const description = mostly(
    record({
      type: mostly(fc.constantFrom('offer', 'answer'), fc.oneof(fc.constantFrom('pranswer', 'rollback'), other)),
      sdp: mostly(str, other),
    }),
    other,
  );
  const candidate = mostly(
    fc.oneof(
      fc.constant(null),
      record({
        candidate: mostly(str, other),
        sdpMid: mostly(fc.oneof(str, fc.constant(null)), other),
        sdpMLineIndex: mostly(
          fc.oneof(fc.nat(5), fc.constant(null)),
          fc.oneof(fc.integer({ min: -2, max: -1 }), fc.double({ noNaN: true }), other),
        ),
        usernameFragment: mostly(fc.oneof(str, fc.constant(null)), other),
      }),
    ),
    other,
  );
  const data = mostly(
    fc.oneof(
      record({
        kind: mostly(fc.constant('description'), fc.oneof(fc.constantFrom('candidate', 'Description'), other)),
        description,
      }),
      record({ kind: mostly(fc.constant('candidate'), fc.oneof(fc.constant('description'), other)), candidate }),
    ),
    other,
  );
  const frame = withExtra(
    fc.record(
      {
        type: fc.constant('signal'),
        callId: mostly(str, other),
        to: mostly(str, other),
        data,
        ref: mostly(str, other),
      },
      { requiredKeys: ['type', 'callId', 'data'] },
    ),
  );

  it('accepts only what the schema accepts, with the same output, and sends the rest on to it (property)', () => {
    let byHand = 0;
    let accepted = 0;
    fc.assert(
      fc.property(frame, (generated) => {
        // As a frame arrives: through JSON.
        const sent = JSON.parse(JSON.stringify(generated)) as Record<string, unknown>;
        const schema = v.safeParse(clientSchemas.signal, sent);
        const fast = plainSignal(sent);
        if (fast !== null) {
          byHand++;
          expect(schema.success).toBe(true);
          if (schema.success) expect(fast).toStrictEqual(schema.output);
        }
        const result = validateClientMessage(sent);
        expect(result.ok).toBe(schema.success);
        if (result.ok && schema.success) {
          accepted++;
          expect(result.value).toStrictEqual(schema.output);
        }
      }),
      { numRuns: 5000 },
    );
    // The generator reaches both sides: frames the hand check takes, and valid frames it leaves
    // to the schema (an unknown key, stripped by the schema).
    expect(byHand).toBeGreaterThan(300);
    expect(accepted).toBeGreaterThan(byHand);
  });

  it.each([
    ['an offer', { kind: 'description', description: { type: 'offer', sdp: 'v=0\r\n' } }],
    ['an answer', { kind: 'description', description: { sdp: '', type: 'answer' } }],
    [
      'a candidate as a browser writes it',
      {
        kind: 'candidate',
        candidate: {
          candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
          usernameFragment: 'u',
        },
      },
    ],
    ['a candidate with nulls', { candidate: { candidate: '', sdpMid: null, sdpMLineIndex: null }, kind: 'candidate' }],
    ['the end of candidates', { kind: 'candidate', candidate: null }],
  ])('takes %s by hand, with or without to and ref', (_name, data) => {
    for (const extra of [{}, { to: 'u1' }, { ref: 'r' }, { to: 'u1', ref: '' }]) {
      const frame = { type: 'signal', callId: 'c1', data, ...extra };
      const sent = JSON.parse(JSON.stringify(frame)) as Record<string, unknown>;
      const fast = plainSignal(sent);
      expect(fast).not.toBeNull();
      expect(fast).toStrictEqual(v.parse(clientSchemas.signal, sent));
    }
  });

  it('leaves frames with anything more to the schema, which strips it or words the error', () => {
    const data = { kind: 'candidate', candidate: null };
    expect(plainSignal({ type: 'signal', callId: 'c1', data, from: 'someone' })).toBeNull();
    expect(parse({ type: 'signal', callId: 'c1', data, from: 'someone' })).toStrictEqual({
      ok: true,
      value: { type: 'signal', callId: 'c1', data },
    });
    expect(plainSignal({ type: 'signal', callId: 'c1', data: { ...data, more: 1 } })).toBeNull();
    const wrong = { kind: 'candidate', candidate: { candidate: 5 } };
    expectError({ type: 'signal', callId: 'c1', data: wrong, ref: 'r' }, ErrorCode.badFrame, 'r');
    expectError({ type: 'signal', callId: '', data }, ErrorCode.badFrame);
  });
});
