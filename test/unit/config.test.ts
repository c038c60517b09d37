import { describe, expect, it } from 'vitest';
import { type Config, ConfigError, defaults, loadConfig } from '../../src/server/config.js';

/** The ConfigError thrown by loadConfig, so a test can look at its message. */
function configError(env: Record<string, string | undefined>, argv: string[] = []): ConfigError {
  try {
    loadConfig(env, argv);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify({ env, argv })}`);
}

describe('loadConfig', () => {
  it('returns the defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual(defaults);
    expect(loadConfig({}, [])).toEqual(defaults);
  });

  it('documents the zero-configuration defaults', () => {
    expect(defaults).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      legacyChatPort: 6503,
      legacyLoginPort: 9090,
      dbPath: './data/parley.db',
      dbSync: 'full',
      databaseUrl: null,
      imagesDir: './data/images',
      imageMaxBytes: 5 * 1024 * 1024,
      stunUrls: [],
      turnUrls: [],
      turnSecret: null,
      tlsCert: null,
      tlsKey: null,
      logLevel: 'info',
    } satisfies Partial<Config>);
  });

  it('ignores unrelated variables and undefined values', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root', PORT: undefined })).toEqual(defaults);
  });

  // One row per variable: the env value and the Config it must produce.
  it.each<[string, string, Partial<Config>]>([
    ['HOST', '127.0.0.1', { host: '127.0.0.1' }],
    ['HOST', '  ::1  ', { host: '::1' }],
    ['PORT', '9000', { port: 9000 }],
    ['PORT', '0', { port: 0 }],
    ['PORT', '65535', { port: 65535 }],
    ['LEGACY_CHAT_PORT', '7000', { legacyChatPort: 7000 }],
    ['LEGACY_CHAT_PORT', '0', { legacyChatPort: null }],
    ['LEGACY_LOGIN_PORT', '7001', { legacyLoginPort: 7001 }],
    ['LEGACY_LOGIN_PORT', '0', { legacyLoginPort: null }],
    ['DB_PATH', '/var/lib/parley/chat.db', { dbPath: '/var/lib/parley/chat.db' }],
    ['DB_PATH', ':memory:', { dbPath: ':memory:' }],
    ['DB_SYNC', 'normal', { dbSync: 'normal' }],
    ['IMAGES_DIR', '/var/lib/parley/images', { imagesDir: '/var/lib/parley/images' }],
    ['IMAGE_MAX_BYTES', '1048576', { imageMaxBytes: 1048576 }],
    ['DB_SYNC', 'FULL', { dbSync: 'full' }],
    [
      'DATABASE_URL',
      'postgres://parley:s3cret@db.example:5432/parley',
      { databaseUrl: 'postgres://parley:s3cret@db.example:5432/parley' },
    ],
    ['DATABASE_URL', ' postgresql://db/parley ', { databaseUrl: 'postgresql://db/parley' }],
    ['DATABASE_URL', '', { databaseUrl: null }],
    ['GRACE_SECONDS', '10', { graceMs: 10_000 }],
    ['GRACE_SECONDS', '0', { graceMs: 0 }],
    ['GRACE_SECONDS', '1.5', { graceMs: 1500 }],
    ['GRACE_SECONDS', '3600', { graceMs: 3_600_000 }],
    ['CALL_TIMEOUT_SECONDS', '45', { callTimeoutMs: 45_000 }],
    ['CALL_TIMEOUT_SECONDS', '1', { callTimeoutMs: 1000 }],
    ['MAX_FRAME_BYTES', '1024', { maxFrameBytes: 1024 }],
    ['MAX_FRAME_BYTES', String(16 * 1024 * 1024), { maxFrameBytes: 16 * 1024 * 1024 }],
    ['RATE_LIMIT', '5', { rateLimit: 5 }],
    ['RATE_BURST', '10', { rateBurst: 10 }],
    ['STUN_URLS', 'stun:stun.example.org:3478', { stunUrls: ['stun:stun.example.org:3478'] }],
    [
      'STUN_URLS',
      'stun:a.example, stuns:b.example  stun:c.example',
      {
        stunUrls: ['stun:a.example', 'stuns:b.example', 'stun:c.example'],
      },
    ],
    ['STUN_URLS', '', { stunUrls: [] }],
    ['TURN_TTL_SECONDS', '600', { turnTtlSeconds: 600 }],
    ['USERLIST_COALESCE_MS', '0', { userlistCoalesceMs: 0 }],
    ['USERLIST_COALESCE_MS', '250', { userlistCoalesceMs: 250 }],
    ['ROOM_FULL_PRESENCE_MAX', '2000', { roomFullPresenceMax: 2000 }],
    ['LARGE_ROOM_DELTA_MS', '0', { largeRoomDeltaMs: 0 }],
    ['LOG_LEVEL', 'debug', { logLevel: 'debug' }],
    ['LOG_LEVEL', 'Silent', { logLevel: 'silent' }],
    ['WEB_ROOT', '/srv/parley', { webRoot: '/srv/parley' }],
  ])('%s=%j', (name, value, expected) => {
    expect(loadConfig({ [name]: value })).toEqual({ ...defaults, ...expected });
  });

  it('reads TURN_URLS and TURN_SECRET together', () => {
    const config = loadConfig({
      TURN_URLS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349',
      TURN_SECRET: ' s3cret ',
    });
    expect(config.turnUrls).toEqual([
      'turn:turn.example.org:3478?transport=udp',
      'turns:turn.example.org:5349',
    ]);
    expect(config.turnSecret).toBe('s3cret');
  });

  it('reads TLS_CERT and TLS_KEY together', () => {
    const config = loadConfig({ TLS_CERT: '/etc/parley/cert.pem', TLS_KEY: '/etc/parley/key.pem' });
    expect(config.tlsCert).toBe('/etc/parley/cert.pem');
    expect(config.tlsKey).toBe('/etc/parley/key.pem');
  });

  it('treats empty optional strings as unset', () => {
    expect(loadConfig({ TLS_CERT: '', TLS_KEY: ' ', TURN_SECRET: '' })).toEqual(defaults);
  });

  describe('flags', () => {
    it('reads every setting from its flag', () => {
      // prettier-ignore
      const config = loadConfig({}, [
        '--host', '127.0.0.1',
        '--port', '9001',
        '--legacy-chat-port', '0',
        '--legacy-login-port=7002',
        '--db-path', '/tmp/x.db',
        '--db-sync', 'normal',
        '--images-dir', '/srv/images',
        '--image-max-bytes', '2048',
        '--database-url', 'postgres://db/parley',
        '--redis-url', 'redis://cache:6379',
        '--bus-heartbeat-ms', '500',
        '--bus-dead-after-ms', '1500',
        '--grace-seconds', '5',
        '--call-timeout-seconds', '20',
        '--max-frame-bytes', '2048',
        '--rate-limit', '7',
        '--rate-burst', '9',
        '--stun-urls', 'stun:s.example',
        '--turn-urls', 'turn:t.example',
        '--turn-secret', 'sec',
        '--turn-ttl-seconds', '120',
        '--tls-cert', 'c.pem',
        '--tls-key', 'k.pem',
        '--userlist-coalesce-ms', '10',
        '--room-full-presence-max', '50',
        '--large-room-delta-ms', '100',
        '--log-level', 'warn',
        '--web-root', 'web',
      ]);
      expect(config).toEqual({
        host: '127.0.0.1',
        port: 9001,
        legacyChatPort: null,
        legacyLoginPort: 7002,
        dbPath: '/tmp/x.db',
        dbSync: 'normal',
        databaseUrl: 'postgres://db/parley',
        redisUrl: 'redis://cache:6379',
        busHeartbeatMs: 500,
        busDeadAfterMs: 1500,
        imagesDir: '/srv/images',
        imageMaxBytes: 2048,
        graceMs: 5000,
        callTimeoutMs: 20_000,
        maxFrameBytes: 2048,
        rateLimit: 7,
        rateBurst: 9,
        stunUrls: ['stun:s.example'],
        turnUrls: ['turn:t.example'],
        turnSecret: 'sec',
        turnTtlSeconds: 120,
        tlsCert: 'c.pem',
        tlsKey: 'k.pem',
        userlistCoalesceMs: 10,
        roomFullPresenceMax: 50,
        largeRoomDeltaMs: 100,
        logLevel: 'warn',
        webRoot: 'web',
      } satisfies Config);
    });

    it('win over the environment', () => {
      const config = loadConfig({ PORT: '9000', HOST: '10.0.0.1', LEGACY_CHAT_PORT: '7000' }, [
        '--port',
        '9100',
        '--legacy-chat-port=0',
      ]);
      expect(config.port).toBe(9100);
      expect(config.legacyChatPort).toBeNull();
      expect(config.host).toBe('10.0.0.1');
    });

    it('a good flag does not rescue a bad env var for another setting', () => {
      expect(configError({ RATE_LIMIT: 'lots' }, ['--port', '1']).message).toMatch(/^RATE_LIMIT/);
    });

    it('a good flag replaces a bad env var for the same setting', () => {
      expect(loadConfig({ PORT: 'nope' }, ['--port', '1']).port).toBe(1);
    });

    it.each([
      ['an unknown flag', ['--colour', 'blue']],
      ['a positional argument', ['serve']],
      ['a flag without its value', ['--port']],
    ])('rejects %s', (_label, argv) => {
      configError({}, argv);
    });

    it('names the variable and the flag when a flag value is bad', () => {
      const error = configError({}, ['--port', '99999']);
      expect(error.message).toContain('PORT (--port)');
      expect(error.message).toContain('99999');
    });
  });

  describe('bad values throw a ConfigError naming the variable', () => {
    it.each<[string, string]>([
      ['HOST', ''],
      ['HOST', '   '],
      ['PORT', 'http'],
      ['PORT', '-1'],
      ['PORT', '65536'],
      ['PORT', '80.5'],
      ['PORT', ''],
      ['PORT', '  '],
      ['PORT', '0x50'],
      ['PORT', '8e3'],
      ['LEGACY_CHAT_PORT', 'off'],
      ['LEGACY_CHAT_PORT', '70000'],
      ['LEGACY_CHAT_PORT', ''],
      ['LEGACY_LOGIN_PORT', '-9090'],
      ['DB_PATH', ''],
      ['DB_SYNC', 'off'],
      ['IMAGES_DIR', ''],
      ['IMAGE_MAX_BYTES', '1023'],
      ['IMAGE_MAX_BYTES', '5MB'],
      ['DB_SYNC', ''],
      ['DATABASE_URL', 'mysql://db/parley'],
      ['DATABASE_URL', 'db.example:5432'],
      ['GRACE_SECONDS', '-1'],
      ['GRACE_SECONDS', '3601'],
      ['GRACE_SECONDS', 'soon'],
      ['GRACE_SECONDS', ''],
      ['CALL_TIMEOUT_SECONDS', '0'],
      ['CALL_TIMEOUT_SECONDS', '601'],
      ['MAX_FRAME_BYTES', '1023'],
      ['MAX_FRAME_BYTES', String(16 * 1024 * 1024 + 1)],
      ['MAX_FRAME_BYTES', ''],
      ['RATE_LIMIT', '0'],
      ['RATE_LIMIT', '2.5'],
      ['RATE_BURST', '0'],
      ['RATE_BURST', 'Infinity'],
      ['STUN_URLS', 'http://stun.example'],
      ['STUN_URLS', 'stun:ok.example,turn:wrong.example'],
      ['TURN_URLS', 'stun:wrong.example'],
      ['TURN_TTL_SECONDS', '59'],
      ['TURN_TTL_SECONDS', String(7 * 24 * 3600 + 1)],
      ['USERLIST_COALESCE_MS', '-5'],
      ['USERLIST_COALESCE_MS', '10001'],
      ['USERLIST_COALESCE_MS', ''],
      ['ROOM_FULL_PRESENCE_MAX', '0'],
      ['LARGE_ROOM_DELTA_MS', '10001'],
      ['LOG_LEVEL', 'verbose'],
      ['WEB_ROOT', ''],
    ])('%s=%j', (name, value) => {
      const error = configError({ [name]: value });
      expect(error.name).toBe('ConfigError');
      expect(error.message.startsWith(`${name} (--`)).toBe(true);
    });
  });

  it('does not echo a bad DATABASE_URL, which may hold a password', () => {
    const error = configError({ DATABASE_URL: 'mysql://parley:s3cret@db/parley' });
    expect(error.message).toMatch(/^DATABASE_URL \(--database-url\)/);
    expect(error.message).not.toContain('s3cret');
  });

  describe('settings that must come together', () => {
    it('TLS_CERT without TLS_KEY throws', () => {
      expect(configError({ TLS_CERT: 'cert.pem' }).message).toMatch(/TLS_CERT and TLS_KEY/);
    });

    it('TLS_KEY without TLS_CERT throws', () => {
      expect(configError({ TLS_KEY: 'key.pem' }).message).toMatch(/TLS_CERT and TLS_KEY/);
    });

    it('TURN_SECRET without TURN_URLS throws', () => {
      expect(configError({ TURN_SECRET: 'sec' }).message).toMatch(/TURN_SECRET and TURN_URLS/);
    });

    it('TURN_URLS without TURN_SECRET throws', () => {
      expect(configError({ TURN_URLS: 'turn:t.example' }).message).toMatch(
        /TURN_SECRET and TURN_URLS/,
      );
    });

    it('REDIS_URL without DATABASE_URL throws: instances must share one history', () => {
      expect(configError({ REDIS_URL: 'redis://127.0.0.1:6379' }).message).toMatch(/REDIS_URL needs DATABASE_URL/);
    });

    it('REDIS_URL must be a redis:// or rediss:// URL', () => {
      expect(configError({ REDIS_URL: 'http://x', DATABASE_URL: 'postgres://db/p' }).message).toMatch(/redis:\/\//);
    });

    it('a dead-after window shorter than two heartbeats throws', () => {
      expect(configError({ BUS_HEARTBEAT_MS: '1000', BUS_DEAD_AFTER_MS: '1500' }).message).toMatch(/BUS_DEAD_AFTER_MS/);
    });

    it('the pair may be split between env and flags', () => {
      const config = loadConfig({ TURN_SECRET: 'sec' }, ['--turn-urls', 'turns:t.example:5349']);
      expect(config.turnUrls).toEqual(['turns:t.example:5349']);
      expect(config.turnSecret).toBe('sec');
    });
  });
});
