import type { WebSocketServer } from 'ws';
import type { Hub } from '../hub/Hub.js';
import type { LegacyOptions } from './legacyChat.js';

export function attachLegacyLogin(_wss: WebSocketServer, _hub: Hub, _options: LegacyOptions): { close(): void } {
  return { close() {} };
}
