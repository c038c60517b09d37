/**
 * Clients for the two legacy wire protocols, for the legacy-*.test.ts files: real `ws` sockets on
 * the legacy ports of a test server, speaking as the original tutorial clients do.
 */
import type { Config } from '../../src/server/config.js';
import { useParleyServer } from './fixtures.js';
import { RawClient, type TestServer } from './parley.js';

/** Any JSON frame a legacy client receives. */
export interface LegacyFrame {
  type: string;
  [key: string]: unknown;
}

class LegacyClient extends RawClient<LegacyFrame> {
  /** The first frame of `type` (matching `pred`) received at or after index `from`. */
  next(type: string, pred: (m: LegacyFrame) => boolean = () => true, from = 0, timeoutMs = 3000): Promise<LegacyFrame> {
    return this.waitFor((m) => m.type === type && pred(m), timeoutMs, from);
  }

  /** Every frame of `type` received so far. */
  all(type: string): LegacyFrame[] {
    return this.received.filter((m) => m.type === type);
  }
}

/** A client of the "chat" protocol (MDN sample, chatWithRTC). */
export class ChatClient extends LegacyClient {
  id = 0;
  name = '';

  /** Waits for the id, sends `username` like the MDN client and returns the name it ends up with. */
  async signIn(name: string): Promise<string> {
    await this.opened;
    const idFrame = await this.next('id');
    this.id = idFrame.id as number;
    const from = this.mark();
    this.sendJson({ type: 'username', name, id: this.id, date: Date.now() });
    // A rename is announced before any user list, so whichever comes first settles the name.
    const first = await this.waitFor((m) => m.type === 'rejectusername' || m.type === 'userlist', 3000, from);
    this.name = first.type === 'rejectusername' ? (first.name as string) : name;
    await this.next('userlist', (m) => (m.users as string[]).includes(this.name), from);
    return this.name;
  }

  say(text: string, target?: string | null): void {
    this.sendJson({ type: 'message', text, id: this.id, date: Date.now(), ...(target === undefined ? {} : { target }) });
  }
}

/** A client of the "login" protocol (the two-page video demo). */
export class LoginClient extends LegacyClient {
  /** Sends login and resolves with `success`. */
  async login(name: string): Promise<boolean> {
    await this.opened;
    const from = this.mark();
    this.sendJson({ type: 'login', name });
    const reply = await this.next('login', () => true, from);
    return reply.success === true;
  }
}

export function chatUrl(t: TestServer): string {
  return `ws://127.0.0.1:${t.ports.legacyChatPort ?? 0}/`;
}

export function loginUrl(t: TestServer): string {
  return `ws://127.0.0.1:${t.ports.legacyLoginPort ?? 0}`;
}

/** Opens a chat-protocol client (offering the `json` subprotocol, as browsers do) and signs it in. */
export async function chatUser(t: TestServer, name: string): Promise<ChatClient> {
  const c = new ChatClient(chatUrl(t), 'json');
  await c.signIn(name);
  return c;
}

export async function loginUser(t: TestServer, name: string): Promise<LoginClient> {
  const c = new LoginClient(loginUrl(t));
  if (!(await c.login(name))) throw new Error(`login as ${name} failed`);
  return c;
}

export const offerSdp = { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n' } as const;
export const answerSdp = { type: 'answer', sdp: 'v=0\r\no=- 2 1 IN IP4 0.0.0.0\r\n' } as const;
export const iceCandidate = {
  candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host',
  sdpMid: '0',
  sdpMLineIndex: 0,
  usernameFragment: 'abcd',
} as const;

export interface LegacyServerFixture {
  /** The current test's server (a live handle, see useParleyServer). */
  readonly t: TestServer;
  /** Closes the test's server and starts a new one with exactly these overrides. */
  restart: (overrides?: Partial<Config>) => Promise<TestServer>;
  /** The id of the signed-in user called `name`, whatever protocol it came in by. */
  userId: (name: string) => string;
}

/**
 * A fresh server before each test of the file (or describe block), closed after it; user lists
 * are coalesced for 20 ms so the legacy clients see them promptly.
 */
export function useLegacyServer(): LegacyServerFixture {
  const { t, restart } = useParleyServer({ userlistCoalesceMs: 20 });
  return {
    t,
    restart,
    userId(name) {
      const session = t.server.hub.findByName(name);
      if (!session) throw new Error(`no user ${name}`);
      return session.id;
    },
  };
}
