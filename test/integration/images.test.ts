/**
 * Shared images: POST /api/images (signed-in users only, size-limited, type read from the bytes),
 * GET /api/images/<id> (safe headers), and chat messages that reference them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageUploadResponse } from '../../src/protocol/http.js';
import type { ChatMessage } from '../../src/protocol/protocol.js';
import { closeAll } from '../helpers/integration.js';
import { jpegHeader, png } from '../helpers/images.js';
import { ParleyClient, startServer, type TestServer } from '../helpers/parley.js';
import { chatUser, type ChatClient } from '../helpers/legacy.js';

describe('images', () => {
  let t: TestServer | null = null;
  const clients: ParleyClient[] = [];
  const legacy: ChatClient[] = [];
  afterEach(async () => {
    closeAll(clients);
    for (const c of legacy.splice(0)) c.ws.close();
    await t?.close();
    t = null;
  });

  const base = () => `http://127.0.0.1:${t!.ports.port}`;
  const signedIn = async (name: string): Promise<{ client: ParleyClient; token: string }> => {
    const client = new ParleyClient(t!.url);
    clients.push(client);
    const welcome = await client.hello(name);
    await client.next('roomJoined', (m) => m.room === 'lobby');
    return { client, token: welcome.token };
  };
  const upload = (body: Buffer | string, token: string | null, type = 'image/jpeg') =>
    fetch(`${base()}/api/images`, {
      method: 'POST',
      headers: { 'Content-Type': type, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });

  it('needs a signed-in session: no token, or an unknown one, is 401', async () => {
    t = await startServer();
    const image = png(2, 2);
    const none = await upload(image, null);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.json()).toMatchObject({ error: 'not_signed_in' });
    expect((await upload(image, 'not-a-token')).status).toBe(401);
    // Refused before the body is read: a large upload without a token is 401, not 413.
    expect((await upload(Buffer.alloc(8 * 1024 * 1024), null)).status).toBe(401);
  });

  it('takes the type from the bytes: a PNG sent as image/jpeg is stored as a PNG; HTML claiming to be a JPEG is refused', async () => {
    t = await startServer();
    const { token } = await signedIn('alice');
    const image = png(3, 2);
    const res = await upload(image, token, 'image/jpeg');
    expect(res.status).toBe(201);
    const stored = (await res.json()) as ImageUploadResponse;
    expect(stored.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(stored).toEqual({ id: stored.id, type: 'image/png', width: 3, height: 2, bytes: image.length });

    const html = '<!doctype html><script>alert(document.cookie)</script>';
    const refused = await upload(html, token, 'image/jpeg');
    expect(refused.status).toBe(415);
    expect(await refused.json()).toMatchObject({ error: 'unsupported_type' });
    // Other types that are not JPEG, PNG or WebP: GIF, SVG, and an empty body.
    expect((await upload(Buffer.from('GIF89a\x01\x00\x01\x00'), token, 'image/gif')).status).toBe(415);
    expect((await upload('<svg xmlns="http://www.w3.org/2000/svg"/>', token, 'image/svg+xml')).status).toBe(415);
    expect((await upload(Buffer.alloc(0), token)).status).toBe(400);
    // A JPEG's size comes from its frame header; the type from its bytes even with a vague Content-Type.
    const jpeg = await upload(jpegHeader(640, 480), token, 'application/octet-stream');
    expect(await jpeg.json()).toMatchObject({ type: 'image/jpeg', width: 640, height: 480 });
  });

  it('refuses an upload over IMAGE_MAX_BYTES with 413', async () => {
    t = await startServer({ imageMaxBytes: 4096 });
    const { token } = await signedIn('alice');
    expect((await upload(jpegHeader(10, 10, 4096), token)).status).toBe(201);
    const over = await upload(jpegHeader(10, 10, 4097), token);
    expect(over.status).toBe(413);
  });

  it('serves an image with its stored type, nosniff, inline, and a CSP that blocks scripts', async () => {
    t = await startServer();
    const { token } = await signedIn('alice');
    const image = png(4, 4);
    const { id } = (await (await upload(image, token, 'image/webp')).json()) as ImageUploadResponse;
    const res = await fetch(`${base()}/api/images/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-disposition')).toBe('inline');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain('sandbox');
    expect(csp).not.toMatch(/script-src/);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(image);
    // Unknown ids and anything that is not an id are 404, without touching other files.
    expect((await fetch(`${base()}/api/images/${'A'.repeat(22)}`)).status).toBe(404);
    expect((await fetch(`${base()}/api/images/..%2F..%2Fparley.db`)).status).toBe(404);
    expect((await fetch(`${base()}/api/images/${id}.json`)).status).toBe(404);
  });

  it('a chat message references an uploaded image: its size is the measured one, history keeps it, text may be empty', async () => {
    t = await startServer({ rateLimit: 1000, rateBurst: 1000 });
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const { id } = (await (await upload(png(5, 3), alice.token)).json()) as ImageUploadResponse;
    const from = bob.client.mark();
    // The client claims another size: the server's measurement wins.
    alice.client.send({ type: 'chat', room: 'lobby', clientId: 'p1', text: '', image: { id, width: 999, height: 999 } });
    await alice.client.next('ack', (m) => m.clientId === 'p1');
    const got = await bob.client.next('message', (m) => m.message.clientId === 'p1', 5000, from);
    expect(got.message).toMatchObject({ text: '', image: { id, width: 5, height: 3 }, room: 'lobby' });

    // A direct message may carry one too, with words.
    alice.client.send({ type: 'dm', to: bob.client.received.find((m) => m.type === 'welcome')!.user.id, clientId: 'p2', text: 'look', image: { id, width: 5, height: 3 } });
    const dm = await bob.client.next('message', (m) => m.message.clientId === 'p2', 5000, from);
    expect(dm.message).toMatchObject({ text: 'look', image: { id, width: 5, height: 3 } });

    // An image that was never uploaded, and a message with neither words nor image, are refused.
    alice.client.send({ type: 'chat', room: 'lobby', clientId: 'p3', text: '', image: { id: 'B'.repeat(22), width: 1, height: 1 }, ref: 'r3' });
    expect(await alice.client.next('error', (m) => m.ref === 'r3')).toMatchObject({ code: 'bad_frame' });
    alice.client.send({ type: 'chat', room: 'lobby', clientId: 'p4', text: '  ', ref: 'r4' });
    expect(await alice.client.next('error', (m) => m.ref === 'r4')).toMatchObject({ code: 'bad_frame' });

    bob.client.send({ type: 'history', room: 'lobby', ref: 'h' });
    const history = await bob.client.next('history', (m) => m.ref === 'h');
    const messages: ChatMessage[] = history.messages;
    expect(messages.map((m) => [m.clientId, m.image ?? null])).toEqual([['p1', { id, width: 5, height: 3 }]]);
  });

  it('legacy chat clients get a photo as "[photo] <url>", escaped as usual', async () => {
    t = await startServer();
    const old = await chatUser(t, 'oldie');
    legacy.push(old);
    const alice = await signedIn('alice');
    const { id } = (await (await upload(png(2, 2), alice.token)).json()) as ImageUploadResponse;
    alice.client.send({ type: 'chat', room: 'lobby', clientId: 'q1', text: '<b>me</b>', image: { id, width: 2, height: 2 } });
    const frame = await old.next('message', (m) => m.name === 'alice');
    expect(frame.text).toBe(`&lt;b&gt;me&lt;/b&gt; [photo] http://127.0.0.1:${t.ports.port}/api/images/${id}`);
    const url = /\[photo\] (\S+)$/.exec(frame.text as string)![1]!;
    expect((await fetch(url)).headers.get('content-type')).toBe('image/png');
  });

  it('limits uploads per user: a burst of 10, then 429', async () => {
    t = await startServer();
    const { token } = await signedIn('alice');
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await upload(png(1, 1), token)).status);
    expect(statuses.slice(0, 10).every((s) => s === 201)).toBe(true);
    expect(statuses[10]).toBe(429);
  });
});
