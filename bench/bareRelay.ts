/**
 * The bare relay: the Node ceiling on this machine for a WebSocket signaling server. `ws` and no
 * logic: no validation, no rooms, no storage, no rate limits. Each client connects to `/?id=<id>`;
 * `{"to":"<id>",…}` is forwarded as is to that client, `{"to":"*",…}` to every other client, and
 * `{"hello":…}` is answered with `{"type":"welcome"}` (the sign-in round trip).
 *
 * Run: PORT=<port> node --import tsx bench/bareRelay.ts
 */
import { type WebSocket, WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? '0');
const clients = new Map<string, WebSocket>();
const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false });

wss.on('connection', (ws, request) => {
  const id = new URL(request.url ?? '/', 'http://x').searchParams.get('id') ?? '';
  clients.set(id, ws);
  ws.on('close', () => {
    if (clients.get(id) === ws) clients.delete(id);
  });
  ws.on('message', (data) => {
    const text = (data as Buffer).toString('utf8');
    const msg = JSON.parse(text) as { to?: string; hello?: string };
    if (msg.hello !== undefined) {
      ws.send('{"type":"welcome"}');
    } else if (msg.to === '*') {
      for (const other of wss.clients) if (other !== ws) other.send(text);
    } else if (msg.to !== undefined) {
      clients.get(msg.to)?.send(text);
    }
  });
});
wss.on('listening', () => {
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => {
  process.exit(0);
});
