import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Redis, Result } from 'ioredis';

/**
 * ioredis, loaded when the first bus is made, so that a Parley without REDIS_URL never loads it.
 *
 * Loading ioredis slows down every string method call in the process. Its RESP3 decoder declares
 * `class VerbatimString extends String`, and V8 turns an object that becomes a prototype of
 * another class's prototype (here String.prototype) into a dictionary-mode object. Optimized
 * code cannot look a method up in such an object directly, so from then on every
 * `text.indexOf(…)`, `charCodeAt`, `slice` or `startsWith`, in Parley, ws and Fastify alike,
 * went through V8's generic property lookup: 5% of the server's time relaying signals at 20k
 * msg/s (docs/PERFORMANCE.md, "String.prototype in dictionary mode"). V8 makes a prototype fast
 * again when a property lookup through it misses an inline cache that has seen it before, but
 * only for an object receiver, and strings are primitives: by itself it never happens. So, once
 * ioredis is loaded, the same lookup is done a hundred times on a String object, which leaves
 * String.prototype fast (test/unit/redisBusLoading.test.ts checks it with V8's own
 * %HasFastProperties).
 */
let redisClass: typeof Redis | null = null;

function loadRedis(): typeof Redis {
  if (redisClass === null) {
    const load = createRequire(import.meta.url);
    redisClass = (load('ioredis') as typeof import('ioredis')).Redis;
    const lookUp = (wrapper: object): unknown => (wrapper as { indexOf?: unknown }).indexOf;
    for (let i = 0; i < 100; i++) lookUp(Object('') as object);
  }
  return redisClass;
}

/** Every key and channel Parley uses starts with this, so a Redis can be shared. */
const PREFIX = 'parley:';

/**
 * Claims a name for a user unless a user on a running instance has it. The value is
 * "<instance> <user id>"; an instance is running while its alive key exists (it outlives the
 * instance by the grace period, so a dead instance's users keep their names until they resume
 * elsewhere or their grace is over).
 */
const CLAIM = `
local held = redis.call('GET', KEYS[1])
if held then
  local instance, user = string.match(held, '^(%S+) (%S+)$')
  if user ~= ARGV[2] and instance and redis.call('EXISTS', ARGV[3] .. instance) == 1 then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2])
return 1
`;

