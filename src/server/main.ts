/**
 * Parley's entry point: the only module that reads process.env and argv, and the only one that
 * handles signals. Everything else gets its settings through Config.
 */
import pino from 'pino';
import { buildServer } from './app.js';
import { ConfigError, loadConfig } from './config.js';

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
