/**
 * Parley protocol v1: the wire contract between the web app and the server.
 *
 * Every frame is a JSON object with a `type`. Client frames are validated by `parseClientMessage`
 * (validate.ts) before anything acts on them; the types below are derived from those schemas so
 * there is exactly one definition of each message. docs/PROTOCOL.md describes the same messages in
 * prose with one example each.
 *
 * No DOM and no Node types here: this module is imported by both sides.
 */
import * as v from 'valibot';

/** The protocol versions this build speaks, newest last. */
export const PROTOCOL_VERSIONS = [1] as const;
export const PROTOCOL_VERSION = 1;

/** Default room every signed-in user joins first. */
export const LOBBY = 'lobby';

export const NAME_MAX = 32;
export const ROOM_MAX = 32;
export const TEXT_MAX = 4000;
export const CLIENT_ID_MAX = 64;
export const REF_MAX = 64;
export const HISTORY_MAX = 100;
/** Most members one `members` request may ask for. */
export const MEMBER_PAGE_MAX = 200;
export const SDP_MAX = 32_000;
/**
 * Most participants in one room call. Room calls are a full mesh: each participant sends its media
 * to every other one, so uplink and encoder load grow with the count (docs/GROUP-CALLS.md).
 */
export const ROOM_CALL_MAX = 6;
export const CANDIDATE_MAX = 1_000;
/** Longest user id or call id a client may name. */
export const ID_MAX = 64;
/** Longest `sdpMid` and `usernameFragment` of an ICE candidate. */
export const SDP_MID_MAX = 64;
export const UFRAG_MAX = 256;

/**
 * Letters (any script), digits, space, dot, underscore, hyphen. Combining marks may follow the first
 * character: Devanagari, Tamil and many other scripts cannot spell a name without vowel signs.
 */
const NAME_PATTERN = /^[\p{L}\p{N} ._-][\p{L}\p{M}\p{N} ._-]*$/u;
/** Room names are URL-friendly: they appear in /r/<room>. */
const ROOM_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * Normalizes a display name the way the server compares and stores it: composed (NFC, so "José"
 * typed with a combining accent is the same name as with "é"), trimmed, inner runs of spaces
 * collapsed. Returns null when the result is not a valid name.
 */
export function normalizeName(raw: string): string | null {
  const name = raw.normalize('NFC').trim().replace(/\s+/g, ' ');
  if (name.length < 1 || name.length > NAME_MAX) return null;
  return NAME_PATTERN.test(name) ? name : null;
}

/**
 * The order of member lists (roomJoined, memberPage): by this key, compared as plain strings.
 * Names are unique by this key, so it also serves as the paging cursor.
 */
export function memberSortKey(name: string): string {
  return name.toLowerCase();
}

