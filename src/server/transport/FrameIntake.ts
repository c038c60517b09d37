import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode } from '../../protocol/protocol.js';
import type { HubLogger } from '../hub/Hub.js';
import { RateLimiter, type RateLimits } from './RateLimiter.js';
import { rawBytes, rawLength } from './heartbeat.js';
import { ParleySocket } from './socket.js';

export interface IntakeOptions extends RateLimits {
  maxFrameBytes: number;
  logger: HubLogger;
}

/**
 * What every endpoint does with an inbound WebSocket message before its protocol sees it:
 * binary frames close the connection (1003); a connection past its rate limit gets
 * `rate_limited` and, if it keeps flooding, is closed (1008); a frame over the size limit gets
 * `frame_too_large`; the rest go to `handle` one at a time, in order.
 *
 * It is the base class of every connection, and a rate limiter itself: one object per connection
 * where there were two (a connection and its intake, each with its own pointers to the socket
 * and the options: 64 bytes more per connection in a heap snapshot at ten thousand).
 */
export abstract class FrameIntake<O extends IntakeOptions = IntakeOptions> extends RateLimiter {
  protected readonly ws: ParleySocket;
  protected readonly opts: O;
  #busy: Promise<void> | null = null;
  /** Frames waiting behind #busy, with when they arrived; allocated when first needed. */
  #queue: { text: string; arrivedAt: number }[] | null = null;
  #lastRateError = 0;

  /**
   * The one message listener all sockets share (ws calls it with the socket as `this`): with ten
   * thousand connections a closure per socket is memory for nothing.
   */
  static #onSocketMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    // ws types `this` as its own WebSocket; every server here makes ParleySockets (socketServer).
    if (this instanceof ParleySocket && this.intake !== null) this.intake.#onMessage(data, isBinary);
  }

  constructor(ws: ParleySocket, options: O) {
    super(options);
    this.ws = ws;
    this.opts = options;
    ws.intake = this;
    ws.on('message', FrameIntake.#onSocketMessage);
  }

  /**
   * Handles one text frame that passed the limits. A returned promise holds back the frames
   * behind it until it settles, so replies keep the order of the frames. It must answer its own
   * errors (a rejection here is only logged). `bytes`, when given, are the frame's UTF-8 bytes
   * as received (valid UTF-8: ws closes a connection that sends anything else, 1007), for use
   * during the call only.
   */
  abstract handle(text: string, arrivedAt: number, bytes?: Buffer): Promise<void> | void;
  /** Answers a frame refused before handling (rate_limited, frame_too_large), in the protocol's own error form. */
  abstract refuse(code: ErrorCode, message: string): void;
  /** Who is on the connection, for logs. */
  abstract get userId(): string | undefined;

  #onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    const arrivedAt = performance.now();
    if (isBinary) {
      this.ws.close(CloseCode.unsupportedData, 'binary frames are not supported');
      return;
    }
    const verdict = this.take();
    if (verdict === 'flood') {
      this.opts.logger.warn({ user: this.userId }, 'closing a flooding connection');
      this.ws.close(CloseCode.policyViolation, 'too many frames');
      return;
    }
    if (verdict === 'drop') {
      const now = Date.now();
      if (now - this.#lastRateError >= 1000) {
        this.#lastRateError = now;
        this.refuse(ErrorCode.rateLimited, 'too many frames; slow down');
      }
      return;
    }
    if (rawLength(data) > this.opts.maxFrameBytes) {
      this.refuse(ErrorCode.frameTooLarge, `frame is larger than ${this.opts.maxFrameBytes} bytes`);
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
    const result = this.handle(text, arrivedAt, bytes);
    if (result instanceof Promise) {
      this.#busy = result
        .catch((error: unknown) => {
          this.opts.logger.error({ err: error, user: this.userId }, 'a frame handler rejected');
        })
        .finally(() => {
          this.#busy = null;
          this.#drain();
        });
    }
  }

  #drain(): void {
    // Once the socket has closed, what it left queued is dropped, not handled.
    if (this.ws.readyState === this.ws.CLOSED) this.#queue = null;
    while (!this.#busy && this.#queue && this.#queue.length > 0) {
      const next = this.#queue.shift()!;
      this.#process(next.text, next.arrivedAt);
    }
    if (this.#queue?.length === 0) this.#queue = null;
  }
}