/** Frees a name if the user still holds it. */
const RELEASE = `
local held = redis.call('GET', KEYS[1])
if held and string.match(held, ' (%S+)$') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** The id of a room's call: the one already going, else the proposed one (kept a day at most). */
const ROOM_CALL = `
local id = redis.call('GET', KEYS[1])
if id then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return id
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`;

/** Forgets a room's call if it is still that one. */
const ROOM_CALL_OVER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

const DAY_MS = 24 * 3600 * 1000;

export interface RedisBusOptions {
  url: string;
  instanceId: string;
  /** How long the alive key outlives the last heartbeat. */
  aliveTtlMs: number;
  onError: (error: unknown, what: string) => void;
}

export interface BusEnvelope {
  /** Kind of message (Cluster.ts). */
  k: string;
  /** The sending instance. */
  f: string;
  /** Sent at (ms since epoch), for the bus latency metric. */
  ts: number;
  /** Addressed user, for deliveries and forwarded frames. */
  u?: string;
  /** How many instances a delivery has already been through. */
  h?: number;
}

type RedisBusEvents = {
  message: [envelope: BusEnvelope, payload: string];
  /** Both connections are up and subscribed (first time and after every reconnect). */
  up: [];
  down: [];
};

/**
 * Redis pub/sub between Parley instances: one channel every instance hears and one per instance.
 * A message is a JSON envelope, a newline, and a payload that is JSON too but passed through
 * untouched (a frame for a user crosses the bus serialized once). Two connections, as Redis
 * requires: one subscribed, one for publishing and for the name keys. While Redis is unreachable
 * nothing is queued: publishing is dropped (the instances resynchronize when it is back) and
 * `ready` is false, which /readyz reports.
 */
export class RedisBus extends EventEmitter<RedisBusEvents> {
  readonly #opts: RedisBusOptions;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #all = `${PREFIX}bus`;
  readonly #own: string;
  #ready = false;
  #closed = false;

  constructor(options: RedisBusOptions) {
    super();
    this.#opts = options;
    this.#own = this.channelOf(options.instanceId);
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Back off to at most 2 s between attempts, forever: the instance recovers by itself.
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
    };
    const Client = loadRedis();
    this.#pub = new Client(options.url, { ...common, connectionName: `parley-${options.instanceId}-pub` });
    this.#sub = new Client(options.url, { ...common, connectionName: `parley-${options.instanceId}-sub` });
    this.#pub.defineCommand('parleyClaim', { numberOfKeys: 1, lua: CLAIM });
    this.#pub.defineCommand('parleyRelease', { numberOfKeys: 1, lua: RELEASE });
    this.#pub.defineCommand('parleyRoomCall', { numberOfKeys: 1, lua: ROOM_CALL });
    this.#pub.defineCommand('parleyRoomCallOver', { numberOfKeys: 1, lua: ROOM_CALL_OVER });
    for (const [name, client] of [
      ['publish', this.#pub],
      ['subscribe', this.#sub],
    ] as const) {
      client.on('error', (error: unknown) => {
        this.#opts.onError(error, `redis (${name} connection)`);
      });
      client.on('ready', () => {
        void this.#check();
      });
      client.on('close', () => {
        this.#setReady(false);
      });
    }
    this.#sub.on('message', (_channel: string, raw: string) => {
      const cut = raw.indexOf('\n');
      if (cut < 0) return;
      let envelope: BusEnvelope;
      try {
        envelope = JSON.parse(raw.slice(0, cut)) as BusEnvelope;
      } catch {
        return;
      }
      this.emit('message', envelope, raw.slice(cut + 1));
    });
  }

  get ready(): boolean {
    return this.#ready;
  }

  channelOf(instance: string): string {
    return `${PREFIX}bus:${instance}`;
  }

  aliveKey(instance: string): string {
    return `${PREFIX}alive:${instance}`;
  }

  /** Connects both connections; resolves once the first attempt settles (it retries after). */
  async start(): Promise<void> {
    await Promise.allSettled([this.#pub.connect(), this.#sub.connect()]);
    await this.#check();
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    if (this.#pub.status !== 'ready' || this.#sub.status !== 'ready') {
      this.#setReady(false);
      return;
    }
    try {
      await this.#sub.subscribe(this.#all, this.#own);
      await this.heartbeat();
    } catch (error) {
      this.#opts.onError(error, 'subscribing to the bus');
      this.#setReady(false);
      return;
    }
    this.#setReady(true);
  }

  #setReady(ready: boolean): void {
    if (ready === this.#ready || (ready && this.#closed)) return;
    this.#ready = ready;
    this.emit(ready ? 'up' : 'down');
  }

  /** Sends to every instance (this one hears it too and ignores it) or to one. */
  send(to: string | null, envelope: BusEnvelope, payload: string): void {
    if (!this.#ready) return;
    this.#pub.publish(to === null ? this.#all : this.channelOf(to), `${JSON.stringify(envelope)}\n${payload}`).catch(
      (error: unknown) => {
        this.#opts.onError(error, 'publishing on the bus');
      },
    );
  }

  /** Refreshes this instance's alive key. */
  async heartbeat(): Promise<void> {
    await this.#pub.set(this.aliveKey(this.#opts.instanceId), '1', 'PX', this.#opts.aliveTtlMs);
  }

  async claimName(name: string, userId: string): Promise<boolean> {
    const result = await this.#pub.parleyClaim(
      nameKey(name),
      this.#opts.instanceId,
      userId,
      `${PREFIX}alive:`,
    );
    return result === 1;
  }

  /** Makes the name this instance's user's whoever held it (the user resumed here). */
  async takeName(name: string, userId: string): Promise<void> {
    await this.#pub.set(nameKey(name), `${this.#opts.instanceId} ${userId}`);
  }

  async releaseName(name: string, userId: string): Promise<void> {
    await this.#pub.parleyRelease(nameKey(name), userId);
  }

  async roomCallId(room: string, proposed: string): Promise<string> {
    return await this.#pub.parleyRoomCall(`${PREFIX}roomcall:${room}`, proposed, DAY_MS);
  }

  async roomCallOver(room: string, callId: string): Promise<void> {
    await this.#pub.parleyRoomCallOver(`${PREFIX}roomcall:${room}`, callId);
  }

  /**
   * Closes both connections. The alive key is left to expire: this instance's users keep their
   * names while they may still resume on another instance.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = false;
    await Promise.allSettled([this.#sub.quit(), this.#pub.quit()]);
    this.#sub.disconnect();
    this.#pub.disconnect();
  }
}

function nameKey(name: string): string {
  return `${PREFIX}name:${name.toLowerCase()}`;
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    parleyClaim(key: string, instance: string, userId: string, alivePrefix: string): Result<number, Context>;
    parleyRelease(key: string, userId: string): Result<number, Context>;
    parleyRoomCall(key: string, proposed: string, ttlMs: number): Result<string, Context>;
    parleyRoomCallOver(key: string, callId: string): Result<number, Context>;
  }
}