/** Normalizes a room name (lowercase, trimmed); null when invalid. */
export function normalizeRoom(raw: string): string | null {
  const room = raw.trim().toLowerCase();
  if (room.length < 1 || room.length > ROOM_MAX) return null;
  return ROOM_PATTERN.test(room) ? room : null;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const Ref = v.optional(v.pipe(v.string(), v.maxLength(REF_MAX)));
const UserId = v.pipe(v.string(), v.minLength(1), v.maxLength(ID_MAX));
const CallId = v.pipe(v.string(), v.minLength(1), v.maxLength(ID_MAX));
const Name = v.pipe(
  v.string(),
  v.maxLength(NAME_MAX * 4),
  v.check((s) => normalizeName(s) !== null, 'name must be 1–32 letters, digits, spaces or ._-'),
  v.transform((s) => normalizeName(s) ?? s),
);
const Room = v.pipe(
  v.string(),
  v.maxLength(ROOM_MAX + 8),
  v.check((s) => normalizeRoom(s) !== null, 'room must be 1–32 of a-z, 0-9, _ or -'),
  v.transform((s) => normalizeRoom(s) ?? s),
);
/** A UTF-16 surrogate without its partner: not text, and UTF-8 storage would turn it into U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = v.check(
  (s: string) => !LONE_SURROGATE.test(s),
  'must be well-formed Unicode (no lone surrogates)',
);
const ClientMsgId = v.pipe(v.string(), v.minLength(1), v.maxLength(CLIENT_ID_MAX), wellFormed);
/** Chat text: what every endpoint (Parley and legacy) accepts as a message. */
export const ChatTextSchema = v.pipe(
  v.string(),
  v.maxLength(TEXT_MAX, `text must be at most ${TEXT_MAX} characters`),
  wellFormed,
  v.check((s) => s.trim().length > 0, 'text must not be empty'),
);
/**
 * The body of a chat or dm: like ChatTextSchema, but it may be empty, since a message that carries
 * an image needs no words. The message-level check below still refuses a message with neither.
 */
const ChatBodySchema = v.pipe(
  v.string(),
  v.maxLength(TEXT_MAX, `text must be at most ${TEXT_MAX} characters`),
  wellFormed,
);
/** Server-minted image ids (POST /api/images): 16 random bytes, base64url. */
export const IMAGE_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
/** The largest width or height of a shared image, in pixels. */
export const IMAGE_SIDE_MAX = 16_384;
const ImageSide = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(IMAGE_SIDE_MAX));
/** An image uploaded with POST /api/images, referenced from a chat message. */
export const ImageRefSchema = v.object({
  id: v.pipe(v.string(), v.regex(IMAGE_ID_PATTERN, 'image id must be one that POST /api/images returned')),
  width: ImageSide,
  height: ImageSide,
});
export type ImageRef = v.InferOutput<typeof ImageRefSchema>;
const Versions = v.pipe(v.array(v.pipe(v.number(), v.integer())), v.minLength(1), v.maxLength(16));
const MessageIdSchema = v.pipe(v.number(), v.integer(), v.minValue(0));

const SessionDescription = v.object({
  type: v.picklist(['offer', 'answer']),
  sdp: v.pipe(v.string(), v.maxLength(SDP_MAX)),
});

const IceCandidate = v.object({
  candidate: v.pipe(v.string(), v.maxLength(CANDIDATE_MAX)),
  sdpMid: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(SDP_MID_MAX)))),
  sdpMLineIndex: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0)))),
  usernameFragment: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(UFRAG_MAX)))),
});

/** What one peer sends the other through the server during a call. */
export const SignalDataSchema = v.variant('kind', [
  v.object({ kind: v.literal('description'), description: SessionDescription }),
  /** `candidate: null` marks the end of candidates. */
  v.object({ kind: v.literal('candidate'), candidate: v.nullable(IceCandidate) }),
]);
export type SignalData = v.InferOutput<typeof SignalDataSchema>;
export type SessionDescriptionInit = v.InferOutput<typeof SessionDescription>;
export type IceCandidateInit = v.InferOutput<typeof IceCandidate>;

export const CallMediaSchema = v.picklist(['audio', 'video']);
export type CallMedia = v.InferOutput<typeof CallMediaSchema>;

// ---------------------------------------------------------------------------------------------
// Client → server

/**
 * One schema per client message type. The key is the `type` value; `validate.ts` looks the schema
 * up by it, so an unknown type is rejected before any field is read.
 */
