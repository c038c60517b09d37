import type { WebSocket, WebSocketServer } from 'ws';
import type { Hub } from '../hub/Hub.js';
import type { LegacyOptions } from './legacyChat.js';
import { LegacyLoginConnection } from './LegacyLoginConnection.js';

/** Serves the legacy "login" protocol on `wss` (see LegacyLoginConnection). */
export function attachLegacyLogin(wss: WebSocketServer, hub: Hub, options: LegacyOptions): { close(): void } {
  const onConnection = (ws: WebSocket): void => {
    new LegacyLoginConnection(ws, hub, options);
  };
  wss.on('connection', onConnection);
  return {
    close() {
      wss.off('connection', onConnection);
    },
  };
}
