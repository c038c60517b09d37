import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import pino, { type Logger } from 'pino';
import { CloseCode } from '../protocol/protocol.js';
import { randomBytes } from 'node:crypto';
import { Cluster } from './bus/Cluster.js';
import { RedisBus } from './bus/RedisBus.js';
import type { Config } from './config.js';
import { Hub } from './hub/Hub.js';
import { ServerMetrics } from './ServerMetrics.js';
import type { MessageStore } from './store/MessageStore.js';
import { PostgresStore } from './store/PostgresStore.js';
import { SqliteStore } from './store/SqliteStore.js';
import { startHeartbeat } from './transport/heartbeat.js';
import { attachLegacyChat } from './transport/legacyChat.js';
import { attachLegacyLogin } from './transport/legacyLogin.js';
import { ParleyConnection } from './transport/ParleyConnection.js';
import { type ParleySocketServer, socketServer } from './transport/socket.js';
import { ImageStore } from './images/ImageStore.js';
import { registerIceRoute } from './routes/ice.js';
import { registerImageRoutes } from './routes/images.js';
import { iceProvider } from './turn.js';

export interface BuildOptions {
  logger?: Logger;
  /** Use this store instead of opening config.databaseUrl or config.dbPath (tests). */
  store?: MessageStore;
  /** Interval of WebSocket pings that detect dead connections. */
  heartbeatMs?: number;
}

export interface Listening {
  port: number;
  legacyChatPort: number | null;
  legacyLoginPort: number | null;
}

export interface ParleyServer {
  readonly hub: Hub;
  readonly store: MessageStore;
  readonly http: FastifyInstance;
  listen(): Promise<Listening>;
  /** Closes every socket with 1001, flushes the store and stops listening. Idempotent. */
  close(): Promise<void>;
}

