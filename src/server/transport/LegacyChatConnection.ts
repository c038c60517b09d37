import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import {
  type ChatMessage,
  ErrorCode,
  type IceCandidateInit,
  LOBBY,
  NAME_MAX,
  type SessionDescriptionInit,
  ChatTextSchema,
} from '../../protocol/protocol.js';
import { UserError } from '../errors.js';
import type { StoredMessage } from '../store/MessageStore.js';
import type { Hub } from '../hub/Hub.js';
import type { Outbound } from '../hub/Session.js';
import {
  LegacyConnection,
  type LegacyConnectionOptions,
  readCandidate,
  readDescription,
  readFrame,
} from './LegacyConnection.js';
import { cleanLegacyName, escapeHtml, LEGACY_DEFAULT_NAME } from './legacyText.js';
import type { ParleySocket } from './socket.js';

/**
 * A name or target as a client may send it. Generous, since names are cleaned rather than refused,
 * but bounded.
 */
const RawName = v.pipe(v.string(), v.maxLength(NAME_MAX * 8));
const Target = v.optional(v.nullable(RawName));

/**
 * The fields each frame type must have. `id`, `name` and `date` from the client are ignored:
 * identity comes from the connection, time from the server.
 */
const schemas = {
  username: v.object({ name: RawName }),
  message: v.object({
    text: ChatTextSchema,
    target: Target,
  }),
  'video-offer': v.object({ target: v.pipe(RawName, v.minLength(1)), sdp: v.unknown() }),
  'video-answer': v.object({ target: Target, sdp: v.unknown() }),
  'new-ice-candidate': v.object({ target: Target, candidate: v.unknown() }),
  'hang-up': v.object({ target: Target }),
};

/** Lobby messages as chat-protocol frames, keyed by the hub's one Outbound per fan-out. */
const translatedLobbyMessages = new WeakMap<Outbound, string>();

/** The frames a chat-protocol client reads. */
type ChatFrame =
  | { type: 'id'; id: number }
  | { type: 'rejectusername'; id: number; name: string }
  | { type: 'message'; name: string; text: string; date: number; target?: string }
  | { type: 'video-offer' | 'video-answer'; name: string; target: string; sdp: SessionDescriptionInit }
  | { type: 'new-ice-candidate'; name: string; target: string; candidate: IceCandidateInit }
  | { type: 'hang-up'; name: string; target: string }
  | { type: 'error'; code: ErrorCode; message: string };

/**
 * One WebSocket speaking the legacy "chat" protocol of the MDN signaling sample and chatWithRTC
 * (docs: LEGACY-PROTOCOLS.md, section A). The user is a member of the lobby like anyone else:
 * its `message` frames become lobby messages (or direct messages with a `target`), and lobby
 * messages from everyone reach it with their text HTML-escaped, since these clients insert text
 * into the page as HTML. User lists are sent by attachLegacyChat, shared by every connection.
 */
export class LegacyChatConnection extends LegacyConnection {
  /** The connection number from the `id` frame; the client echoes it and the server ignores it. */
  readonly id: number;
  /** The user-list version this client has seen last (see attachLegacyChat). */
  userlistVersion = 0;
  protected readonly badJsonError = new UserError(ErrorCode.badJson, 'frame is not a JSON object');
  protected readonly notSignedInMessage = 'send username first';

  readonly #imageUrl: (id: string) => string;

  constructor(
    ws: ParleySocket,
    hub: Hub,
    options: LegacyConnectionOptions,
    id: number,
    /** Where this client can fetch a shared image (its host may differ from the server's). */
    imageUrl: (id: string) => string = (imageId) => `/api/images/${imageId}`,
  ) {
    super(ws, hub, options);
    this.id = id;
    this.#imageUrl = imageUrl;
    this.#send({ type: 'id', id });
  }

