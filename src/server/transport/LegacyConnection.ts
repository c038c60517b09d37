import * as v from 'valibot';
import {
  CloseCode,
  ErrorCode,
  type IceCandidateInit,
  type SessionDescriptionInit,
  type SignalData,
  SignalDataSchema,
} from '../../protocol/protocol.js';
import { parseJsonObject } from '../../protocol/validate.js';
import { UserError } from '../errors.js';
import type { Call } from '../hub/Call.js';
import type { Hub, HubLogger } from '../hub/Hub.js';
import type { Outbound, Session, SessionSink } from '../hub/Session.js';
import { FrameIntake, type IntakeOptions } from './FrameIntake.js';
import { safeSend } from './heartbeat.js';
import { cleanLegacyName } from './legacyText.js';
import type { ParleySocket } from './socket.js';

export type LegacyConnectionOptions = IntakeOptions;

/** A client that has this much unsent data queued is not reading; drop it rather than buffer more. */
const SLOW_CONSUMER_BYTES = 16 * 1024 * 1024;

/** The call this connection's user is in, as far as the legacy wire is concerned. */
interface LegacyCall {
  id: string;
  /** Kept because the hub has forgotten the call by the time it says the call ended. */
  peerName: string;
}

/**
 * The part every legacy wire protocol shares: rate and size limits, the error funnel, and the
 * mapping between legacy call frames (which name the peer and have no consent step) and the hub's
 * calls (which have ids and ring first).
 *
 * Calls: a legacy offer to someone the user is not in a call with becomes hub.callInvite, and the
 * offer follows it at once as a signal, like a Parley app's early offer: a Parley callee's app
 * applies it while it rings and answers only if its user accepts; a legacy callee accepts at
 * once. Candidates, later offers and answers are relayed as they come. Whatever way a call ends,
 * the legacy client is told with the protocol's own "peer gone" frame.
 *
 * Subclasses parse their protocol's frames and call offer(), answer(), candidate() and hangUp();
 * they turn signals from the peer into frames in sendDescription(), sendCandidate() and
 * sendPeerGone(). A UserError thrown while handling a frame is answered with errorFrame(); anything
 * else is a bug, logged, and closes only this connection with 1011.
 */
export abstract class LegacyConnection extends FrameIntake implements SessionSink {
  protected readonly hub: Hub;
  #session: Session | null = null;
  #call: LegacyCall | null = null;

