import { build } from 'vite';

/** Builds the web app once for every browser test. */
export default async function setup(): Promise<void> {
  await build({ configFile: 'vite.config.ts', logLevel: 'warn' });
}
