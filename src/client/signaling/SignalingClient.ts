import { signal } from '@preact/signals';
import {
  CloseCode,
  type ClientMessageInput,
  ErrorCode,
  PROTOCOL_VERSIONS,
  type ServerMessage,
} from '../../protocol/protocol.js';
import { parseServerMessage } from '../../protocol/validate.js';
import { Emitter } from '../events.js';
import type { ReconnectPolicy } from './ReconnectPolicy.js';

/**
 * - idle: not signed in (the sign-in form shows).
 * - connecting: first connection of a sign-in.
 * - open: signed in on a live socket.
 * - reconnecting: the socket dropped; the next attempt is at `retryAt`.
 * - closed: stopped for good (this session was opened in another tab).
 */
export type SignalingState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export type WelcomeMessage = Extract<ServerMessage, { type: 'welcome' }>;
export type ErrorMessage = Extract<ServerMessage, { type: 'error' }>;

/** Why the connection stopped for good, or why a first sign-in is not getting through. */
export type ClosedReason = 'replaced' | 'unreachable';

export interface SignInProblem {
  code: ErrorCode;
  /** The server's own wording (English, for logs); the UI shows a translation of `code`. */
  message: string;
  suggestion: string | null;
}

type SignalingEvents = {
  /** Every frame from the server, after `welcome` handling. */
  message: [ServerMessage];
  /** A session started or resumed; listeners re-join rooms before the outbox is flushed. */
  welcome: [WelcomeMessage];
  /** The user's own sign-in was refused (e.g. name taken). */
  signInFailed: [SignInProblem];
};

export interface SignalingOptions {
  url: string;
  policy: ReconnectPolicy;
  /** Where the resume token lives so that a reload resumes instead of signing in again. */
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  /** Interval of keep-alive pings; a socket silent for two intervals is considered dead. */
  pingMs?: number;
  createSocket?: (url: string) => WebSocket;
}

const TOKEN_KEY = 'parley.session';

/**
 * The app's one WebSocket to the server: signs in (hello) or resumes (resume with the token),
 * reconnects with the policy's backoff, keeps chat frames in an outbox until the server
 * acknowledges them and re-sends them after every reconnect with the same clientId, so the
 * server can drop duplicates.
 */
export class SignalingClient {
  readonly state = signal<SignalingState>('idle');
  /** When the next reconnect attempt happens (ms since epoch), while reconnecting. */
  readonly retryAt = signal<number | null>(null);
  readonly user = signal<{ id: string; name: string } | null>(null);
  readonly closedReason = signal<ClosedReason | null>(null);
  readonly events = new Emitter<SignalingEvents>();

  readonly #opts: Required<Omit<SignalingOptions, 'storage'>> & { storage: SignalingOptions['storage'] };
  #name: string | null = null;
  #token: string | null = null;
  #lastSeenId: number | undefined;
  /** Chat and dm frames not yet acknowledged, in send order, by clientId. */
  readonly #outbox = new Map<string, ClientMessageInput>();
  #ws: WebSocket | null = null;
  #signedIn = false;
  /** True until the first welcome of a sign-in: a refused name goes back to the user. */
  #userInitiated = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #lastFrameAt = 0;

