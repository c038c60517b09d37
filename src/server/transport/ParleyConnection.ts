import type { WebSocket } from 'ws';
import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSIONS,
  type ClientMessage,
  type ServerMessage,
} from '../../protocol/protocol.js';
import { parseClientMessage } from '../../protocol/validate.js';
import { UserError } from '../errors.js';
import type { Hub, HubLogger } from '../hub/Hub.js';
import type { HubMetrics } from '../hub/HubMetrics.js';
import type { Outbound, Session, SessionSink } from '../hub/Session.js';
import { FrameIntake, type FrameHandler } from './FrameIntake.js';
import { sendOutbound } from './frames.js';
import { safeSend } from './heartbeat.js';

export interface ConnectionOptions {
  maxFrameBytes: number;
  rateLimit: number;
  rateBurst: number;
  logger: HubLogger;
  /** Times signal relays (arrival to send to the peer) for /metrics. */
  metrics?: Pick<HubMetrics, 'signalRelayed'>;
}

/** A client that has this much unsent data queued is not reading; drop it rather than buffer more. */
const SLOW_CONSUMER_BYTES = 16 * 1024 * 1024;

/**
 * One WebSocket speaking the Parley protocol. It turns frames into hub calls and hub messages into
 * frames, and is the single place where errors become wire errors or close codes:
 * a UserError is answered with `{type:"error"}` and the connection stays open; anything else is a
 * bug, logged, and closes only this connection with 1011.
 */
export class ParleyConnection implements SessionSink, FrameHandler {
  readonly #ws: WebSocket;
  readonly #hub: Hub;
  readonly #opts: ConnectionOptions;
  #session: Session | null = null;

  /**
   * Listeners shared by every socket (ws calls them with the socket as `this`), which find their
   * connection through the socket's FrameIntake: no closures per connection.
   */
  static #onSocketClose(this: WebSocket): void {
    const connection = FrameIntake.handlerOf(this);
    if (connection instanceof ParleyConnection && connection.#session) {
      connection.#hub.detach(connection.#session, connection);
    }
  }

  static #onSocketError(this: WebSocket, error: Error): void {
    const connection = FrameIntake.handlerOf(this);
    if (connection instanceof ParleyConnection) {
      connection.#opts.logger.debug({ err: error }, 'parley socket error');
    }
  }

  constructor(ws: WebSocket, hub: Hub, options: ConnectionOptions) {
    this.#ws = ws;
    this.#hub = hub;
    this.#opts = options;
    new FrameIntake(ws, this, options);
    ws.on('close', ParleyConnection.#onSocketClose);
    ws.on('error', ParleyConnection.#onSocketError);
  }

  get session(): Session | null {
    return this.#session;
  }

  deliver(out: Outbound): void {
    if (this.#ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      this.#opts.logger.warn({ user: this.#session?.id }, 'closing a connection that is not reading');
      this.#ws.terminate();
      return;
    }
    sendOutbound(this.#ws, out);
  }

  close(code: number, reason: string): void {
    this.#ws.close(code, reason);
  }

  #send(msg: ServerMessage): void {
    safeSend(this.#ws, JSON.stringify(msg));
  }

  #error(code: ErrorCode, message: string, ref: string | null, extra: { suggestion?: string } = {}): void {
    this.#send({ type: 'error', code, message, ref, ...extra });
  }

  get userId(): string | undefined {
    return this.#session?.id;
  }

  refuse(code: ErrorCode, message: string): void {
    this.#error(code, message, null);
  }

  /** Parses, validates and dispatches one frame; answers its errors with the frame's ref. */
  handle(text: string, arrivedAt: number): Promise<void> | void {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.#error(parsed.error.code, parsed.error.message, parsed.error.ref);
      return;
    }
    const msg = parsed.value;
    const ref = msg.ref ?? null;
    let result: Promise<void> | void;
    try {
      result = this.#dispatch(msg);
    } catch (error) {
      this.#fail(error, ref);
      return;
    }
    // Relaying is synchronous: by now the frame has been sent on to the peer.
    if (msg.type === 'signal') this.#opts.metrics?.signalRelayed(performance.now() - arrivedAt);
    if (result instanceof Promise) {
      return result.catch((error: unknown) => {
        this.#fail(error, ref);
      });
    }
  }

  #dispatch(msg: ClientMessage): Promise<void> | void {
    if (this.#session === null) {
      if (msg.type === 'hello' || msg.type === 'resume') {
        if (!msg.versions.some((v) => (PROTOCOL_VERSIONS as readonly number[]).includes(v))) {
          throw new UserError(
            ErrorCode.unsupportedVersion,
            `this server speaks protocol versions ${PROTOCOL_VERSIONS.join(', ')}`,
          );
        }
        if (msg.type === 'hello') {
          // The schema has already normalized the name (trimmed, spaces collapsed).
          this.#session = this.#hub.signIn(msg.name, 'parley', this, { ref: msg.ref ?? null });
          return;
        }
        return this.#hub.resume(msg.token, msg.since, this, msg.ref ?? null).then((session) => {
          if (this.#ws.readyState !== this.#ws.OPEN) {
            this.#hub.detach(session, this);
            return;
          }
          this.#session = session;
        });
      }
      throw new UserError(ErrorCode.notSignedIn, 'sign in first: send hello or resume');
    }
    if (this.#session.state === 'ended') {
      this.#ws.close(CloseCode.sessionEnded, 'session ended');
      return;
    }
    return this.#hub.handle(this.#session, msg);
  }

  #fail(error: unknown, ref: string | null): void {
    if (error instanceof UserError) {
      this.#error(error.code, error.message, ref, error.extra);
      return;
    }
    this.#opts.logger.error({ err: error, user: this.#session?.id }, 'unexpected error handling a frame');
    this.#ws.close(CloseCode.internalError, 'internal error');
  }
}
