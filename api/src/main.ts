// The API server's entry point: configuration, migrations, then HTTP until SIGTERM.
//   node api/src/main.ts
import { ConfigError } from '../../packages/platform/src/config.ts';
import { parseApiConfig } from './config.ts';
import { makeLogger } from '../../packages/platform/src/logger.ts';
import { startApiServer } from './server.ts';

const log = makeLogger('claude-operator-api');

async function main(): Promise<void> {
  let config;
  try {
    config = parseApiConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      log.fatal(error.message);
      process.exit(2);
    }
    throw error;
  }
  log.level = config.LOG_LEVEL;
  const api = await startApiServer({ config, log });
  log.info({ url: api.url }, 'API server listening');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    api.close().then(() => process.exit(0), (error: unknown) => {
      log.error({ err: String(error) }, 'unclean stop');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  log.fatal({ err: error instanceof Error ? error.stack : String(error) }, 'API server failed to start');
  process.exit(1);
});