  constructor(options: SignalingOptions) {
    this.#opts = {
      pingMs: 15_000,
      createSocket: (url) => new WebSocket(url),
      storage: null,
      ...options,
    };
  }

  /** Signs in under `name` (a new session). */
  signIn(name: string): void {
    this.#name = name;
    this.#token = null;
    this.#userInitiated = true;
    this.closedReason.value = null;
    this.#setState('connecting');
    this.#connect();
  }

  /** Picks up the session saved by a previous page load, if any. Returns whether it did. */
  restore(): boolean {
    const saved = this.#opts.storage?.getItem(TOKEN_KEY);
    if (!saved) return false;
    try {
      const parsed = JSON.parse(saved) as { name?: unknown; token?: unknown };
      if (typeof parsed.name !== 'string' || typeof parsed.token !== 'string') return false;
      this.#name = parsed.name;
      this.#token = parsed.token;
    } catch {
      return false;
    }
    this.#userInitiated = false;
    this.#setState('connecting');
    this.#connect();
    return true;
  }

  /** Sends a frame now if signed in; returns false (and drops it) otherwise. */
  /** The session's token from `welcome`; HTTP requests (image uploads) authenticate with it. */
  get token(): string | null {
    return this.#token;
  }

  send(msg: ClientMessageInput): boolean {
    if (!this.#signedIn || this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(msg));
    return true;
  }

  /** Queues a chat or dm frame until acknowledged; it goes out now if possible. */
  enqueue(clientId: string, msg: ClientMessageInput): void {
    this.#outbox.set(clientId, msg);
    this.send(msg);
  }

  /** Removes a frame from the outbox (acknowledged, or refused by the server). */
  settle(clientId: string): void {
    this.#outbox.delete(clientId);
  }

  /** Tells the client the newest message id the app has, for `resume.since`. */
  noteMessageId(id: number): void {
    if (this.#lastSeenId === undefined || id > this.#lastSeenId) this.#lastSeenId = id;
  }

  /** Retries now instead of waiting out the backoff (the browser came back online). */
  retryNow(): void {
    if (this.state.value !== 'reconnecting') return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#connect();
  }

  /** Signs out: closes the socket and forgets the session. Idempotent. */
  signOut(): void {
    this.#stop();
    this.#token = null;
    this.#name = null;
    this.#outbox.clear();
    this.#opts.storage?.removeItem(TOKEN_KEY);
    this.user.value = null;
    this.#setState('idle');
  }

  #stop(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#retryTimer = this.#pingTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    this.#signedIn = false;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close(1000);
    }
  }

  #setState(next: SignalingState): void {
    if (this.state.value === next) return;
    this.state.value = next;
    if (next !== 'reconnecting') this.retryAt.value = null;
  }

  #connect(): void {
    this.#stop();
    const ws = this.#opts.createSocket(this.#opts.url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#lastFrameAt = Date.now();
      this.#sendSignIn();
      this.#pingTimer = setInterval(() => {
        this.#keepAlive();
      }, this.#opts.pingMs);
    };
    ws.onmessage = (event: MessageEvent) => {
      this.#lastFrameAt = Date.now();
      if (typeof event.data !== 'string') return;
      const parsed = parseServerMessage(event.data);
      if (!parsed.ok) {
        console.warn('ignoring a frame from the server:', parsed.error.message);
        return;
      }
      this.#receive(parsed.value);
    };
    ws.onclose = (event: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#onClose(event.code);
    };
    // onclose always follows onerror; nothing to do here but keep the error off the console.
    ws.onerror = () => undefined;
  }

  #sendSignIn(): void {
    const ws = this.#ws;
    if (!ws || this.#name === null) return;
    const versions = [...PROTOCOL_VERSIONS];
    const frame: ClientMessageInput = this.#token
      ? {
          type: 'resume',
          versions,
          token: this.#token,
          ...(this.#lastSeenId !== undefined ? { since: this.#lastSeenId } : {}),
          ref: 'signin',
        }
      : { type: 'hello', versions, name: this.#name, ref: 'signin' };
    ws.send(JSON.stringify(frame));
  }

  #keepAlive(): void {
    const ws = this.#ws;
    if (!ws) return;
    if (Date.now() - this.#lastFrameAt > this.#opts.pingMs * 2) {
      // Nothing heard for two intervals: the socket is dead even if the browser has not noticed.
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close();
      this.#onClose(1006);
      return;
    }
    if (this.#signedIn) ws.send(JSON.stringify({ type: 'ping' }));
  }

  #receive(msg: ServerMessage): void {
    if (msg.type === 'welcome') {
      this.#signedIn = true;
      this.#userInitiated = false;
      this.#attempt = 0;
      this.#token = msg.token;
      this.#name = msg.user.name;
      this.user.value = msg.user;
      this.#opts.storage?.setItem(TOKEN_KEY, JSON.stringify({ name: msg.user.name, token: msg.token }));
      this.#setState('open');
      this.events.emit('welcome', msg);
      for (const frame of this.#outbox.values()) this.send(frame);
      return;
    }
    if (msg.type === 'error' && !this.#signedIn && msg.ref === 'signin') {
      this.#signInRefused(msg);
      return;
    }
    if (msg.type === 'message') this.noteMessageId(msg.message.id);
    if (msg.type === 'ack') {
      this.settle(msg.clientId);
      this.noteMessageId(msg.id);
    }
    this.events.emit('message', msg);
  }

  #signInRefused(msg: ErrorMessage): void {
    if (msg.code === ErrorCode.resumeFailed) {
      // The server no longer knows the session (it restarted, or the grace period is over):
      // sign in again under the same name, on the same socket.
      this.#token = null;
      this.#lastSeenId = undefined;
      this.#sendSignIn();
      return;
    }
    if (msg.code === ErrorCode.nameTaken && !this.#userInitiated && msg.suggestion) {
      // Someone took the name while we were away; carry on under the suggested one.
      this.#name = msg.suggestion;
      this.#sendSignIn();
      return;
    }
    this.#stop();
    this.#opts.storage?.removeItem(TOKEN_KEY);
    this.#setState('idle');
    this.events.emit('signInFailed', {
      code: msg.code,
      message: msg.message,
      suggestion: msg.suggestion ?? null,
    });
  }

  #onClose(code: number): void {
    const wasSignedIn = this.#signedIn;
    this.#stop();
    if (code === CloseCode.replaced) {
      this.closedReason.value = 'replaced';
      this.#opts.storage?.removeItem(TOKEN_KEY);
      this.#setState('closed');
      return;
    }
    if (code === CloseCode.sessionEnded) this.#token = null;
    if (!wasSignedIn && this.#userInitiated && this.state.value === 'connecting' && this.#attempt >= 2) {
      // A first sign-in that cannot reach the server keeps trying, but says so.
      this.closedReason.value = 'unreachable';
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const delay = this.#opts.policy.nextDelayMs(this.#attempt++);
    if (delay === null) {
      this.closedReason.value = 'unreachable';
      this.#setState('closed');
      return;
    }
    this.#setState('reconnecting');
    this.retryAt.value = Date.now() + delay;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#connect();
    }, delay);
  }
}
