import type { WebSocket } from 'ws';
import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSIONS,
  type ClientMessage,
  type ServerMessage,
} from '../../protocol/protocol.js';
import { parseJsonObject, validateClientMessage } from '../../protocol/validate.js';
import { UserError } from '../errors.js';
import type { Hub } from '../hub/Hub.js';
import type { HubMetrics } from '../hub/HubMetrics.js';
import type { Outbound, Session, SessionSink } from '../hub/Session.js';
import { FrameIntake, type IntakeOptions } from './FrameIntake.js';
import { sendOutbound, withVerbatimData } from './frames.js';
import { safeSend } from './heartbeat.js';
import { ParleySocket } from './socket.js';
import { verbatimRange } from './verbatim.js';

export interface ConnectionOptions extends IntakeOptions {
  /** Times signal relays (arrival to send to the peer) for /metrics. */
  metrics?: Pick<HubMetrics, 'signalRelayed'>;
}

/** A client that has this much unsent data queued is not reading; drop it rather than buffer more. */
const SLOW_CONSUMER_BYTES = 16 * 1024 * 1024;

/**
 * Most chat frames of one connection in the store at once. Past it the next frame waits until they
 * are all answered: a client cannot make the server hold an unbounded amount of its messages.
 * 32 covers a burst from a person pasting or an app flushing its offline outbox in one commit.
 */
export const PIPELINE_MAX = 32;

type ChatFrame = Extract<ClientMessage, { type: 'chat' | 'dm' }>;

/**
 * A chat or dm frame handed to the hub while earlier ones are still being stored, or a frame
 * refused (bad_frame, …) while such frames were in flight: its reply waits for theirs.
 */
interface InFlight {
  /** The frame's clientId: its ack is recognized by it (unique among the frames in flight). */
  readonly clientId: string | null;
  readonly ref: string | null;
  /** Its ack, when the hub sent it while an earlier frame was still unanswered. */
  held: Outbound | null;
  acked: boolean;
  settled: boolean;
  /** What the frame failed with, answered once every frame before it has been answered. */
  error: unknown;
}

/**
 * One WebSocket speaking the Parley protocol. It turns frames into hub calls and hub messages into
 * frames, and is the single place where errors become wire errors or close codes:
 * a UserError is answered with `{type:"error"}` and the connection stays open; anything else is a
 * bug, logged, and closes only this connection with 1011.
 */
export class ParleyConnection extends FrameIntake<ConnectionOptions> implements SessionSink {
  readonly #hub: Hub;
  #session: Session | null = null;
  /**
   * Chat frames in the store, oldest first; null when none (allocated on first use, since most
   * connections never have two at once). `onDrained` resolves the frame that waits for them all
   * to be answered (the intake holds any others behind it).
   */
  #pipeline: { inFlight: InFlight[]; onDrained: (() => void) | null } | null = null;

