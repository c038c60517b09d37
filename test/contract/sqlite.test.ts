import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from '../../src/server/store/SqliteStore.js';
import { describeMessageStore } from './messageStore.contract.js';

const root = mkdtempSync(join(tmpdir(), 'parley-contract-'));
let path = '';
let n = 0;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describeMessageStore('SqliteStore', {
  reset() {
    // A folder that does not exist yet: the store creates it.
    path = join(root, String(++n), 'parley.db');
    return Promise.resolve();
  },
  open(options = {}) {
    // 'full', the default: what an acknowledged message is promised in production.
    return Promise.resolve(new SqliteStore({ path, synchronous: 'full', ...options }));
  },
});
