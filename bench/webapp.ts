/** 6. The JavaScript a first visit loads: the entry script and its modulepreloads, gzipped. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface WebAppSize {
  files: string[];
  rawBytes: number;
  gzipBytes: number;
}

export function webAppSize(webRoot: string): WebAppSize {
  const html = readFileSync(join(webRoot, 'index.html'), 'utf8');
  const files = new Set<string>();
  for (const m of html.matchAll(/<script[^>]*\ssrc="([^"]+\.js)"/g)) files.add(m[1]!);
  for (const m of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+\.js)"/g)) files.add(m[1]!);
  let rawBytes = 0;
  let gzipBytes = 0;
  for (const file of files) {
    const body = readFileSync(join(webRoot, file.replace(/^\//, '')));
    rawBytes += body.length;
    // Level 6 is what reverse proxies and @fastify/compress use by default.
    gzipBytes += gzipSync(body, { level: 6 }).length;
  }
  return { files: [...files], rawBytes, gzipBytes };
}
