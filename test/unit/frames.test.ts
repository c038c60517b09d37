import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { ServerMessage } from '../../src/protocol/protocol.js';
import { Outbound } from '../../src/server/hub/Session.js';
import {
  canWriteFrame,
  frameOf,
  jsonString,
  sendOutbound,
  textFrame,
  withVerbatimData,
} from '../../src/server/transport/frames.js';

/** A ws server and a connected ws client; resolves with the server's side of the socket too. */
async function pair(serverOptions: { perMessageDeflate?: boolean } = {}, clientDeflate = false) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...serverOptions });
  await new Promise((r) => wss.once('listening', r));
  const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
    perMessageDeflate: clientDeflate,
  });
  const received: string[] = [];
  client.on('message', (data, isBinary) => {
    expect(isBinary).toBe(false);
    received.push((data as Buffer).toString('utf8'));
  });
  await new Promise((r) => client.once('open', r));
  const ws = await serverSide;
  cleanups.push(async () => {
    client.terminate();
    await new Promise((r) => {
      wss.close(r);
    });
  });
  return { ws, client, received };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

function pong(ts: number): Outbound {
  return new Outbound({ type: 'pong', ts, ref: null } satisfies ServerMessage);
}

describe('pre-framed sends', () => {
  it('sends a shared body between per-message head and tail intact, at every size', async () => {
    const { ws, received } = await pair();
    const expected: string[] = [];
    for (const size of [0, 50, 126, 65_000, 70_000]) {
      const body = JSON.stringify('é'.repeat(size));
      const bodyBytes = Buffer.from(body, 'utf8');
      for (const ref of ['a', 'b']) {
        const msg = { type: 'error', code: 'internal', message: 'é'.repeat(size), ref } as const;
        const out = new Outbound(msg, {
          head: '{"type":"error","code":"internal","message":',
          body,
          bodyBytes,
          tail: `,"ref":"${ref}"}`,
        });
        expect(JSON.parse(out.json)).toEqual(msg);
        sendOutbound(ws, out);
        expected.push(out.json);
        ws.send('between');
        expected.push('between');
      }
    }
    await until(() => received.length === expected.length);
    expect(received).toEqual(expected);
  });

  it('frames text of every length class the way ws frames it', () => {
    for (const text of ['', 'a', 'x'.repeat(125), 'x'.repeat(126), 'é'.repeat(40_000), 'y'.repeat(70_000)]) {
      const frame = textFrame(text);
      const payload = Buffer.from(text, 'utf8');
      expect(frame[0]).toBe(0x81);
      expect(frame.subarray(frame.length - payload.length).equals(payload)).toBe(true);
    }
    expect(textFrame('x'.repeat(125))[1]).toBe(125);
    expect(textFrame('x'.repeat(126)).subarray(1, 4)).toEqual(Buffer.from([126, 0, 126]));
    expect(textFrame('y'.repeat(70_000)).subarray(1, 10)).toEqual(
      Buffer.from([127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]),
    );
  });

  it('frames a relayed signal with its data as the sender wrote it, at every length class', () => {
    // Spacing and key order as a client might send them, and text whose UTF-8 is longer than its
    // JavaScript length, so that each part of the frame lands at its byte offset.
    for (const sdp of ['v=0\r\n', 'é😀'.repeat(20), 'a=x\r\n'.repeat(40), 'ü'.repeat(40_000)]) {
      const data = { kind: 'description' as const, description: { type: 'offer' as const, sdp } };
      const json = `{ "description": {"sdp":${JSON.stringify(sdp)}, "type":"offer"}, "kind":"description" }`;
      const msg: ServerMessage = { type: 'signal', callId: 'c1', from: 'u\u00e9"1', data };
      const text = `{"type":"signal","callId":"c1","from":${JSON.stringify(msg.from)},"data":${json}}`;
      // The data as text, and as the bytes it came in.
      for (const given of [json, Buffer.from(json, 'utf8')]) {
        const frame = withVerbatimData(data, given, () => frameOf(new Outbound(msg)));
        expect(frame.equals(textFrame(text))).toBe(true);
      }
      expect(JSON.parse(text)).toEqual(msg);
      // Outside a relay the same message is serialized as usual.
      expect(frameOf(new Outbound(msg)).equals(textFrame(JSON.stringify(msg)))).toBe(true);
    }
  });

  it('builds one frame per Outbound and shares it', () => {
    const out = pong(1);
    expect(frameOf(out)).toBe(frameOf(out));
  });

  it('delivers pre-framed and ordinary sends intact and in order, at every size', async () => {
    const { ws, received } = await pair();
    expect(canWriteFrame(ws)).toBe(true);
    const expected: string[] = [];
    const sizes = [0, 10, 125, 126, 1000, 65_535, 65_536, 200_000];
    for (const [i, size] of sizes.entries()) {
      const out = new Outbound({
        type: 'error',
        code: 'internal',
        message: 'ü'.repeat(size),
        ref: String(i),
      });
      sendOutbound(ws, out);
      expected.push(out.json);
      // ws's own path, interleaved: order must hold across both.
      ws.send(`plain ${i}`);
      expected.push(`plain ${i}`);
    }
    await until(() => received.length === expected.length);
    expect(received).toEqual(expected);
  });

  it('falls back to ws.send when permessage-deflate is negotiated', async () => {
    const { ws, received } = await pair({ perMessageDeflate: true }, true);
    expect(canWriteFrame(ws)).toBe(false);
    const outs = [pong(1), pong(2), pong(3)];
    for (const out of outs) sendOutbound(ws, out);
    await until(() => received.length === 3);
    expect(received).toEqual(outs.map((o) => o.json));
  });

  it('falls back to ws.send for a relayed signal too, its data as received', async () => {
    const { ws, received } = await pair({ perMessageDeflate: true }, true);
    const data = { kind: 'candidate' as const, candidate: null };
    const json = '{ "candidate": null, "kind": "candidate" }';
    const msg: ServerMessage = { type: 'signal', callId: 'c1', from: 'u1', data };
    for (const given of [json, Buffer.from(json, 'utf8')]) {
      withVerbatimData(data, given, () => {
        sendOutbound(ws, new Outbound(msg));
      });
    }
    await until(() => received.length === 2);
    const text = `{"type":"signal","callId":"c1","from":"u1","data":${json}}`;
    expect(received).toEqual([text, text]);
  });

  it('does nothing once the socket is closing', async () => {
    const { ws, client } = await pair();
    const closed = new Promise((r) => client.once('close', r));
    ws.close(1000, 'bye');
    expect(() => {
      sendOutbound(ws, pong(1));
    }).not.toThrow();
    await closed;
    expect(() => {
      sendOutbound(ws, pong(2));
    }).not.toThrow();
  });
});

