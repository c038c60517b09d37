import type { WebSocketServer } from 'ws';
import type { Hub, HubLogger } from '../hub/Hub.js';

export interface LegacyOptions {
  maxFrameBytes: number;
  rateLimit: number;
  rateBurst: number;
  userlistCoalesceMs: number;
  logger: HubLogger;
}

export function attachLegacyChat(_wss: WebSocketServer, _hub: Hub, _options: LegacyOptions): { close(): void } {
  return { close() {} };
}
