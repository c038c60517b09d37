import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Outbound, SharedBody } from '../hub/Session.js';

/**
 * Frame once, send many. `ws.send(text)` measures, encodes and frames the text again for every
 * socket it goes to; a room message to a thousand members did that a thousand times. Here an
 * Outbound is encoded into one complete WebSocket text frame (header and UTF-8 payload in a
 * single buffer) the first time it is delivered, and every recipient's socket gets that same
 * buffer in one write.
 *
 * Writing to the socket beneath `ws` is safe only while ws itself has nothing queued for it and
 * is not in the middle of a message: no permessage-deflate (compressed frames are built per
 * socket and may be queued behind a deflate), no fragmented message, an empty sender queue. ws
 * checks the same state before it writes (Sender#send: `_state !== DEFAULT` → enqueue), so
 * when it holds, a direct write lands exactly where ws's own write would have. Otherwise, or if a
 * future ws changes these internals, we fall back to `ws.send`. test/unit/frames.test.ts checks
 * both paths against a real ws client, so a ws upgrade that breaks the assumption fails there.
 */

/** The parts of ws's internals (ws 8) this relies on. */
interface WsInternals {
  _socket?: Socket | null;
  _extensions?: Record<string, unknown>;
  _sender?: { _state?: unknown; _queue?: unknown[]; _firstFragment?: unknown } | null;
}

/** Sender's idle state in ws 8 (lib/sender.js: DEFAULT = 0). */
const SENDER_IDLE = 0;

const frames = new WeakMap<Outbound, Buffer>();

/** An unmasked, final text frame carrying `text` (RFC 6455 §5.2), header and payload in one buffer. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN + opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, headerLength, 'utf8');
  return frame;
}

/** The complete frame for `out`, built on first use and shared by every recipient. */
export function frameOf(out: Outbound): Buffer {
  let frame = frames.get(out);
  if (frame === undefined) {
    frame = textFrame(out.json);
    frames.set(out, frame);
  }
  return frame;
}

/** Whether a pre-built frame may go straight to the socket under `ws` right now. */
export function canWriteFrame(ws: WebSocket): boolean {
  const internals = ws as unknown as WsInternals;
  const socket = internals._socket;
  const sender = internals._sender;
  return (
    socket != null &&
    socket.writable &&
    sender != null &&
    sender._state === SENDER_IDLE &&
    sender._firstFragment === true &&
    Array.isArray(sender._queue) &&
    sender._queue.length === 0 &&
    internals._extensions !== undefined &&
    Object.keys(internals._extensions).length === 0
  );
}

/**
 * The frame of an Outbound with a shared body, as the bytes before and after that body: the body
 * itself (kilobytes, the same for thousands of recipients) is written as is, never copied.
 */
export function framePartsOf(out: Outbound & { parts: SharedBody }): [Buffer, Buffer] {
  const { head, bodyBytes, tail } = out.parts;
  const headBytes = Buffer.byteLength(head, 'utf8');
  const length = headBytes + bodyBytes.length + Buffer.byteLength(tail, 'utf8');
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const before = Buffer.allocUnsafe(headerLength + headBytes);
  before[0] = 0x81;
  if (length < 126) {
    before[1] = length;
  } else if (length < 65536) {
    before[1] = 126;
    before.writeUInt16BE(length, 2);
  } else {
    before[1] = 127;
    before.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    before.writeUInt32BE(length >>> 0, 6);
  }
  before.write(head, headerLength, 'utf8');
  return [before, Buffer.from(tail, 'utf8')];
}

/** Sends `out` to `ws` unless the socket is closing; never throws. */
export function sendOutbound(ws: WebSocket, out: Outbound): void {
  if (ws.readyState !== ws.OPEN) return;
  if (canWriteFrame(ws)) {
    const socket = (ws as unknown as WsInternals)._socket!;
    if (out.parts) {
      const [before, after] = framePartsOf(out as Outbound & { parts: SharedBody });
      // One synchronous run of writes: nothing can come between them, and cork makes them one writev.
      socket.cork();
      socket.write(before);
      socket.write(out.parts.bodyBytes);
      socket.write(after);
      socket.uncork();
    } else {
      socket.write(frameOf(out));
    }
  } else {
    ws.send(out.json);
  }
}