export const clientSchemas = {
  /** First frame of a new session: pick a display name. */
  hello: v.object({ type: v.literal('hello'), versions: Versions, name: Name, ref: Ref }),
  /** First frame of a reconnect: the token from `welcome`, and the newest message id already seen. */
  resume: v.object({
    type: v.literal('resume'),
    versions: Versions,
    token: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
    since: v.optional(MessageIdSchema),
    ref: Ref,
  }),
  join: v.object({ type: v.literal('join'), room: Room, ref: Ref }),
  leave: v.object({ type: v.literal('leave'), room: Room, ref: Ref }),
  /**
   * A page of a room's member list, sorted by `memberSortKey`, after the member named `after`.
   * Asking also subscribes the connection to changes among every member up to the end of that page.
   */
  members: v.object({
    type: v.literal('members'),
    room: Room,
    after: v.optional(v.pipe(v.string(), v.maxLength(NAME_MAX * 4))),
    limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MEMBER_PAGE_MAX))),
    ref: Ref,
  }),
  /** The user's own availability; `inCall` is derived by the server and cannot be set. */
  presence: v.object({
    type: v.literal('presence'),
    status: v.picklist(['online', 'away']),
    ref: Ref,
  }),
  /**
   * A message to a room the sender is in. `clientId` makes re-sends idempotent. With an `image`
   * (uploaded first with POST /api/images) the text may be empty.
   */
  chat: v.pipe(
    v.object({
      type: v.literal('chat'),
      clientId: ClientMsgId,
      room: Room,
      text: ChatBodySchema,
      image: v.optional(ImageRefSchema),
      ref: Ref,
    }),
    // Words, an image, or both.
    v.check((m) => m.image !== undefined || m.text.trim().length > 0, 'text must not be empty'),
  ),
  /** A direct message to one user who shares a room with the sender; `image` as in `chat`. */
  dm: v.pipe(
    v.object({
      type: v.literal('dm'),
      clientId: ClientMsgId,
      to: UserId,
      text: ChatBodySchema,
      image: v.optional(ImageRefSchema),
      ref: Ref,
    }),
    // Words, an image, or both.
    v.check((m) => m.image !== undefined || m.text.trim().length > 0, 'text must not be empty'),
  ),
  /** A page of a room's history, or of the direct messages with `peer`, older than `before`. */
  history: v.pipe(
    v.object({
      type: v.literal('history'),
      room: v.optional(Room),
      peer: v.optional(UserId),
      before: v.optional(MessageIdSchema),
      limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(HISTORY_MAX))),
      ref: Ref,
    }),
    v.check(
      (m) => (m.room === undefined) !== (m.peer === undefined),
      'history needs exactly one of room or peer',
    ),
  ),
  callInvite: v.object({
    type: v.literal('callInvite'),
    to: UserId,
    media: CallMediaSchema,
    ref: Ref,
  }),
  callAccept: v.object({
    type: v.literal('callAccept'),
    callId: CallId,
    media: CallMediaSchema,
    ref: Ref,
  }),
  callDecline: v.object({ type: v.literal('callDecline'), callId: CallId, ref: Ref }),
  callCancel: v.object({ type: v.literal('callCancel'), callId: CallId, ref: Ref }),
  callHangup: v.object({ type: v.literal('callHangup'), callId: CallId, ref: Ref }),
  /** Negotiation for a call. In a room call `to` (a participant's user id) is required. */
  signal: v.object({
    type: v.literal('signal'),
    callId: CallId,
    to: v.optional(UserId),
    data: SignalDataSchema,
    ref: Ref,
  }),
  /**
   * The sender's microphone and camera state, shown to the peer. In a room call it goes to every
   * other participant, or only to `to` when given.
   */
  callMedia: v.object({
    type: v.literal('callMedia'),
    callId: CallId,
    to: v.optional(UserId),
    audio: v.boolean(),
    video: v.boolean(),
    ref: Ref,
  }),
  /** Joins (or starts) the call of a room the sender is in; `media` is what the sender brings. */
  roomCallJoin: v.object({
    type: v.literal('roomCallJoin'),
    room: Room,
    media: CallMediaSchema,
    ref: Ref,
  }),
  /** Leaves the call of that room. */
  roomCallLeave: v.object({ type: v.literal('roomCallLeave'), room: Room, ref: Ref }),
  ping: v.object({ type: v.literal('ping'), ref: Ref }),
} as const;

