import { parseArgs } from 'node:util';

/** Everything Parley can be told at startup. Only main.ts reads env and argv to build it. */
export interface Config {
  host: string;
  /** HTTP port for the web app and the Parley protocol at /ws; 0 picks a free one. */
  port: number;
  /**
   * Port of the legacy "chat" protocol (MDN sample / chatWithRTC); null is off (0 in the env).
   * In a Config built by code, 0 means "any free port" (tests).
   */
  legacyChatPort: number | null;
  /** Port of the legacy "login" protocol (the two-page demo); null is off (0 in the env). */
  legacyLoginPort: number | null;
  /** SQLite file holding chat history. */
  dbPath: string;
  /** 'full' survives power loss; 'normal' survives a process crash only. */
  dbSync: 'full' | 'normal';
  /** PostgreSQL holding chat history instead of SQLite (postgres://…); null uses dbPath. */
  databaseUrl: string | null;
  /** Redis that joins instances into one server (redis://…); null runs as one process. */
  redisUrl: string | null;
  /** How often an instance tells the others on the Redis bus that it is alive. */
  busHeartbeatMs: number;
  /** Silence after which an instance counts as dead and its users' grace period starts. */
  busDeadAfterMs: number;
  /** Folder of the images shared in chat (POST /api/images), one file per image. */
  imagesDir: string;
  /** Largest image upload accepted, in bytes. */
  imageMaxBytes: number;
  graceMs: number;
  callTimeoutMs: number;
  maxFrameBytes: number;
  /** Sustained frames per second allowed on one connection. */
  rateLimit: number;
  /** Frames a connection may send in a burst above the sustained rate. */
  rateBurst: number;
  stunUrls: string[];
  turnUrls: string[];
  turnSecret: string | null;
  turnTtlSeconds: number;
  tlsCert: string | null;
  tlsKey: string | null;
  /** Milliseconds over which legacy "chat" user lists are coalesced. */
  userlistCoalesceMs: number;
  /**
   * Rooms with more members than this are large: joiners get a count and the first page of the
   * member list, and page on (docs/PROTOCOL.md, "Large rooms").
   */
  roomFullPresenceMax: number;
  /** Milliseconds over which a large room's member changes are coalesced into one frame. */
  largeRoomDeltaMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Directory with the built web app; when missing, a placeholder page is served. */
  webRoot: string;
}

export const defaults: Config = {
  host: '0.0.0.0',
  port: 8080,
  legacyChatPort: 6503,
  legacyLoginPort: 9090,
  dbPath: './data/parley.db',
  dbSync: 'full',
  databaseUrl: null,
  redisUrl: null,
  busHeartbeatMs: 2000,
  busDeadAfterMs: 6000,
  imagesDir: './data/images',
  imageMaxBytes: 5 * 1024 * 1024,
  graceMs: 30_000,
  callTimeoutMs: 30_000,
  maxFrameBytes: 64 * 1024,
  rateLimit: 50,
  rateBurst: 200,
  stunUrls: [],
  turnUrls: [],
  turnSecret: null,
  turnTtlSeconds: 3600,
  tlsCert: null,
  tlsKey: null,
  userlistCoalesceMs: 50,
  roomFullPresenceMax: 250,
  largeRoomDeltaMs: 250,
  logLevel: 'info',
  webRoot: './dist/client',
};

/**
 * The settings table: env var, CLI flag and how to read it. README.md's configuration table lists
 * the same rows.
 */
