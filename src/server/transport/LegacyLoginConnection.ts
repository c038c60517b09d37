import * as v from 'valibot';
import {
  ErrorCode,
  type IceCandidateInit,
  NAME_MAX,
  type SessionDescriptionInit,
} from '../../protocol/protocol.js';
import { UserError } from '../errors.js';
import { LegacyConnection, readCandidate, readDescription, readFrame } from './LegacyConnection.js';
import { cleanLegacyName, LEGACY_DEFAULT_NAME } from './legacyText.js';

/** After login the client puts the *peer's* name in `name` (when it has a peer). */
const PeerName = v.optional(v.nullable(v.pipe(v.string(), v.maxLength(NAME_MAX * 8))));

const schemas = {
  offer: v.object({ name: v.pipe(v.string(), v.minLength(1), v.maxLength(NAME_MAX * 8)), offer: v.unknown() }),
  answer: v.object({ name: PeerName, answer: v.unknown() }),
  candidate: v.object({ name: PeerName, candidate: v.unknown() }),
  leave: v.object({ name: PeerName }),
};

/** The frames a login-protocol client reads. */
type LoginFrame =
  | { type: 'login'; success: boolean }
  | { type: 'offer'; offer: SessionDescriptionInit; name: string }
  | { type: 'answer'; answer: SessionDescriptionInit }
  | { type: 'candidate'; candidate: IceCandidateInit }
  | { type: 'leave' }
  | { type: 'error'; message: string; code?: ErrorCode };

/**
 * One WebSocket speaking the legacy "login" protocol of the two-page video demo (docs:
 * LEGACY-PROTOCOLS.md, section B): a name, then calls only. The user is in the lobby, so Parley
 * users see it and can call it, but it has no chat: the hub refuses direct messages to it and
 * lobby messages are not delivered to it.
 */
export class LegacyLoginConnection extends LegacyConnection {
  protected readonly badJsonError = new UserError(ErrorCode.badJson, 'Command not found: (invalid JSON)');
  protected readonly notSignedInMessage = 'log in first';

  #send(frame: LoginFrame): void {
    this.send(frame);
  }

  /**
   * Unknown types and unreadable JSON get the protocol's own error frame; other refusals carry a
   * Parley error code as well, which the original clients ignore.
   */
  protected errorFrame(code: ErrorCode, message: string): LoginFrame {
    return code === ErrorCode.unknownType || code === ErrorCode.badJson
      ? { type: 'error', message }
      : { type: 'error', message, code };
  }

  protected dispatch(frame: Record<string, unknown>): Promise<void> | void {
    const type = frame.type;
    switch (type) {
      case 'login':
        return this.#login(frame.name);
      case 'offer': {
        const { name, offer } = readFrame(schemas.offer, frame, type);
        this.offer(name, readDescription(offer, 'offer', 'offer'));
        return;
      }
      case 'answer': {
        const { name, answer } = readFrame(schemas.answer, frame, type);
        this.answer(name ?? null, readDescription(answer, 'answer', 'answer'));
        return;
      }
      case 'candidate': {
        const { name, candidate } = readFrame(schemas.candidate, frame, type);
        this.candidate(name ?? null, readCandidate(candidate, 'candidate'));
        return;
      }
      case 'leave':
        this.hangUp(readFrame(schemas.leave, frame, type).name ?? null);
        return;
      default:
        throw new UserError(
          ErrorCode.unknownType,
          // Only a string type is echoed: String() of an object can throw or recurse without end.
          `Command not found: ${typeof type === 'string' ? type.slice(0, 40) : describeType(type)}`,
        );
    }
  }

  /**
   * The protocol has no way to say why a login failed or to offer another name, so a taken name,
   * an unusable `name` field and a second login on one connection all answer success: false.
   */
  async #login(raw: unknown): Promise<void> {
    if (this.session || typeof raw !== 'string' || raw.length > NAME_MAX * 8) {
      this.#send({ type: 'login', success: false });
      return;
    }
    const name = cleanLegacyName(raw) ?? LEGACY_DEFAULT_NAME;
    if (this.hub.findByName(name)) {
      this.#send({ type: 'login', success: false });
      return;
    }
    try {
      if (!(await this.enter(name, 'login', false))) return;
    } catch (error) {
      // Taken on another instance meanwhile: the protocol's answer for a taken name.
      if (!(error instanceof UserError) || error.code !== ErrorCode.nameTaken) throw error;
      this.#send({ type: 'login', success: false });
      return;
    }
    this.#send({ type: 'login', success: true });
  }

  protected sendDescription(peerName: string, description: SessionDescriptionInit): void {
    if (description.type === 'offer') this.#send({ type: 'offer', offer: description, name: peerName });
    else this.#send({ type: 'answer', answer: description });
  }

  protected sendCandidate(_peerName: string, candidate: IceCandidateInit): void {
    this.#send({ type: 'candidate', candidate });
  }

  protected sendPeerGone(_peerName: string): void {
    this.#send({ type: 'leave' });
  }
}

/** What the original server printed for a primitive; a label for objects and arrays. */
function describeType(type: unknown): string {
  if (type === null || typeof type === 'undefined' || typeof type === 'number' || typeof type === 'boolean') {
    return String(type);
  }
  return Array.isArray(type) ? '(array)' : `(${typeof type})`;
}
