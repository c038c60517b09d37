import type { Hub } from '../hub/Hub.js';
import type { LegacyOptions } from './legacyChat.js';
import { LegacyLoginConnection } from './LegacyLoginConnection.js';
import type { ParleySocket, ParleySocketServer } from './socket.js';

/** Serves the legacy "login" protocol on `wss` (see LegacyLoginConnection). */
export function attachLegacyLogin(wss: ParleySocketServer, hub: Hub, options: LegacyOptions): { close(): void } {
  const onConnection = (ws: ParleySocket): void => {
    new LegacyLoginConnection(ws, hub, options);
  };
  wss.on('connection', onConnection);
  return {
    close() {
      wss.off('connection', onConnection);
    },
  };
}