const settings = {
  host: { env: 'HOST', flag: 'host', parse: str },
  port: { env: 'PORT', flag: 'port', parse: port },
  legacyChatPort: { env: 'LEGACY_CHAT_PORT', flag: 'legacy-chat-port', parse: optionalPort },
  legacyLoginPort: { env: 'LEGACY_LOGIN_PORT', flag: 'legacy-login-port', parse: optionalPort },
  dbPath: { env: 'DB_PATH', flag: 'db-path', parse: str },
  dbSync: { env: 'DB_SYNC', flag: 'db-sync', parse: oneOf(['full', 'normal'] as const) },
  databaseUrl: { env: 'DATABASE_URL', flag: 'database-url', parse: postgresUrl },
  redisUrl: { env: 'REDIS_URL', flag: 'redis-url', parse: redisUrl },
  busHeartbeatMs: { env: 'BUS_HEARTBEAT_MS', flag: 'bus-heartbeat-ms', parse: int(100, 60_000) },
  busDeadAfterMs: { env: 'BUS_DEAD_AFTER_MS', flag: 'bus-dead-after-ms', parse: int(300, 600_000) },
  imagesDir: { env: 'IMAGES_DIR', flag: 'images-dir', parse: str },
  imageMaxBytes: { env: 'IMAGE_MAX_BYTES', flag: 'image-max-bytes', parse: int(1024, 100 * 1024 * 1024) },
  graceMs: { env: 'GRACE_SECONDS', flag: 'grace-seconds', parse: seconds(0, 3600) },
  callTimeoutMs: { env: 'CALL_TIMEOUT_SECONDS', flag: 'call-timeout-seconds', parse: seconds(1, 600) },
  maxFrameBytes: { env: 'MAX_FRAME_BYTES', flag: 'max-frame-bytes', parse: int(1024, 16 * 1024 * 1024) },
  rateLimit: { env: 'RATE_LIMIT', flag: 'rate-limit', parse: int(1, 1_000_000) },
  rateBurst: { env: 'RATE_BURST', flag: 'rate-burst', parse: int(1, 1_000_000) },
  stunUrls: { env: 'STUN_URLS', flag: 'stun-urls', parse: urls(['stun:', 'stuns:']) },
  turnUrls: { env: 'TURN_URLS', flag: 'turn-urls', parse: urls(['turn:', 'turns:']) },
  turnSecret: { env: 'TURN_SECRET', flag: 'turn-secret', parse: optionalStr },
  turnTtlSeconds: { env: 'TURN_TTL_SECONDS', flag: 'turn-ttl-seconds', parse: int(60, 7 * 24 * 3600) },
  tlsCert: { env: 'TLS_CERT', flag: 'tls-cert', parse: optionalStr },
  tlsKey: { env: 'TLS_KEY', flag: 'tls-key', parse: optionalStr },
  userlistCoalesceMs: { env: 'USERLIST_COALESCE_MS', flag: 'userlist-coalesce-ms', parse: int(0, 10_000) },
  roomFullPresenceMax: {
    env: 'ROOM_FULL_PRESENCE_MAX',
    flag: 'room-full-presence-max',
    parse: int(1, 100_000),
  },
  largeRoomDeltaMs: { env: 'LARGE_ROOM_DELTA_MS', flag: 'large-room-delta-ms', parse: int(0, 10_000) },
  logLevel: {
    env: 'LOG_LEVEL',
    flag: 'log-level',
    parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  },
  webRoot: { env: 'WEB_ROOT', flag: 'web-root', parse: str },
} satisfies { [K in keyof Config]: { env: string; flag: string; parse: (raw: string) => Config[K] } };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Builds the Config from an environment and command-line flags (flags win). Pure. */
export function loadConfig(env: Record<string, string | undefined>, argv: readonly string[] = []): Config {
  const options = Object.fromEntries(
    Object.values(settings).map((s) => [s.flag, { type: 'string' as const }]),
  );
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const config: Record<string, unknown> = { ...defaults };
  for (const [key, setting] of Object.entries(settings)) {
    const flagValue = flags[setting.flag];
    const raw = typeof flagValue === 'string' ? flagValue : env[setting.env];
    if (raw === undefined) continue;
    try {
      config[key] = setting.parse(raw);
    } catch (error) {
      throw new ConfigError(`${setting.env} (--${setting.flag}): ${(error as Error).message}`);
    }
  }
  const result = config as unknown as Config;
  if ((result.tlsCert === null) !== (result.tlsKey === null)) {
    throw new ConfigError('TLS_CERT and TLS_KEY must be given together');
  }
  if ((result.turnSecret === null) !== (result.turnUrls.length === 0)) {
    throw new ConfigError('TURN_SECRET and TURN_URLS must be given together');
  }
  if (result.redisUrl !== null && result.databaseUrl === null) {
    // Each instance's own SQLite file would give every instance its own history and message ids.
    throw new ConfigError('REDIS_URL needs DATABASE_URL: instances joined by Redis must share one PostgreSQL');
  }
  if (result.busDeadAfterMs < result.busHeartbeatMs * 2) {
    throw new ConfigError('BUS_DEAD_AFTER_MS must be at least twice BUS_HEARTBEAT_MS');
  }
  return result;
}

function str(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw.trim();
}

function optionalStr(raw: string): string | null {
  return raw.trim() === '' ? null : raw.trim();
}

/** A libpq connection URL; empty is "not set". The URL is never echoed: it may hold a password. */
/** A URL of a service (database, Redis) with one of `schemes`, or null when empty. */
function serviceUrl(schemes: readonly string[], example: string): (raw: string) => string | null {
  return (raw) => {
    const value = raw.trim();
    if (value === '') return null;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new Error(`is not a URL (${example})`);
    }
    if (!schemes.includes(url.protocol.slice(0, -1))) {
      throw new Error(`must start with ${schemes.map((x) => `${x}://`).join(' or ')}, not ${url.protocol}//`);
    }
    return value;
  };
}

function postgresUrl(raw: string): string | null {
  return serviceUrl(['postgres', 'postgresql'], 'postgres://user:password@host:5432/database')(raw);
}

function redisUrl(raw: string): string | null {
  return serviceUrl(['redis', 'rediss'], 'redis://[:password@]host:6379[/db]')(raw);
}

function int(min: number, max: number): (raw: string) => number {
  return (raw) => {
    // Decimal digits only: Number('') is 0 (PORT= would mean "any free port") and Number('0x50') is 80.
    const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`"${raw}" is not a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

function port(raw: string): number {
  return int(0, 65535)(raw);
}

/** A port where 0 means off. */
function optionalPort(raw: string): number | null {
  const n = port(raw);
  return n === 0 ? null : n;
}

function seconds(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const n = Number(raw.trim());
    if (!Number.isFinite(n) || n < min || n > max || raw.trim() === '') {
      throw new Error(`"${raw}" is not a number of seconds from ${min} to ${max}`);
    }
    return Math.round(n * 1000);
  };
}

function oneOf<const T extends readonly string[]>(values: T): (raw: string) => T[number] {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    if (!values.includes(v)) throw new Error(`"${raw}" is not one of ${values.join(', ')}`);
    return v;
  };
}

function urls(schemes: readonly string[]): (raw: string) => string[] {
  return (raw) => {
    const list = raw
      .split(/[,\s]+/)
      .map((u) => u.trim())
      .filter((u) => u !== '');
    for (const u of list) {
      if (!schemes.some((s) => u.startsWith(s))) {
        throw new Error(`"${u}" must start with ${schemes.join(' or ')}`);
      }
    }
    return list;
  };
}
