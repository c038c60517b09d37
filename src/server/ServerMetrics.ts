import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallEndReason } from '../protocol/protocol.js';
import type { HubMetrics } from './hub/HubMetrics.js';

/** Every way a call can end, so each outcome is exported (as 0) before it first happens. */
const CALL_END_REASONS = [
  'declined',
  'busy',
  'cancelled',
  'timeout',
  'hangup',
  'disconnected',
  'unavailable',
] as const satisfies readonly CallEndReason[];

export type Protocol = 'parley' | 'chat' | 'login';

/** The state /metrics reads when it is scraped. */
export interface MetricSources {
  /** Open WebSocket connections of each protocol. */
  connections(): Record<Protocol, number>;
  /** Signed-in users (sessions, including those waiting out their grace period). */
  sessions(): number;
  rooms(): number;
  calls(): number;
  roomCalls(): number;
}

/** Relay times observed together (ServerMetrics#relayPending). */
const RELAY_BATCH = 256;

/**
 * Parley's Prometheus metrics, in a registry of this server's own (not prom-client's global one),
 * so that several servers in one process (tests) do not clash. Counters and histograms are fed by
 * the hub and the transports through HubMetrics; gauges read the state when scraped.
 */
export class ServerMetrics implements HubMetrics {
  readonly registry = new Registry();
  readonly #stored: Counter;
  readonly #duplicates: Counter;
  readonly #delivered: Counter;
  readonly #callsEnded: Counter<'reason'>;
  readonly #relay: Histogram;
  /**
   * Relay times (seconds) not yet observed. prom-client's `observe` took ~1.5 µs a frame when it
   * ran once per relayed frame between socket reads (3% of the server's time at 20k frames a
   * second on the bench machine), its code and data cold each time; in a run of hundreds it costs
   * a fraction of that. So the times wait here and go in together when the batch is full or at a
   * scrape.
   */
  readonly #relayPending = new Float64Array(RELAY_BATCH);
  #relayPendingCount = 0;
  readonly #store: Histogram;
  readonly #bus: Histogram;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    // Process and Node.js metrics (CPU, memory, event loop lag) under their usual names.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'parley_connections',
      help: 'Open WebSocket connections, by protocol (parley, legacy chat, legacy login).',
      labelNames: ['protocol'],
      registers,
      collect() {
        for (const [protocol, n] of Object.entries(sources.connections())) {
          this.set({ protocol }, n);
        }
      },
    });
    new Gauge({
      name: 'parley_signed_in_users',
      help: 'Signed-in users of this instance, including those whose connection dropped within the grace period.',
      registers,
      collect() {
        this.set(sources.sessions());
      },
    });
    new Gauge({
      name: 'parley_rooms',
      help: 'Rooms with at least one member (with REDIS_URL, members on every instance count).',
      registers,
      collect() {
        this.set(sources.rooms());
      },
    });
    new Gauge({
      name: 'parley_calls_in_progress',
      help: '1:1 calls ringing or active (with REDIS_URL, every instance counts every call).',
      registers,
      collect() {
        this.set(sources.calls());
      },
    });
    new Gauge({
      name: 'parley_room_calls',
      help: 'Group calls going on in rooms (with REDIS_URL, every instance counts every call).',
      registers,
      collect() {
        this.set(sources.roomCalls());
      },
    });
    this.#stored = new Counter({
      name: 'parley_messages_stored_total',
      help: 'Chat messages stored (re-sends of a stored message not included).',
      registers,
    });
    this.#duplicates = new Counter({
      name: 'parley_messages_duplicate_total',
      help: 'Re-sent chat messages found already stored, acknowledged again and not stored twice.',
      registers,
    });
    this.#delivered = new Counter({
      name: 'parley_messages_delivered_total',
      help: 'Chat messages handed to recipients (live fan-out and replay on resume).',
      registers,
    });
    this.#callsEnded = new Counter({
      name: 'parley_calls_ended_total',
      help: 'Calls ended, by reason (callEnded); busy counts invitations refused as busy.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of CALL_END_REASONS) this.#callsEnded.inc({ reason }, 0);
    this.#relay = new Histogram({
      name: 'parley_signal_relay_seconds',
      help: 'Time a call signal frame spends in the server, from arrival to its send to the peer.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
      collect: () => {
        this.#observeRelayed();
      },
    });
    this.#store = new Histogram({
      name: 'parley_store_append_seconds',
      help: 'Time to store a chat message durably (MessageStore.append, group commit included).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#bus = new Histogram({
      name: 'parley_bus_latency_seconds',
      help: 'Time from one instance publishing on the Redis bus to another handling it (REDIS_URL; clocks of the instances must agree).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
  }

  busMessage(seconds: number): void {
    this.#bus.observe(seconds);
  }

  messageStored(ms: number, duplicate: boolean): void {
    this.#store.observe(ms / 1000);
    (duplicate ? this.#duplicates : this.#stored).inc();
  }

  messagesDelivered(count: number): void {
    if (count > 0) this.#delivered.inc(count);
  }

  callEnded(reason: CallEndReason): void {
    this.#callsEnded.inc({ reason });
  }

  signalRelayed(ms: number): void {
    this.#relayPending[this.#relayPendingCount++] = ms / 1000;
    if (this.#relayPendingCount === RELAY_BATCH) this.#observeRelayed();
  }

  #observeRelayed(): void {
    const pending = this.#relayPending;
    for (let i = 0; i < this.#relayPendingCount; i++) this.#relay.observe(pending[i]!);
    this.#relayPendingCount = 0;
  }
}
