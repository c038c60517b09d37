/**
 * Parley's entry point: the only module that reads process.env and argv, and the only one that
 * handles signals. Everything else gets its settings through Config.
 */
import { setFlagsFromString } from 'node:v8';
import pino from 'pino';
import { buildServer } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/**
 * No allocation-site pretenuring. V8 watches where objects are allocated, and a site whose objects
 * nearly all survive their first young-generation collection gets its later objects allocated
 * straight in the old generation. A sign-in storm is such a time for the sites of per-message
 * objects in ws and Node's streams: every connection keeps its last message's objects for as
 * long as it stays quiet. Once those sites are on the busy path of relaying, their objects are
 * born old and keep the young objects they point to (the received buffers, the text) alive
 * through every young collection until a full one: with 120 or more signed-in users, ~0.6-1 MB
 * survived each young collection under load instead of ~10 KB, and a full collection ran every
 * 0.3-0.6 s (docs/PERFORMANCE.md, "Pretenuring"). V8 reads the flag when it decides, so setting it
 * here, before any connection, takes effect.
 */
setFlagsFromString('--no-allocation-site-pretenuring');

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`parley: bad configuration: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  // JSON logs for log collectors; readable lines when a person watches a terminal.
  const logger = pino({
    level: config.logLevel,
    ...(process.stdout.isTTY
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } }
      : {}),
  });
  const server = buildServer(config, { logger });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server
      .close()
      .then(() => {
        logger.info('stopped');
        logger.flush();
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
  try {
    const { port } = await server.listen();
    const scheme = config.tlsCert ? 'https' : 'http';
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    logger.info(`Parley is ready on ${scheme}://${host}:${port}`);
  } catch (error) {
    logger.fatal({ err: error }, 'could not start');
    await server.close().catch(() => undefined);
    process.exit(1);
  }
}

void main();
