/**
 * ioredis makes String.prototype a dictionary-mode object in V8 when it loads (RedisBus.ts says
 * why that slows every string method call down). Each case runs in a fresh Node process, since
 * the state is the whole process's, and asks V8 itself (%HasFastProperties) how String.prototype
 * is kept after Parley has been built one way or the other.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const url = (path: string) => JSON.stringify(pathToFileURL(resolve(ROOT, path)).href);

/** Runs `body` (an ES module's text) in a new Node process; resolves to what it wrote. */
function run(body: string): Promise<string> {
  const script = `${body}\nprocess.stdout.write(String(%HasFastProperties(String.prototype)));`;
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) fail(new Error(`${error.message}\n${stderr}`));
        else done(stdout.trim());
      },
    );
  });
}

describe('String.prototype and ioredis', () => {
  it('loading ioredis by itself leaves String.prototype in dictionary mode (what the bus mends)', async () => {
    expect(await run(`await import('ioredis');`)).toBe('false');
  });

  it('a server without REDIS_URL never loads ioredis: String.prototype stays fast', async () => {
    const body = `
      import { mkdtempSync, rmSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const { buildServer } = await import(${url('src/server/app.ts')});
      const { defaults } = await import(${url('src/server/config.ts')});
      const dir = mkdtempSync(join(tmpdir(), 'parley-proto-'));
      const server = buildServer({
        ...defaults, host: '127.0.0.1', port: 0, legacyChatPort: 0, legacyLoginPort: 0,
        dbPath: join(dir, 'parley.db'), imagesDir: join(dir, 'images'), webRoot: join(dir, 'web'),
        logLevel: 'silent',
      });
      await server.listen();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      if (Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((k) => k.includes('ioredis'))) {
        throw new Error('ioredis was loaded');
      }`;
    expect(await run(body)).toBe('true');
  });

  it('a bus loads ioredis and leaves String.prototype fast', async () => {
    const body = `
      const { RedisBus } = await import(${url('src/server/bus/RedisBus.ts')});
      const bus = new RedisBus({ url: 'redis://127.0.0.1:1', instanceId: 'proto', aliveTtlMs: 1000, onError: () => {} });
      await bus.close();`;
    expect(await run(body)).toBe('true');
  });
});
