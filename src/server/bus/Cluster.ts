import type { ClientMessage, ServerMessage } from '../../protocol/protocol.js';
import type { Hub, HubCluster, HubLogger, ReplicaEvent, ReplicaSnapshot } from '../hub/Hub.js';
import type { Outbound } from '../hub/Session.js';
import type { BusEnvelope, RedisBus } from './RedisBus.js';

export interface ClusterOptions {
  instanceId: string;
  /** How often this instance says it is alive. */
  heartbeatMs: number;
  /** Silence after which another instance counts as dead (its users' grace starts). */
  deadAfterMs: number;
  logger: HubLogger;
  /** Seconds from publishing to handling, per bus message. */
  observeLatency?: (seconds: number) => void;
  now?: () => number;
}

/** What crosses the bus (envelope kinds). */
const Kind = {
  /** A ReplicaEvent, to every instance. */
  event: 'ev',
  /** "I am alive", to every instance. */
  heartbeat: 'hb',
  /** "I (re)joined: here is what I have; send me what you have." To every instance or one. */
  hello: 'hi',
  /** The answer to hello: the sender's snapshot, to the instance that said hello. */
  sync: 'sy',
  /** "I am shutting down": my users may resume elsewhere. */
  bye: 'by',
  /** A frame for one user (envelope.u), to that user's instance. */
  deliver: 'dl',
  /** A call frame from one user (envelope.u), to the instance that runs the call. */
  command: 'cm',
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/**
 * Makes Parley instances that share a Redis act as one server. Each instance keeps a replica of
 * every other instance's users (names, rooms, presence) and calls, built from the events they
 * publish and, when an instance (re)joins, from snapshots. Each instance delivers only to its own
 * connections; a frame meant for one user on another instance goes to that instance; a call
 * frame goes to the instance that runs the call (the caller's, or whoever took it over).
 *
 * Liveness: every instance beats every `heartbeatMs`; one silent for `deadAfterMs` is dead, and
 * its users get the grace period to resume anywhere before the others see them leave and their
 * call peers are told. While this instance is cut off from Redis it is not ready (/readyz); when
 * Redis is back it says hello, reconciles, and replays to its users the chat they missed.
 */
export class Cluster implements HubCluster {
  readonly instanceId: string;
  readonly #opts: Required<Omit<ClusterOptions, 'observeLatency'>> & Pick<ClusterOptions, 'observeLatency'>;
  readonly #bus: RedisBus;
  #hub: Hub | null = null;
  /** When each other instance was last heard from. */
  readonly #lastSeen = new Map<string, number>();
  readonly #dead = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  /** The newest stored message id when the bus went down; chat after it is replayed on return. */
  #downSince: number | null = null;
  #leaving = false;

  constructor(bus: RedisBus, options: ClusterOptions) {
    this.#bus = bus;
    this.instanceId = options.instanceId;
    this.#opts = { now: Date.now, ...options };
    bus.on('message', (envelope, payload) => {
      this.#receive(envelope, payload);
    });
    bus.on('up', () => {
      this.#up();
    });
    bus.on('down', () => {
      this.#opts.logger.warn({}, 'the bus (Redis) is unreachable; this instance is not ready');
      this.#downSince ??= this.#hub?.lastStoredId ?? 0;
    });
  }

  get ready(): boolean {
    return this.#bus.ready && !this.#leaving;
  }

  /** Starts taking part: the hub is built with this cluster, then attached. */
  async start(hub: Hub): Promise<void> {
    this.#hub = hub;
    this.#timer = setInterval(() => {
      this.#beat();
    }, this.#opts.heartbeatMs);
    this.#timer.unref();
    await this.#bus.start();
  }

  /**
   * Leaves without ending this instance's sessions: the others give its users the grace period
   * to resume on them. Nothing is published after this.
   */
  leave(): void {
    if (this.#leaving) return;
    this.#send(null, Kind.bye, '{}');
    this.#leaving = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async close(): Promise<void> {
    this.leave();
    await this.#bus.close();
  }

  // -------------------------------------------------------------------------------------------
  // HubCluster

  claimName(name: string, userId: string): Promise<boolean> {
    if (!this.#bus.ready) return Promise.reject(new Error('the bus is unreachable'));
    return this.#bus.claimName(name, userId);
  }

  takeName(name: string, userId: string): void {
    this.#bus.takeName(name, userId).catch((error: unknown) => {
      this.#opts.logger.error({ err: error }, 'taking over a name on the bus failed');
    });
  }

  releaseName(name: string, userId: string): void {
    if (this.#leaving || !this.#bus.ready) return;
    this.#bus.releaseName(name, userId).catch((error: unknown) => {
      this.#opts.logger.error({ err: error }, 'releasing a name on the bus failed');
    });
  }

  roomCallId(room: string, proposed: string): Promise<string> {
    if (!this.#bus.ready) return Promise.reject(new Error('the bus is unreachable'));
    return this.#bus.roomCallId(room, proposed);
  }

  roomCallOver(room: string, callId: string): void {
    if (this.#leaving || !this.#bus.ready) return;
    this.#bus.roomCallOver(room, callId).catch((error: unknown) => {
      this.#opts.logger.error({ err: error }, 'ending a room call on the bus failed');
    });
  }

  isAlive(instance: string): boolean {
    return instance === this.instanceId || (this.#lastSeen.has(instance) && !this.#dead.has(instance));
  }

  publish(event: ReplicaEvent): void {
    this.#send(null, Kind.event, JSON.stringify(event));
  }

  deliver(instance: string, userId: string, out: Outbound, hops = 0): void {
    this.#send(instance, Kind.deliver, out.json, userId, hops);
  }

  forward(instance: string, userId: string, msg: ClientMessage): void {
    this.#send(instance, Kind.command, JSON.stringify(msg), userId);
  }

  // -------------------------------------------------------------------------------------------

  #send(to: string | null, kind: Kind, payload: string, user?: string, hops?: number): void {
    if (this.#leaving) return;
    const envelope: BusEnvelope = { k: kind, f: this.instanceId, ts: this.#opts.now() };
    if (user !== undefined) envelope.u = user;
    if (hops !== undefined) envelope.h = hops;
    this.#bus.send(to, envelope, payload);
  }

  #snapshot(): string {
    return JSON.stringify(this.#hub?.snapshot() ?? { users: [], calls: [] });
  }

  /** Connected (again): everyone learns what this instance has and tells it what they have. */
  #up(): void {
    const hub = this.#hub;
    const now = this.#opts.now();
    // Nobody was heard while cut off; count from now.
    for (const instance of this.#lastSeen.keys()) this.#lastSeen.set(instance, now);
    this.#send(null, Kind.hello, this.#snapshot());
    this.#opts.logger.info({ instance: this.instanceId }, 'on the bus (Redis)');
    if (this.#downSince !== null && hub) {
      const since = this.#downSince;
      this.#downSince = null;
      this.#opts.logger.info({ since }, 'the bus is back; replaying missed chat');
      hub.catchUp(since).catch((error: unknown) => {
        this.#opts.logger.error({ err: error }, 'replaying chat after a bus outage failed');
      });
    }
  }

  #beat(): void {
    if (!this.#bus.ready || this.#leaving) return;
    this.#send(null, Kind.heartbeat, '{}');
    this.#bus.heartbeat().catch((error: unknown) => {
      this.#opts.logger.warn({ err: error }, 'refreshing the alive key failed');
    });
    const now = this.#opts.now();
    for (const [instance, seen] of this.#lastSeen) {
      if (this.#dead.has(instance) || now - seen <= this.#opts.deadAfterMs) continue;
      this.#gone(instance, 'silent');
    }
  }

  #gone(instance: string, why: 'silent' | 'bye'): void {
    if (this.#dead.has(instance)) return;
    this.#dead.add(instance);
    this.#opts.logger.warn({ instance, why }, 'an instance left the bus; its users may resume here');
    this.#hub?.instanceGone(instance);
  }

  #receive(envelope: BusEnvelope, payload: string): void {
    const hub = this.#hub;
    const from = envelope.f;
    if (!hub || from === this.instanceId || typeof from !== 'string') return;
    const now = this.#opts.now();
    this.#opts.observeLatency?.(Math.max(0, now - envelope.ts) / 1000);
    if (envelope.k === Kind.bye) {
      this.#lastSeen.set(from, now);
      this.#gone(from, 'bye');
      return;
    }
    const known = this.#lastSeen.has(from);
    this.#lastSeen.set(from, now);
    if (this.#dead.delete(from) || (!known && envelope.k !== Kind.hello && envelope.k !== Kind.sync)) {
      // An instance this one counted as dead, or never heard say hello: ask for its state.
      this.#send(from, Kind.hello, this.#snapshot());
    }
    try {
      switch (envelope.k) {
        case Kind.heartbeat:
          return;
        case Kind.event:
          hub.apply(from, JSON.parse(payload) as ReplicaEvent);
          return;
        case Kind.hello:
          hub.reconcile(from, JSON.parse(payload) as ReplicaSnapshot);
          this.#send(from, Kind.sync, this.#snapshot());
          return;
        case Kind.sync:
          hub.reconcile(from, JSON.parse(payload) as ReplicaSnapshot);
          return;
        case Kind.deliver:
          if (envelope.u) hub.deliverFromBus(envelope.u, JSON.parse(payload) as ServerMessage, envelope.h ?? 0);
          return;
        case Kind.command:
          if (envelope.u) void hub.handleFromBus(envelope.u, JSON.parse(payload) as ClientMessage);
          return;
        default:
          this.#opts.logger.warn({ kind: envelope.k, from }, 'unknown message on the bus');
      }
    } catch (error) {
      this.#opts.logger.error({ err: error, kind: envelope.k, from }, 'handling a bus message failed');
    }
  }
}
