import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IMAGE_ID_PATTERN } from '../../protocol/protocol.js';
import type { ImageType } from './imageType.js';

/** What is kept beside each image. */
export interface ImageMeta {
  type: ImageType;
  width: number;
  height: number;
  bytes: number;
  /** The user id of the uploader (for logs and a future clean-up). */
  uploader: string;
  ts: number;
}

/**
 * Shared images on disk: `<id>` holds the bytes and `<id>.json` what they are. The id is 16 random
 * bytes (base64url), so it cannot be guessed and never names a path outside the folder. A file is
 * written under a temporary name and renamed, the metadata last: an image exists once its
 * metadata does.
 */
export class ImageStore {
  readonly #dir: string;
  readonly #now: () => number;
  #ready: Promise<void> | null = null;

  constructor(options: { dir: string; now?: () => number }) {
    this.#dir = options.dir;
    this.#now = options.now ?? Date.now;
  }

  async save(data: Uint8Array, info: Omit<ImageMeta, 'bytes' | 'ts'>): Promise<{ id: string; meta: ImageMeta }> {
    this.#ready ??= mkdir(this.#dir, { recursive: true }).then(() => undefined);
    await this.#ready;
    const id = randomBytes(16).toString('base64url');
    const meta: ImageMeta = { ...info, bytes: data.byteLength, ts: this.#now() };
    const file = join(this.#dir, id);
    await writeFile(`${file}.tmp`, data);
    await rename(`${file}.tmp`, file);
    await writeFile(`${file}.json.tmp`, JSON.stringify(meta));
    await rename(`${file}.json.tmp`, `${file}.json`);
    return { id, meta };
  }

  /** The image's metadata, or null when there is no such image (or the id is not one of ours). */
  async meta(id: string): Promise<ImageMeta | null> {
    if (!IMAGE_ID_PATTERN.test(id)) return null;
    try {
      return JSON.parse(await readFile(join(this.#dir, `${id}.json`), 'utf8')) as ImageMeta;
    } catch {
      return null;
    }
  }

  /** The image's bytes; call meta() first to know it exists. */
  open(id: string): ReadStream {
    if (!IMAGE_ID_PATTERN.test(id)) throw new Error('bad image id');
    return createReadStream(join(this.#dir, id));
  }
}
