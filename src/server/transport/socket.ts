import { type Server, type ServerOptions, WebSocket, WebSocketServer } from 'ws';
import type { FrameIntake } from './FrameIntake.js';

/**
 * The WebSocket class of every server here: ws's own, with the two things the listeners and the
 * heartbeat that all sockets share need to find. As fields they cost 8 bytes each in the socket
 * object; the WeakMaps they replace cost 16-26 bytes an entry at ten thousand connections (their
 * tables grow in powers of two) and a hash lookup for every frame.
 */
export class ParleySocket extends WebSocket {
  /** The connection reading this socket (set by FrameIntake). */
  intake: FrameIntake | null = null;
  /** The socket's bytesRead when the heartbeat last pinged it; -1 before the first ping. */
  readAtPing = -1;
}

export type ParleySocketServer = Server<typeof ParleySocket>;

/** A ws server whose sockets are ParleySockets. */
export function socketServer(options: Omit<ServerOptions<typeof ParleySocket>, 'WebSocket'>): ParleySocketServer {
  return new WebSocketServer({ ...options, WebSocket: ParleySocket });
}