const PLACEHOLDER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parley</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Parley</h1><p>The server is running. The web app has not been built into this copy yet
(<code>npm run build</code>).</p></body></html>`;

/** PostgreSQL when DATABASE_URL is set (several instances share it), else the SQLite file. */
function openStore(config: Config): MessageStore {
  return config.databaseUrl !== null
    ? new PostgresStore({ connectionString: config.databaseUrl })
    : new SqliteStore({ path: config.dbPath, synchronous: config.dbSync });
}

/** The Redis bus that joins this instance to the others (REDIS_URL). */
function makeCluster(config: Config, logger: Logger, metrics: ServerMetrics): Cluster {
  const instanceId = randomBytes(6).toString('base64url');
  const bus = new RedisBus({
    url: config.redisUrl ?? '',
    instanceId,
    aliveTtlMs: config.busDeadAfterMs + config.graceMs,
    onError: (error, what) => {
      logger.warn({ err: error }, `${what} failed`);
    },
  });
  return new Cluster(bus, {
    instanceId,
    heartbeatMs: config.busHeartbeatMs,
    deadAfterMs: config.busDeadAfterMs,
    logger,
    observeLatency: (seconds) => {
      metrics.busMessage(seconds);
    },
  });
}

/** Builds a Parley server from its config. Starts nothing until listen(); no side effects on import. */
export function buildServer(config: Config, options: BuildOptions = {}): ParleyServer {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const tls =
    config.tlsCert !== null && config.tlsKey !== null
      ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
      : null;
  const store = options.store ?? openStore(config);
  // Reads the hub and the sockets when scraped; all defined below, before anything can scrape.
  const metrics: ServerMetrics = new ServerMetrics({
    connections: () => ({
      parley: parleyWss.clients.size,
      chat: legacyServers.find((l) => l.name === 'chat')?.wss.clients.size ?? 0,
      login: legacyServers.find((l) => l.name === 'login')?.wss.clients.size ?? 0,
    }),
    sessions: () => hub.sessionCount,
    rooms: () => hub.roomCount,
    calls: () => hub.callCount,
    roomCalls: () => hub.roomCallCount,
  });
  const images = new ImageStore({ dir: config.imagesDir });
  const cluster = config.redisUrl === null ? null : makeCluster(config, logger, metrics);
  const hub: Hub = new Hub({
    ...(cluster ? { cluster } : {}),
    store,
    imageSize: async (id) => {
      const meta = await images.meta(id);
      return meta && { width: meta.width, height: meta.height };
    },
    metrics,
    graceMs: config.graceMs,
    callTimeoutMs: config.callTimeoutMs,
    ice: iceProvider(config),
    maxFrameBytes: config.maxFrameBytes,
    presence: { fullPresenceMax: config.roomFullPresenceMax, largeFlushMs: config.largeRoomDeltaMs },
    logger,
  });
  const connectionOptions = {
    maxFrameBytes: config.maxFrameBytes,
    rateLimit: config.rateLimit,
    rateBurst: config.rateBurst,
    logger,
    metrics,
  };
  // Frames a bit over the limit get a coded error and the connection lives on; frames far over it
  // are not worth reading, and ws closes those connections with 1009.
  const hardMaxPayload = Math.max(config.maxFrameBytes * 4, 1024 * 1024);
  const heartbeatMs = options.heartbeatMs ?? 30_000;

  const http = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    ...(tls ? { https: tls } : {}),
  }) as unknown as FastifyInstance;
  let shuttingDown = false;

  http.get('/healthz', () => ({ status: 'ok' }));
  // Prometheus text format. On the main port like /readyz: keep it from the public internet at the
  // reverse proxy (docs/DEPLOY.md) if the numbers are not for everyone.
  http.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  http.get('/readyz', async (_request, reply) => {
    const ready = !shuttingDown && store.ready() && (cluster?.ready ?? true);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });

  registerIceRoute(http, config);
  registerImageRoutes(http, {
    images,
    sessionByToken: (token) => hub.findByToken(token),
    maxBytes: config.imageMaxBytes,
    logger,
  });

  const webRoot = resolve(config.webRoot);
  const hasWebApp = existsSync(resolve(webRoot, 'index.html'));
  if (hasWebApp) {
    void http.register(fastifyStatic, { root: webRoot, index: 'index.html' });
    // One URL per room: /r/<room> is the app itself; it reads the room from the path.
    http.get('/r/*', (_request, reply) => reply.sendFile('index.html'));
    // The connectivity self-test: its own small page (a separate Vite entry), not the app's bundle.
    http.get('/selftest', (_request, reply) => reply.sendFile('selftest.html'));
  } else {
    http.get('/', (_request, reply) => reply.type('text/html; charset=utf-8').send(PLACEHOLDER_PAGE));
  }
  http.addHook('onSend', async (_request, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    return payload;
  });

  const parleyWss = socketServer({ noServer: true, maxPayload: hardMaxPayload });
  parleyWss.on('connection', (ws) => {
    new ParleyConnection(ws, hub, connectionOptions);
  });
  const stops: (() => void)[] = [startHeartbeat(parleyWss, heartbeatMs)];
  http.server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    parleyWss.handleUpgrade(request, socket, head, (ws) => {
      parleyWss.emit('connection', ws, request);
    });
  });

  /**
   * Legacy clients see a photo as a link: to this server's HTTP port, on the host name the client
   * used to reach the legacy port.
   */
  const legacyImageUrl = (id: string, hostHeader: string | undefined): string => {
    let host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    if (hostHeader) {
      try {
        host = new URL(`http://${hostHeader}`).hostname;
      } catch {
        // a malformed Host header: keep the configured host
      }
    }
    const port = (http.server.address() as AddressInfo | null)?.port ?? config.port;
    return `${tls ? 'https' : 'http'}://${host}:${port}/api/images/${id}`;
  };
  const legacyServers: { server: HttpServer; wss: ParleySocketServer; port: number; name: string }[] = [];
  const makeLegacy = (name: 'chat' | 'login', port: number, attach: typeof attachLegacyChat, subprotocol: string | null) => {
    const server = tls ? createHttpsServer(tls) : createHttpServer();
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' });
      res.end(`This port speaks the legacy "${name}" WebSocket protocol.\n`);
    });
    const wss = socketServer({
      server,
      maxPayload: hardMaxPayload,
      handleProtocols: (protocols) => (subprotocol && protocols.has(subprotocol) ? subprotocol : false),
    });
    stops.push(startHeartbeat(wss, heartbeatMs));
    const adapter = attach(wss, hub, {
      ...connectionOptions,
      userlistCoalesceMs: config.userlistCoalesceMs,
      imageUrl: legacyImageUrl,
    });
    stops.push(() => {
      adapter.close();
    });
    legacyServers.push({ server, wss, port, name });
  };
  if (config.legacyChatPort !== null) makeLegacy('chat', config.legacyChatPort, attachLegacyChat, 'json');
  if (config.legacyLoginPort !== null) makeLegacy('login', config.legacyLoginPort, attachLegacyLogin, null);

  let closing: Promise<void> | null = null;

  return {
    hub,
    store,
    http,
    async listen() {
      // Do not take connections before the database is migrated (PostgreSQL does it on open).
      if (store instanceof PostgresStore) await store.migrated();
      // Join the other instances first (if Redis is down it keeps trying; /readyz says so).
      if (cluster) await cluster.start(hub);
      await http.listen({ port: config.port, host: config.host });
      const result: Listening = {
        port: (http.server.address() as AddressInfo).port,
        legacyChatPort: null,
        legacyLoginPort: null,
      };
      for (const legacy of legacyServers) {
        await new Promise<void>((resolveListen, reject) => {
          legacy.server.once('error', reject);
          legacy.server.listen(legacy.port, config.host, () => {
            legacy.server.off('error', reject);
            resolveListen();
          });
        });
        const port = (legacy.server.address() as AddressInfo).port;
        if (legacy.name === 'chat') result.legacyChatPort = port;
        else result.legacyLoginPort = port;
      }
      logger.info(result, 'Parley is listening');
      return result;
    },
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        // Other instances keep this one's users for the grace period: they resume there.
        cluster?.leave();
        for (const stop of stops) stop();
        const sockets = [parleyWss, ...legacyServers.map((l) => l.wss)].flatMap((w) => [...w.clients]);
        for (const ws of sockets) ws.close(CloseCode.goingAway, 'server shutting down');
        hub.close();
        parleyWss.close();
        await Promise.all(
          legacyServers.map(
            (l) =>
              new Promise<void>((done) => {
                l.wss.close();
                l.server.close(() => {
                  done();
                });
                l.server.closeAllConnections();
              }),
          ),
        );
        // Give close frames a moment to leave, then drop what is left.
        await new Promise((r) => setTimeout(r, 50));
        for (const ws of sockets) ws.terminate();
        await http.close();
        await cluster?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
