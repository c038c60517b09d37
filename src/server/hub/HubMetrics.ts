import type { CallEndReason } from '../../protocol/protocol.js';

/**
 * What the hub and the transports report for /metrics. An interface rather than prom-client
 * itself, so the hub stays pure logic and tests can pass a fake; the server implements it with
 * prom-client (src/server/ServerMetrics.ts). Counts that are state (sessions, rooms, calls,
 * connections) are not reported: the metrics read them from the hub when scraped.
 */
export interface HubMetrics {
  /** A chat message went through the store: how long append took, and whether it was a re-send. */
  messageStored(ms: number, duplicate: boolean): void;
  /** Chat messages handed to recipients' connections (live fan-out and replay on resume). */
  messagesDelivered(count: number): void;
  /** A call ended, or was refused as busy before it began. */
  callEnded(reason: CallEndReason): void;
  /** Time a signal frame spent in the server, from its arrival to its send to the peer. */
  signalRelayed(ms: number): void;
}

/** Reports nothing: the default when no metrics are wanted. */
export const noMetrics: HubMetrics = {
  messageStored: () => undefined,
  messagesDelivered: () => undefined,
  callEnded: () => undefined,
  signalRelayed: () => undefined,
};