type ClientSchemas = typeof clientSchemas;
export type ClientMessageType = keyof ClientSchemas;
export type ClientMessageOf<T extends ClientMessageType> = v.InferOutput<ClientSchemas[T]>;
export type ClientMessage = { [T in ClientMessageType]: ClientMessageOf<T> }[ClientMessageType];
/** What a client may send, as written (before the server normalizes names and rooms). */
export type ClientMessageInput = { [T in ClientMessageType]: v.InferInput<ClientSchemas[T]> }[ClientMessageType];

// ---------------------------------------------------------------------------------------------
// Server → client

export type Presence = 'online' | 'away' | 'inCall';
/** Which wire protocol a member speaks; the web app uses it to pick the negotiation role. */
export type MemberKind = 'parley' | 'chat' | 'login';

export interface Member {
  id: string;
  name: string;
  presence: Presence;
  kind: MemberKind;
}

export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface ChatMessageBase {
  /** Server id: increases with every stored message. */
  id: number;
  /** Server time, ms since the epoch. */
  ts: number;
  from: { id: string; name: string };
  /** May be empty when `image` is set. */
  text: string;
  clientId: string;
  /** A shared image, served at GET /api/images/<id>; absent on text-only messages. */
  image?: ImageRef;
}
export interface RoomChatMessage extends ChatMessageBase {
  room: string;
}
export interface DirectChatMessage extends ChatMessageBase {
  /** The recipient's user id. */
  to: string;
}
export type ChatMessage = RoomChatMessage | DirectChatMessage;

export type CallEndReason =
  | 'declined'
  | 'busy'
  | 'cancelled'
  | 'timeout'
  | 'hangup'
  | 'disconnected'
  | 'unavailable';

export type ServerMessage =
  | {
      type: 'welcome';
      version: number;
      user: { id: string; name: string };
      /** Present this in `resume` to reconnect as the same user within `graceMs`. */
      token: string;
      graceMs: number;
      resumed: boolean;
      iceServers: IceServer[];
      /** When the TURN credentials in iceServers expire (ms since epoch), or null without TURN. */
      iceExpiresAt: number | null;
      limits: { maxFrameBytes: number; maxTextLength: number; historyPageMax: number };
      /** Rooms the session is in (all of them on resume). */
      rooms: string[];
      /** Calls the session is in (on resume), so the app can pick them up again. */
      calls: CallSummary[];
      ref: string | null;
    }
  | { type: 'iceServers'; iceServers: IceServer[]; iceExpiresAt: number | null }
  | {
      type: 'roomJoined';
      room: string;
      /** How many members the room has. */
      count: number;
      /**
       * Every member, in join order, when the room is small; in a large room only the first page
       * (by `memberSortKey`), and `hasMore` is true: ask for the rest with `members`.
       */
      members: Member[];
      hasMore: boolean;
      ref: string | null;
    }
  | { type: 'roomLeft'; room: string; ref: string | null }
  | {
      type: 'members';
      room: string;
      count: number;
      /** New members, sorted by `memberSortKey`. */
      joined: Member[];
      /** Ids of members who left. */
      left: string[];
      /** Members whose presence changed. */
      changed: Member[];
    }
  | {
      type: 'memberPage';
      room: string;
      count: number;
      /** Sorted by `memberSortKey`, all after the request's `after`. */
      members: Member[];
      hasMore: boolean;
      ref: string | null;
    }
  | { type: 'ack'; clientId: string; id: number; ts: number; ref: string | null }
  | { type: 'message'; message: ChatMessage }
  | {
      type: 'history';
      room: string | null;
      peer: string | null;
      /** Oldest first. */
      messages: ChatMessage[];
      hasMore: boolean;
      ref: string | null;
    }
  | { type: 'callRinging'; callId: string; to: string; media: CallMedia; ref: string | null }
  | { type: 'callIncoming'; callId: string; from: Member; media: CallMedia }
  | { type: 'callAccepted'; callId: string; media: CallMedia }
  | {
      type: 'callEnded';
      callId: string;
      reason: CallEndReason;
      /** The invite's ref when the call ended at once (busy), else null. */
      ref: string | null;
    }
  | { type: 'signal'; callId: string; from: string; data: SignalData }
  | { type: 'callMedia'; callId: string; from: string; audio: boolean; video: boolean }
  | {
      /**
       * A room's call as it is now, to every member of the room whenever its participants change,
       * and after roomJoined (join and resume) when the room has a call. `participants` is in join
       * order; empty when the call just ended.
       */
      type: 'roomCall';
      room: string;
      callId: string;
      participants: RoomCallParticipant[];
      /** The roomCallJoin or roomCallLeave's ref for its sender; null for everyone else. */
      ref: string | null;
    }
  | { type: 'pong'; ts: number; ref: string | null }
  | { type: 'error'; code: ErrorCode; message: string; ref: string | null; suggestion?: string };