  #send(frame: ChatFrame): void {
    this.send(frame);
  }

  protected errorFrame(code: ErrorCode, message: string): ChatFrame {
    return { type: 'error', code, message };
  }

  protected dispatch(frame: Record<string, unknown>): Promise<void> | void {
    const type = frame.type;
    switch (type) {
      case 'username': {
        return this.#signIn(readFrame(schemas.username, frame, type).name);
      }
      case 'message': {
        const { text, target } = readFrame(schemas.message, frame, type);
        return this.#chat(text, target ?? null);
      }
      case 'video-offer': {
        const { target, sdp } = readFrame(schemas[type], frame, type);
        this.offer(target, readDescription(sdp, 'offer', 'sdp'));
        return;
      }
      case 'video-answer': {
        const { target, sdp } = readFrame(schemas[type], frame, type);
        this.answer(target ?? null, readDescription(sdp, 'answer', 'sdp'));
        return;
      }
      case 'new-ice-candidate': {
        const { target, candidate } = readFrame(schemas[type], frame, type);
        this.candidate(target ?? null, readCandidate(candidate, 'candidate'));
        return;
      }
      case 'hang-up': {
        // The MDN client clears its target before sending this, so it often comes as null: it
        // means "my current call", never "everyone's".
        this.hangUp(readFrame(schemas[type], frame, type).target ?? null);
        return;
      }
      default:
        throw new UserError(
          ErrorCode.unknownType,
          typeof type === 'string' ? `unknown type "${type.slice(0, 40)}"` : 'frame has no type',
        );
    }
  }

  async #signIn(sent: string): Promise<void> {
    if (this.session) throw new UserError(ErrorCode.alreadySignedIn, 'this connection already has a name');
    const name = cleanLegacyName(sent) ?? LEGACY_DEFAULT_NAME;
    const session = await this.enter(name, 'chat', true);
    if (!session) return;
    // The client adopts whatever name this frame carries, so a cleaned name is announced as well
    // as a renamed one.
    if (session.name !== sent) this.#send({ type: 'rejectusername', id: this.id, name: session.name });
  }

  async #chat(text: string, target: string | null): Promise<void> {
    const session = this.requireSession();
    // Every legacy message is new: the protocol has no re-send, so nothing to deduplicate.
    const clientId = `legacy-${randomUUID()}`;
    let stored: StoredMessage;
    let toName: string | undefined;
    if (target) {
      const to = this.lookup(target);
      if (!to) throw new UserError(ErrorCode.userNotFound, `no user called "${target.slice(0, 64)}"`);
      stored = await this.hub.dm(session, to.id, clientId, text);
      toName = to.name;
    } else {
      stored = await this.hub.chat(session, LOBBY, clientId, text);
    }
    // The hub acknowledges rather than echoes; these clients show their own lines only from the
    // echo, so send it (for a direct message too, though the original server did not).
    this.#send(messageFrame(stored.senderName, this.#textOf(stored), stored.ts, toName));
  }

  protected override deliverOther(out: Outbound): void {
    const msg = out.msg;
    if (msg.type !== 'message') return;
    const m: ChatMessage = msg.message;
    if ('to' in m) {
      this.#send(messageFrame(m.from.name, this.#textOf(m), m.ts, this.session?.name));
      return;
    }
    if (m.room !== LOBBY) return;
    if (m.image) {
      // The photo's address depends on how this client reached the server: no shared copy.
      this.#send(messageFrame(m.from.name, this.#textOf(m), m.ts, undefined));
      return;
    }
    // The same lobby message goes to every chat-protocol client: escape and serialize it once.
    let json = translatedLobbyMessages.get(out);
    if (json === undefined) {
      json = JSON.stringify(messageFrame(m.from.name, m.text, m.ts, undefined));
      translatedLobbyMessages.set(out, json);
    }
    this.sendRaw(json);
  }

  /** These clients show text only: a photo becomes "[photo] <url>" after the message's words. */
  #textOf(m: { text: string; image?: { id: string } | undefined }): string {
    if (!m.image) return m.text;
    const photo = `[photo] ${this.#imageUrl(m.image.id)}`;
    return m.text.trim() === '' ? photo : `${m.text} ${photo}`;
  }

  protected sendDescription(peerName: string, description: SessionDescriptionInit): void {
    this.#send({
      type: description.type === 'offer' ? 'video-offer' : 'video-answer',
      name: peerName,
      target: this.session?.name ?? '',
      sdp: description,
    });
  }

  protected sendCandidate(peerName: string, candidate: IceCandidateInit): void {
    this.#send({ type: 'new-ice-candidate', name: peerName, target: this.session?.name ?? '', candidate });
  }

  protected sendPeerGone(peerName: string): void {
    this.#send({ type: 'hang-up', name: peerName, target: this.session?.name ?? '' });
  }
}

function messageFrame(name: string, text: string, ts: number, target: string | undefined): ChatFrame {
  return {
    type: 'message',
    name: escapeHtml(name),
    text: escapeHtml(text),
    date: ts,
    ...(target === undefined ? {} : { target: escapeHtml(target) }),
  };
}
