/**
 * peerjs-server (the `peer` package) as a baseline: what PeerJS users run today. Clients connect
 * to `/peerjs?key=peerjs&id=<id>&token=<token>`, get `{"type":"OPEN"}`, and send
 * `{"type":"OFFER","dst":"<id>","payload":…}` which the server stamps with `src` and forwards.
 *
 * Run: PORT=<port> node --import tsx bench/peerServer.ts
 */
import { PeerServer } from 'peer';

const port = Number(process.env.PORT ?? '0');
PeerServer(
  {
    port,
    host: '127.0.0.1',
    path: '/',
    key: 'peerjs',
    // The default of 5000 would refuse the 10k sign-in scenario.
    concurrent_limit: 1_000_000,
    alive_timeout: 600_000,
    expire_timeout: 600_000,
  },
  () => {
    process.stdout.write(`listening ${port}\n`);
  },
);
process.on('SIGTERM', () => {
  process.exit(0);
});