  constructor(ws: ParleySocket, hub: Hub, options: LegacyConnectionOptions) {
    super(ws, options);
    this.hub = hub;
    ws.on('close', () => {
      // Legacy sessions end with their connection; the hub ends the call and tells the peer.
      if (this.#session) this.hub.detach(this.#session, this);
    });
    ws.on('error', (error) => {
      this.logger.debug({ err: error }, 'legacy socket error');
    });
  }

  protected get logger(): HubLogger {
    return this.opts.logger;
  }

  /** The signed-in session, or null before sign-in. */
  get session(): Session | null {
    return this.#session;
  }

  /** Sends an already serialized frame (e.g. a user list shared by every connection). */
  sendRaw(json: string): void {
    if (this.ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      this.logger.warn({ user: this.#session?.id }, 'closing a legacy connection that is not reading');
      this.ws.terminate();
      return;
    }
    safeSend(this.ws, json);
  }

  protected send(frame: object): void {
    this.sendRaw(JSON.stringify(frame));
  }

  protected setSession(session: Session): void {
    this.#session = session;
  }

  /** Signs in through the hub (the name claimed across instances); null if the socket closed meanwhile. */
  protected async enter(name: string, kind: 'chat' | 'login', rename: boolean): Promise<Session | null> {
    const gone = () => this.ws.readyState !== this.ws.OPEN;
    const session = await this.hub.enter(name, kind, this, { rename, gone });
    if (gone()) return null;
    this.#session = session;
    return session;
  }

  protected requireSession(): Session {
    if (this.#session === null) throw new UserError(ErrorCode.notSignedIn, this.notSignedInMessage);
    return this.#session;
  }

  /** The user a legacy client means by `name`, cleaned the way legacy names are at sign-in. */
  protected lookup(name: string): Session | undefined {
    const exact = this.hub.findByName(name);
    if (exact) return exact;
    const clean = cleanLegacyName(name);
    return clean === null ? undefined : this.hub.findByName(clean);
  }

  // -------------------------------------------------------------------------------------------
  // What a subclass supplies

  /** Handles one decoded frame (a JSON object). Throws UserError for frames it refuses. */
  protected abstract dispatch(frame: Record<string, unknown>): Promise<void> | void;
  /** The error frame for this protocol. */
  protected abstract errorFrame(code: ErrorCode, message: string): object;
  /** The error for text that is not a JSON object. */
  protected abstract readonly badJsonError: UserError;
  protected abstract readonly notSignedInMessage: string;
  /** An offer or answer from the peer. */
  protected abstract sendDescription(peerName: string, description: SessionDescriptionInit): void;
  protected abstract sendCandidate(peerName: string, candidate: IceCandidateInit): void;
  /** The call with `peerName` is over (hang-up, decline, busy, timeout, disconnect). */
  protected abstract sendPeerGone(peerName: string): void;
  /** Hub messages other than call events; most have no legacy counterpart and are dropped. */
  protected deliverOther(_out: Outbound): void {
    // Nothing by default.
  }

  // -------------------------------------------------------------------------------------------
  // SessionSink

  deliver(out: Outbound): void {
    const msg = out.msg;
    switch (msg.type) {
      case 'callRinging':
      case 'callIncoming':
        this.#callStarted(msg.callId);
        return;
      case 'signal':
        this.#signalIn(msg.callId, msg.data);
        return;
      case 'callEnded':
        this.#callEnded(msg.callId);
        return;
      default:
        this.deliverOther(out);
    }
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  // -------------------------------------------------------------------------------------------
  // Calls: legacy → hub

  /** An offer to `targetName`: starts a call, or renegotiates the one with that user. */
  protected offer(targetName: string, description: SessionDescriptionInit): void {
    const session = this.requireSession();
    const target = this.lookup(targetName);
    if (!target) throw new UserError(ErrorCode.userNotFound, `no user called "${targetName.slice(0, 64)}"`);
    const call = session.call;
    if (call) {
      if (call.peerOf(session) !== target) {
        throw new UserError(ErrorCode.alreadyInCall, 'you are already in a call; hang up first');
      }
      this.#relay(session, call, { kind: 'description', description });
      return;
    }
    const started = this.hub.callInvite(session, target.id, 'video');
    // Busy: the hub answered with callEnded for a call id this connection never saw.
    if (started === null) {
      this.sendPeerGone(target.name);
      return;
    }
    // The early offer: the callee has heard of the call (callIncoming, or an accept of its own).
    this.hub.signal(session, started.id, { kind: 'description', description });
  }

  /** An answer; `peerName` (if given) must be the user the call is with. */
  protected answer(peerName: string | null, description: SessionDescriptionInit): void {
    const { session, call } = this.#currentCall(peerName);
    this.#relay(session, call, { kind: 'description', description });
  }

  protected candidate(peerName: string | null, candidate: IceCandidateInit | null): void {
    const { session, call } = this.#currentCall(peerName);
    this.#relay(session, call, { kind: 'candidate', candidate });
  }

  /**
   * Ends the sender's current call; with `peerName`, only if it is the call with that user. Never
   * touches anyone else's call, and a hang-up with no call to end is a no-op (both sides may hang
   * up at once, and the login client sends `leave` after the peer has gone).
   */
  protected hangUp(peerName: string | null): void {
    const session = this.requireSession();
    const call = session.call;
    if (!call) return;
    if (peerName && this.lookup(peerName) !== call.peerOf(session)) return;
    // The client knows it hung up; forgetting the call first keeps callEnded from echoing back.
    this.#call = null;
    this.hub.callHangup(session, call.id);
  }

  #currentCall(peerName: string | null): { session: Session; call: Call } {
    const session = this.requireSession();
    const call = session.call;
    if (!call) throw new UserError(ErrorCode.callNotFound, 'you are not in a call');
    if (peerName && this.lookup(peerName) !== call.peerOf(session)) {
      throw new UserError(ErrorCode.callNotFound, `you are not in a call with "${peerName.slice(0, 64)}"`);
    }
    return { session, call };
  }

  #relay(session: Session, call: Call, data: SignalData): void {
    // Only the caller can be sending while it rings (legacy callees never ring); nothing of its
    // own to answer yet.
    if (call.state === 'ringing' && data.kind === 'description' && data.description.type === 'answer') {
      throw new UserError(ErrorCode.callState, 'the call has not been accepted yet');
    }
    this.hub.signal(session, call.id, data);
  }

  // -------------------------------------------------------------------------------------------
  // Calls: hub → legacy

  #callStarted(callId: string): void {
    const session = this.#session;
    const call = session?.call;
    if (!session || !call || call.id !== callId) return;
    this.#call = { id: callId, peerName: call.peerOf(session).name };
  }

  #signalIn(callId: string, data: SignalData): void {
    const mine = this.#call;
    if (mine?.id !== callId) return;
    if (data.kind === 'description') {
      this.sendDescription(mine.peerName, data.description);
    } else if (data.candidate !== null) {
      // Legacy clients build an RTCIceCandidate from whatever arrives; null would throw there.
      this.sendCandidate(mine.peerName, data.candidate);
    }
  }

  #callEnded(callId: string): void {
    const mine = this.#call;
    if (mine?.id !== callId) return;
    this.#call = null;
    this.sendPeerGone(mine.peerName);
  }

