import type { IncomingMessage } from 'node:http';
import { LOBBY } from '../../protocol/protocol.js';
import type { Hub, HubLogger } from '../hub/Hub.js';
import { LegacyChatConnection } from './LegacyChatConnection.js';
import type { ParleySocket, ParleySocketServer } from './socket.js';

export interface LegacyOptions {
  maxFrameBytes: number;
  rateLimit: number;
  rateBurst: number;
  /** At most one user list per this many milliseconds goes to the chat-protocol clients. */
  userlistCoalesceMs: number;
  logger: HubLogger;
  /**
   * The address of a shared image for a client that connected with this Host header: these
   * clients get a photo as the text "[photo] <url>".
   */
  imageUrl?: (id: string, host: string | undefined) => string;
}

/**
 * Serves the legacy "chat" protocol on `wss` (see LegacyChatConnection), and keeps its clients'
 * user lists current.
 *
 * These clients expect the whole list of names after every change. Sent naively, N users signing
 * in at once cost N² frames and N² serializations; instead every change to the lobby within
 * `userlistCoalesceMs` is folded into one list, serialized once and sent to every client that has
 * not seen that exact list yet (presence changes during calls leave the names as they were).
 */
export function attachLegacyChat(wss: ParleySocketServer, hub: Hub, options: LegacyOptions): { close(): void } {
  const connections = new Set<LegacyChatConnection>();
  let nextId = 1;
  let timer: NodeJS.Timeout | null = null;
  let lastList = '';
  let listVersion = 0;

  const sendUserlist = (): void => {
    timer = null;
    // Everyone in the lobby, whatever protocol they speak; only signed-in users have a name.
    const json = JSON.stringify({ type: 'userlist', users: hub.members(LOBBY).map((m) => m.name) });
    if (json !== lastList) {
      lastList = json;
      listVersion += 1;
    }
    for (const connection of connections) {
      if (connection.session === null || connection.userlistVersion === listVersion) continue;
      connection.userlistVersion = listVersion;
      connection.sendRaw(json);
    }
  };

  const stopListening = hub.on('roomChanged', (room) => {
    if (room !== LOBBY || timer !== null) return;
    timer = setTimeout(sendUserlist, options.userlistCoalesceMs);
    timer.unref();
  });

  const onConnection = (ws: ParleySocket, request?: IncomingMessage): void => {
    const host = request?.headers.host;
    const imageUrl = options.imageUrl;
    const connection = new LegacyChatConnection(
      ws,
      hub,
      options,
      nextId++,
      imageUrl ? (id) => imageUrl(id, host) : (id) => `/api/images/${id}`,
    );
    connections.add(connection);
    ws.once('close', () => {
      connections.delete(connection);
    });
  };
  wss.on('connection', onConnection);

  return {
    close() {
      stopListening();
      wss.off('connection', onConnection);
      if (timer !== null) clearTimeout(timer);
      timer = null;
      connections.clear();
    },
  };
}
