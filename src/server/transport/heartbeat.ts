import type { WebSocket, WebSocketServer } from 'ws';

const alive = new WeakSet<WebSocket>();

/** One listener shared by every socket (ws calls it with the socket as `this`): no closure each. */
function markAlive(this: WebSocket): void {
  alive.add(this);
}

/**
 * Pings every client of `wss` each `intervalMs` and terminates the ones that did not answer the
 * previous ping, so a connection that died without a close frame (a phone that lost its network)
 * is noticed and its session starts the grace period. Returns a function that stops it.
 */
export function startHeartbeat(wss: WebSocketServer, intervalMs: number): () => void {
  wss.on('connection', (ws) => {
    alive.add(ws);
    ws.on('pong', markAlive);
  });
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}

/** Sends unless the socket is already closing; never throws. */
export function safeSend(ws: WebSocket, data: string): void {
  if (ws.readyState === ws.OPEN) ws.send(data);
}

/** Bytes of a ws message, whatever form ws delivered it in. */
export function rawToString(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

export function rawLength(data: Buffer | ArrayBuffer | Buffer[]): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}
