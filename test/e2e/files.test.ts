import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, startCall, useBrowserAndServer } from './harness.js';

const MB = 1000 * 1000;
const e2e = useBrowserAndServer();
let dir: string;
/** 100 MB of random bytes (incompressible, no repeating pattern that could hide a misplaced chunk). */
let big: string;
let bigSha: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parley-files-'));
  big = join(dir, 'big.bin');
  const data = randomBytes(100 * MB);
  writeFileSync(big, data);
  bigSha = createHash('sha256').update(data).digest('hex');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** alice and bob in a voice call (no video to encode: the CPU goes to the transfer). */
async function inCall(): Promise<[Client, Client]> {
  const [a, b] = await e2e.pair();
  await startCall(a, b, { media: 'audio' });
  return [a, b];
}

function transfer(c: Client) {
  return c.page.getByTestId('transfer').last();
}

async function offer(a: Client, file: string | { name: string; mimeType: string; buffer: Buffer }): Promise<void> {
  await expect.poll(() => a.page.getByTestId('send-file').isEnabled()).toBe(true);
  await a.page.getByTestId('file-input').setInputFiles(file);
}

describe('file transfer', () => {
  it('sends 100 MB peer to peer with progress on both sides; size and SHA-256 match', async () => {
    const [a, b] = await inCall();
    await expect(a.page.getByTestId('files').textContent()).resolves.toContain(
      'Files go straight to bob, only while this call lasts.',
    );
    await offer(a, big);
    await expect.poll(() => transfer(a).textContent()).toContain('Waiting for bob to accept “big.bin” (100 MB)');
    await expect.poll(() => transfer(b).textContent()).toContain('alice wants to send you “big.bin” (100 MB).');
    const started = Date.now();
    await b.page.getByTestId('accept-file').click();

    // Progress on both sides: the bar moves, and speed and time left show once measured.
    for (const c of [a, b]) {
      await expect
        .poll(async () => Number(await transfer(c).getAttribute('data-bytes')), { timeout: 20_000, interval: 50 })
        .toBeGreaterThan(0);
    }
    await expect
      .poll(() => b.page.getByTestId('transfer-progress').textContent().catch(() => ''), { interval: 50 })
      .toMatch(/of 100 MB · [\d.]+ [kMG]B\/s · \d+ (sec|min) left/);
    await b.screenshot('call-file-transfer-desktop');

    const link = b.page.getByTestId('save-file');
    await link.waitFor({ timeout: 90_000 });
    const seconds = (Date.now() - started) / 1000;
    console.log(`100 MB in ${seconds.toFixed(1)} s (${(100 / seconds).toFixed(1)} MB/s)`);
    await expect(transfer(b).textContent()).resolves.toContain('Received “big.bin” (100 MB); the checksum matches.');
    await expect.poll(() => transfer(a).textContent()).toContain('“big.bin” arrived intact.');
    await expect(link.getAttribute('download')).resolves.toBe('big.bin');

    // What the user saves is the file: same size, same SHA-256.
    const [download] = await Promise.all([b.page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe('big.bin');
    const saved = await download.path();
    expect(statSync(saved).size).toBe(100 * MB);
    expect(createHash('sha256').update(readFileSync(saved)).digest('hex')).toBe(bigSha);

    // The received file outlives the call until the panel is closed.
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    await expect(b.page.getByTestId('save-file').count()).resolves.toBe(1);
    await b.page.waitForTimeout(6500); // longer than an ended call normally stays up
    await expect(b.page.getByTestId('save-file').count()).resolves.toBe(1);
    await b.page.getByTestId('dismiss-call').click();
    await expect(b.page.getByTestId('save-file').count()).resolves.toBe(0);
    e2e.watch.assertClean();
  }, 150_000);

  it('declined, cancelled by either side, and connection lost each say so', async () => {
    const [a, b] = await inCall();
    const small = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello '.repeat(1000)) };

    // Declined by the receiver.
    await offer(a, small);
    await b.page.getByTestId('accept-file').waitFor();
    await b.page.getByTestId('decline-file').click();
    await expect.poll(() => transfer(a).textContent()).toContain('bob declined “notes.txt”.');
    await expect(transfer(a).getAttribute('data-failure')).resolves.toBe('declined');
    await expect(b.page.getByTestId('transfer').count()).resolves.toBe(0);

    // Cancelled by the sender before it was accepted.
    await offer(a, small);
    await b.page.getByTestId('accept-file').waitFor();
    await a.page.getByTestId('cancel-file').click();
    await expect.poll(() => transfer(a).textContent()).toContain('You cancelled “notes.txt”.');
    await expect.poll(() => transfer(b).textContent()).toContain('alice cancelled “notes.txt”.');

    // Cancelled by the receiver while the bytes flow.
    await offer(a, big);
    await b.page.getByTestId('accept-file').click();
    await expect
      .poll(async () => Number(await transfer(b).getAttribute('data-bytes')), { interval: 50 })
      .toBeGreaterThan(0);
    await b.page.getByTestId('cancel-file').click();
    await expect.poll(() => transfer(b).textContent()).toContain('You cancelled “big.bin”.');
    await expect.poll(() => transfer(a).textContent()).toContain('bob cancelled “big.bin”.');
    await expect(b.page.getByTestId('save-file').count()).resolves.toBe(0);

    // Connection lost: the sender hangs up mid-transfer.
    await offer(a, big);
    await b.page.getByTestId('accept-file').click();
    await expect
      .poll(async () => Number(await transfer(b).getAttribute('data-bytes')), { interval: 50 })
      .toBeGreaterThan(0);
    await a.page.getByTestId('hangup').click();
    await b.waitForCallState('ended');
    await expect.poll(() => transfer(b).textContent()).toContain('“big.bin” did not finish: the connection was lost.');
    await expect(transfer(b).getAttribute('data-failure')).resolves.toBe('connection');
    e2e.watch.assertClean();
  }, 90_000);

  it('a file that arrives different from what was sent is discarded, and both sides say so', async () => {
    const [a, b] = await inCall();
    // The receiver's hash of what arrived differs from the sender's, as it would if bytes were
    // damaged on the way: flip one bit of every digest the receiving page computes.
    await b.page.evaluate(() => {
      const digest = crypto.subtle.digest.bind(crypto.subtle);
      (window as unknown as { restoreDigest: () => void }).restoreDigest = () => {
        crypto.subtle.digest = digest;
      };
      crypto.subtle.digest = async (algorithm: AlgorithmIdentifier, data: BufferSource) => {
        const bytes = new Uint8Array(await digest(algorithm, data));
        bytes[0] = bytes[0]! ^ 1;
        return bytes.buffer;
      };
    });
    const file = { name: 'report.pdf', mimeType: 'application/pdf', buffer: randomBytes(300_000) };
    await offer(a, file);
    await b.page.getByTestId('accept-file').click();
    await expect.poll(() => transfer(b).getAttribute('data-failure')).toBe('checksum');
    await expect(transfer(b).textContent()).resolves.toContain('“report.pdf” arrived damaged (checksum mismatch) and was discarded.');
    await expect.poll(() => transfer(a).getAttribute('data-failure')).toBe('checksum');
    await expect(b.page.getByTestId('save-file').count()).resolves.toBe(0);
    // The call and the channel live on: the next file goes through.
    await b.page.evaluate(() => {
      (window as unknown as { restoreDigest: () => void }).restoreDigest();
    });
    await offer(a, { name: 'ok.txt', mimeType: 'text/plain', buffer: Buffer.from('fine '.repeat(100)) });
    await b.page.getByTestId('accept-file').last().click();
    await expect.poll(() => transfer(b).getAttribute('data-state')).toBe('done');
    await expect(b.page.getByTestId('save-file').count()).resolves.toBe(1);
    e2e.watch.assertClean();
  }, 60_000);
});