describe('masking', () => {
  it('ws masks and unmasks with the native bufferutil add-on, not its JavaScript fallback', async () => {
    // Unmasking every client frame in JavaScript was a tenth of the server's time relaying 1.1 KB
    // signals (docs/PERFORMANCE.md); a missing or unloadable add-on would silently bring it back.
    const require = createRequire(import.meta.url);
    const native = require('bufferutil') as { mask: unknown };
    const fallback = require('bufferutil/fallback') as { mask: unknown };
    expect(native.mask).not.toBe(fallback.mask);
    // A long frame, masked by the client and unmasked by the server, arrives intact.
    const { ws, client } = await pair();
    const text = `${'0123456789abcdef'.repeat(300)}é`;
    const got = new Promise<string>((r) => {
      ws.once('message', (data) => {
        r((data as Buffer).toString('utf8'));
      });
    });
    client.send(text);
    expect(await got).toBe(text);
  });
});

describe('jsonString', () => {
  it('writes what JSON.stringify writes for any string', () => {
    for (const s of ['', 'u3kPz_9-Qa', '"', '\\', 'a"b', '\n', '\u0000', '\u001f', ' ~', '\u007f', 'é', '\ud83d\ude00', '\ud800', '\udc00x']) {
      expect(jsonString(s)).toBe(JSON.stringify(s));
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => jsonString(s) === JSON.stringify(s)),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 30 }), (s) => jsonString(s) === JSON.stringify(s)),
      { numRuns: 5000 },
    );
  });
});