export type ServerMessageType = ServerMessage['type'];

/** Someone in a room call. */
export interface RoomCallParticipant {
  id: string;
  name: string;
  /** What they joined with: `video` if they brought a camera. */
  media: CallMedia;
  /** Their microphone and camera as last told with callMedia (at first: on, and on for video). */
  audio: boolean;
  video: boolean;
}

export interface CallSummary {
  callId: string;
  /** The other party. */
  peer: Member;
  media: CallMedia;
  role: 'caller' | 'callee';
  state: 'ringing' | 'active';
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Stable, machine-readable error codes carried by `{type:"error"}`. The message beside the code is
 * for people and may change.
 */
export const ErrorCode = {
  /** The frame is not valid JSON (or not a JSON object). */
  badJson: 'bad_json',
  /** The frame's `type` is missing or not one this server knows. */
  unknownType: 'unknown_type',
  /** A field is missing, has the wrong type, or is out of range. */
  badFrame: 'bad_frame',
  /** The frame is larger than limits.maxFrameBytes. */
  frameTooLarge: 'frame_too_large',
  /** Too many frames too fast; the frame was dropped. */
  rateLimited: 'rate_limited',
  /** None of the client's protocol versions is spoken here. */
  unsupportedVersion: 'unsupported_version',
  /** The frame needs a signed-in session (send hello or resume first). */
  notSignedIn: 'not_signed_in',
  /** hello or resume on a connection that is already signed in. */
  alreadySignedIn: 'already_signed_in',
  /** The display name is taken; `suggestion` holds a free one. */
  nameTaken: 'name_taken',
  /** The resume token is unknown or its grace period is over; sign in again. */
  resumeFailed: 'resume_failed',
  /** The sender is not a member of that room. */
  notInRoom: 'not_in_room',
  /** The session is in as many rooms as the server allows; leave one first. */
  roomLimit: 'room_limit',
  /** No such user among the members of the sender's rooms. */
  userNotFound: 'user_not_found',
  /** The user tried to call themself. */
  callSelf: 'call_self',
  /** The caller is already in a call (1:1 or a room call). */
  alreadyInCall: 'already_in_call',
  /** The room call already has ROOM_CALL_MAX participants. */
  callFull: 'call_full',
  /** No such call, or the sender is not a party of it. */
  callNotFound: 'call_not_found',
  /** The call is not in a state where that message applies (e.g. ICE before accept). */
  callState: 'call_state',
  /** The target's app cannot do that (e.g. a direct message to a member whose client has no chat). */
  notSupported: 'not_supported',
  /** The server failed to store or handle the message; it is safe to retry. */
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the server uses. */
export const CloseCode = {
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  policyViolation: 1008,
  tooLarge: 1009,
  internalError: 1011,
  /** The same session was resumed on another connection. */
  replaced: 4001,
  /** The session ended (signed out or expired). */
  sessionEnded: 4002,
} as const;