  // -------------------------------------------------------------------------------------------
  // Frames in

  get userId(): string | undefined {
    return this.#session?.id;
  }

  refuse(code: ErrorCode, message: string): void {
    this.#sendError(code, message);
  }

  /** Parses one frame and hands it to the protocol's dispatch; answers its errors. */
  handle(text: string): Promise<void> | void {
    if (this.#session?.state === 'ended') {
      this.ws.close(CloseCode.sessionEnded, 'session ended');
      return;
    }
    const parsed = parseJsonObject(text);
    if (!parsed.ok) {
      this.#fail(this.badJsonError);
      return;
    }
    let result: Promise<void> | void;
    try {
      result = this.dispatch(parsed.value);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (result instanceof Promise) {
      return result.catch((error: unknown) => {
        this.#fail(error);
      });
    }
  }

  #sendError(code: ErrorCode, message: string): void {
    this.send(this.errorFrame(code, message));
  }

  #fail(error: unknown): void {
    if (error instanceof UserError) {
      this.#sendError(error.code, error.message);
      return;
    }
    this.logger.error({ err: error, user: this.#session?.id }, 'unexpected error handling a legacy frame');
    this.ws.close(CloseCode.internalError, 'internal error');
  }
}

// ---------------------------------------------------------------------------------------------
// Field readers shared by the legacy protocols

/** Parses `frame` with `schema` or throws a bad_frame UserError naming the first problem. */
export function readFrame<S extends v.GenericSchema>(schema: S, frame: unknown, type: string): v.InferOutput<S> {
  const parsed = v.safeParse(schema, frame);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const path = v.getDotPath(issue);
  const what = issue.received === 'undefined' && issue.kind === 'schema' ? 'is required' : issue.message;
  throw new UserError(ErrorCode.badFrame, `${type}: ${path ? `${path} ${what}` : what}`);
}

/** A session description of the given type, checked with the same limits as Parley signals. */
export function readDescription(
  value: unknown,
  type: 'offer' | 'answer',
  field: string,
): SessionDescriptionInit {
  const parsed = v.safeParse(SignalDataSchema, { kind: 'description', description: value });
  if (parsed.success && parsed.output.kind === 'description' && parsed.output.description.type === type) {
    return parsed.output.description;
  }
  throw new UserError(ErrorCode.badFrame, `${field} must be an ${type} description ({type, sdp})`);
}

/** An ICE candidate (or null), checked with the same limits as Parley signals. */
export function readCandidate(value: unknown, field: string): IceCandidateInit | null {
  const parsed = v.safeParse(SignalDataSchema, { kind: 'candidate', candidate: value });
  if (parsed.success && parsed.output.kind === 'candidate') return parsed.output.candidate;
  throw new UserError(ErrorCode.badFrame, `${field} must be an ICE candidate ({candidate, sdpMid, sdpMLineIndex})`);
}