  /**
   * Listeners shared by every socket (ws calls them with the socket as `this`), which find their
   * connection on the socket: no closures per connection.
   */
  static #onSocketClose(this: WebSocket): void {
    const connection = this instanceof ParleySocket ? this.intake : null;
    if (connection instanceof ParleyConnection && connection.#session) {
      connection.#hub.detach(connection.#session, connection);
    }
  }

  static #onSocketError(this: WebSocket, error: Error): void {
    const connection = this instanceof ParleySocket ? this.intake : null;
    if (connection instanceof ParleyConnection) {
      connection.opts.logger.debug({ err: error }, 'parley socket error');
    }
  }

  constructor(ws: ParleySocket, hub: Hub, options: ConnectionOptions) {
    super(ws, options);
    this.#hub = hub;
    ws.on('close', ParleyConnection.#onSocketClose);
    ws.on('error', ParleyConnection.#onSocketError);
  }

  get session(): Session | null {
    return this.#session;
  }

  deliver(out: Outbound): void {
    if (this.#pipeline !== null && out.msg.type === 'ack') {
      // An ack may overtake the reply to an earlier frame (an error does not wait for a commit):
      // hold it until everything before it has been answered.
      const clientId = out.msg.clientId;
      const inFlight = this.#pipeline.inFlight;
      const slot = inFlight.find((f) => !f.acked && f.clientId === clientId);
      if (slot) {
        slot.acked = true;
        if (slot !== inFlight[0]) {
          slot.held = out;
          return;
        }
      }
    }
    this.#write(out);
  }

  #write(out: Outbound): void {
    if (this.ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      this.opts.logger.warn({ user: this.#session?.id }, 'closing a connection that is not reading');
      this.ws.terminate();
      return;
    }
    sendOutbound(this.ws, out);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  #send(msg: ServerMessage): void {
    safeSend(this.ws, JSON.stringify(msg));
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

  /**
   * Parses, validates and dispatches one frame; answers its errors with the frame's ref.
   *
   * Chat frames are pipelined: a chat or dm (without an image) goes to the hub at once even while
   * earlier ones wait for their commit, so a burst shares one group commit (SqliteStore,
   * PostgresStore) instead of paying an fsync each. What a client can observe stays as if frames
   * were handled one at a time:
   * - the store receives them in the order sent (the hub appends each after the same number of
   *   steps, so in the order they were started; test/integration/pipeline.test.ts checks it);
   * - replies (ack or error) go out in the order of the frames: an ack that overtakes an
   *   earlier frame's error is held until that error has been sent;
   * - any other frame (join, leave, a call frame, a chat with an image, a second frame with a
   *   clientId already in flight) waits until every chat before it has been answered, and holds
   *   the frames behind it, exactly as before;
   * - at most PIPELINE_MAX are in flight; the next waits for them (backpressure).
   */
  handle(text: string, arrivedAt: number, bytes?: Buffer): Promise<void> | void {
    // parseClientMessage in two steps, to keep the parsed frame for #relaySignal.
    const json = parseJsonObject(text);
    const parsed = json.ok ? validateClientMessage(json.value) : json;
    if (!parsed.ok) {
      const { code, message, ref } = parsed.error;
      if (this.#pipeline !== null) {
        this.#pipeline.inFlight.push({
          clientId: null,
          ref,
          held: null,
          acked: false,
          settled: true,
          error: new UserError(code, message),
        });
        return;
      }
      this.#error(code, message, ref);
      return;
    }
    const msg = parsed.value;
    const pipeline = this.#pipeline;
    if (pipeline !== null) {
      const chat = pipeline.inFlight.length < PIPELINE_MAX ? this.#pipelinable(msg) : null;
      if (chat !== null) {
        this.#startPipelined(chat);
        return;
      }
      return new Promise<void>((resolve) => {
        pipeline.onDrained = resolve;
      }).then(() => {
        // As the intake drops what is still queued once the socket has closed.
        if (this.ws.readyState === this.ws.CLOSED) return;
        return this.#handleNow(msg, arrivedAt);
      });
    }
    if (msg.type === 'signal' && json.ok) return this.#relaySignal(msg, text, bytes, json.value.data, arrivedAt);
    const chat = this.#pipelinable(msg);
    if (chat !== null) {
      this.#startPipelined(chat);
      return;
    }
    return this.#handleNow(msg, arrivedAt);
  }

  /** Relays a signal with its data as the sender wrote it, when that text spells the validated data. */
  #relaySignal(
    msg: Extract<ClientMessage, { type: 'signal' }>,
    text: string,
    bytes: Buffer | undefined,
    parsedData: unknown,
    arrivedAt: number,
  ): Promise<void> | void {
    const range = verbatimRange(text, 'data', parsedData, msg.data);
    if (range === null) return this.#handleNow(msg, arrivedAt);
    const [start, end] = range;
    // When the frame has as many bytes as characters, every character is one byte (its bytes are
    // valid UTF-8, in which anything beyond ASCII takes two or more), so the data's bytes sit at
    // the same offsets as its text: they are copied into the peer's frame as they came, never
    // encoded again. An offer in ASCII, the usual case, goes this way.
    const asBytes = bytes !== undefined && bytes.length === text.length;
    const data = asBytes ? bytes.subarray(start, end) : text.slice(start, end);
    return withVerbatimData(msg.data, data, () => this.#handleNow(msg, arrivedAt));
  }

  /** The frame, if it is a chat frame that may enter the store beside the ones already there. */
  #pipelinable(msg: ClientMessage): ChatFrame | null {
    if (msg.type !== 'chat' && msg.type !== 'dm') return null;
    // An image is looked up (async) before the store: it could be appended out of turn.
    if (msg.image !== undefined) return null;
    if (this.#session === null || this.#session.state === 'ended') return null;
    // Acks are matched to their frames by clientId; a re-send of one in flight waits its turn.
    if (this.#pipeline?.inFlight.some((f) => f.clientId === msg.clientId)) return null;
    return msg;
  }

  #startPipelined(msg: ChatFrame): void {
    const slot: InFlight = {
      clientId: msg.clientId,
      ref: msg.ref ?? null,
      held: null,
      acked: false,
      settled: false,
      error: undefined,
    };
    (this.#pipeline ??= { inFlight: [], onDrained: null }).inFlight.push(slot);
    const settle = (failed: boolean, error?: unknown): void => {
      slot.settled = true;
      if (failed) slot.error = error ?? new Error('a chat frame failed without an error');
      this.#answerInOrder();
    };
    let result: Promise<void> | void;
    try {
      result = this.#hub.handle(this.#session!, msg);
    } catch (error) {
      settle(true, error);
      return;
    }
    Promise.resolve(result).then(
      () => {
        settle(false);
      },
      (error: unknown) => {
        settle(true, error);
      },
    );
  }

  /** Sends the replies of the oldest frames in flight that can now go, in frame order. */
  #answerInOrder(): void {
    const pipeline = this.#pipeline;
    if (pipeline === null) return;
    const inFlight = pipeline.inFlight;
    for (;;) {
      const head = inFlight[0];
      if (head === undefined) break;
      if (head.held !== null) {
        this.#write(head.held);
        head.held = null;
      }
      if (!head.settled) return;
      inFlight.shift();
      if (head.error !== undefined) this.#fail(head.error, head.ref);
    }
    this.#pipeline = null;
    pipeline.onDrained?.();
  }

  #handleNow(msg: ClientMessage, arrivedAt: number): Promise<void> | void {
    const ref = msg.ref ?? null;
    let result: Promise<void> | void;
    try {
      result = this.#dispatch(msg);
    } catch (error) {
      this.#fail(error, ref);
      return;
    }
    // Relaying is synchronous: by now the frame has been sent on to the peer.
    if (msg.type === 'signal') this.opts.metrics?.signalRelayed(performance.now() - arrivedAt);
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
          const gone = () => this.ws.readyState !== this.ws.OPEN;
          return this.#hub.enter(msg.name, 'parley', this, { ref: msg.ref ?? null, gone }).then((session) => {
            if (!gone()) this.#session = session;
          });
        }
        return this.#hub.resume(msg.token, msg.since, this, msg.ref ?? null).then((session) => {
          if (this.ws.readyState !== this.ws.OPEN) {
            this.#hub.detach(session, this);
            return;
          }
          this.#session = session;
        });
      }
      throw new UserError(ErrorCode.notSignedIn, 'sign in first: send hello or resume');
    }
    if (this.#session.state === 'ended') {
      this.ws.close(CloseCode.sessionEnded, 'session ended');
      return;
    }
    return this.#hub.handle(this.#session, msg);
  }

  #fail(error: unknown, ref: string | null): void {
    if (error instanceof UserError) {
      this.#error(error.code, error.message, ref, error.extra);
      return;
    }
    this.opts.logger.error({ err: error, user: this.#session?.id }, 'unexpected error handling a frame');
    this.ws.close(CloseCode.internalError, 'internal error');
  }
}
