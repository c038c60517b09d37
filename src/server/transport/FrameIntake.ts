import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode } from '../../protocol/protocol.js';
import type { HubLogger } from '../hub/Hub.js';
import { RateLimiter } from './RateLimiter.js';
import { rawBytes, rawLength } from './heartbeat.js';

export interface IntakeOptions {
  maxFrameBytes: number;
  rateLimit: number;
  rateBurst: number;
  logger: HubLogger;
}

export interface FrameHandler {
  /**
   * Handles one text frame that passed the limits. A returned promise holds back the frames
   * behind it until it settles, so replies keep the order of the frames. It must answer its own
   * errors (a rejection here is only logged). `bytes`, when given, are the frame's UTF-8 bytes
   * as received (valid UTF-8: ws closes a connection that sends anything else, 1007), for use
   * during the call only.
   */
  handle(text: string, arrivedAt: number, bytes?: Buffer): Promise<void> | void;
  /** Answers a frame refused before handling (rate_limited, frame_too_large), in the protocol's own error form. */
  refuse(code: ErrorCode, message: string): void;
  /** Who is on the connection, for logs. */
  readonly userId: string | undefined;
}

/**
 * What every endpoint does with an inbound WebSocket message before its protocol sees it:
 * binary frames close the connection (1003); a connection past its rate limit gets
 * `rate_limited` and, if it keeps flooding, is closed (1008); a frame over the size limit gets
 * `frame_too_large`; the rest go to the handler one at a time, in order.
 */
export class FrameIntake extends RateLimiter {
  // The intake is the connection's rate limiter rather than holding one: one object per
  // connection instead of two (24 B less per connection in a heap snapshot).
  readonly #ws: WebSocket;
  readonly #handler: FrameHandler;
  readonly #opts: IntakeOptions;
  #busy: Promise<void> | null = null;
  /** Frames waiting behind #busy, with when they arrived; allocated when first needed. */
  #queue: { text: string; arrivedAt: number }[] | null = null;
  #lastRateError = 0;

  /**
   * The socket's intake, for the one message listener all sockets share: with ten thousand
   * connections a closure per socket is memory for nothing.
   */
  static readonly #bySocket = new WeakMap<WebSocket, FrameIntake>();

  /** The handler of the socket's intake: lets a protocol share its other listeners the same way. */
  static handlerOf(ws: WebSocket): FrameHandler | undefined {
    const intake = FrameIntake.#bySocket.get(ws);
    return intake ? intake.#handler : undefined;
  }

  static #onSocketMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    const intake = FrameIntake.#bySocket.get(this);
    if (intake) intake.#onMessage(data, isBinary);
  }

  constructor(ws: WebSocket, handler: FrameHandler, options: IntakeOptions) {
    super(options.rateLimit, options.rateBurst);
    this.#ws = ws;
    this.#handler = handler;
    this.#opts = options;
    FrameIntake.#bySocket.set(ws, this);
    ws.on('message', FrameIntake.#onSocketMessage);
  }

  #onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    const arrivedAt = performance.now();
    if (isBinary) {
      this.#ws.close(CloseCode.unsupportedData, 'binary frames are not supported');
      return;
    }
    const verdict = this.take();
    if (verdict === 'flood') {
      this.#opts.logger.warn({ user: this.#handler.userId }, 'closing a flooding connection');
      this.#ws.close(CloseCode.policyViolation, 'too many frames');
      return;
    }
    if (verdict === 'drop') {
      const now = Date.now();
      if (now - this.#lastRateError >= 1000) {
        this.#lastRateError = now;
        this.#handler.refuse(ErrorCode.rateLimited, 'too many frames; slow down');
      }
      return;
    }
    if (rawLength(data) > this.#opts.maxFrameBytes) {
      this.#handler.refuse(ErrorCode.frameTooLarge, `frame is larger than ${this.#opts.maxFrameBytes} bytes`);
      return;
    }
    const bytes = rawBytes(data);
    const text = bytes.toString('utf8');
    if (this.#busy) {
      // The text only: a queue of frames need not hold each one twice.
      this.#queue ??= [];
      this.#queue.push({ text, arrivedAt });
      return;
    }
    this.#process(text, arrivedAt, bytes);
  }

  #process(text: string, arrivedAt: number, bytes?: Buffer): void {
    const result = this.#handler.handle(text, arrivedAt, bytes);
    if (result instanceof Promise) {
      this.#busy = result
        .catch((error: unknown) => {
          this.#opts.logger.error({ err: error, user: this.#handler.userId }, 'a frame handler rejected');
        })
        .finally(() => {
          this.#busy = null;
          this.#drain();
        });
    }
  }

  #drain(): void {
    // Once the socket has closed, what it left queued is dropped, not handled.
    if (this.#ws.readyState === this.#ws.CLOSED) this.#queue = null;
    while (!this.#busy && this.#queue && this.#queue.length > 0) {
      const next = this.#queue.shift()!;
      this.#process(next.text, next.arrivedAt);
    }
    if (this.#queue?.length === 0) this.#queue = null;
  }
}
