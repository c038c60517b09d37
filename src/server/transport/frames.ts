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

/** The connection beneath `ws` (ws 8 keeps it as `_socket`); null once it has closed. */
export function socketOf(ws: WebSocket): Socket | null {
  return (ws as unknown as WsInternals)._socket ?? null;
}

/** Sender's idle state in ws 8 (lib/sender.js: DEFAULT = 0). */
const SENDER_IDLE = 0;

const frames = new WeakMap<Outbound, Buffer>();

/**
 * Allocates an unmasked, final text frame (RFC 6455 §5.2) with a payload of `length` bytes and
 * `extra` more bytes of room after the header, and writes its header. Returns the buffer and
 * where the payload starts.
 */
function frameWithHeader(length: number, extra: number): [Buffer, number] {
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + extra);
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
  return [frame, headerLength];
}

/** An unmasked, final text frame carrying `text`, header and payload in one buffer. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const [frame, at] = frameWithHeader(length, length);
  frame.write(text, at, 'utf8');
  return frame;
}

/**
 * A relayed signal's text frame, `head + data + "}"`, each part put straight into the frame: the
 * kilobyte-long data (a part of the received frame) is never joined into a new string first,
 * which for a relayed offer would copy it once more and leave it behind as garbage. Data given
 * as bytes is copied as is: measuring and encoding a slice of a string costs several times more
 * (for a 1.1 KB offer on the bench machine, 2.0 µs against 0.5 for the whole frame).
 */
function signalFrameOfParts(head: string, data: string | Buffer): Buffer {
  const headBytes = Buffer.byteLength(head, 'utf8');
  const dataBytes = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
  const length = headBytes + dataBytes + 1;
  const [frame, at] = frameWithHeader(length, length);
  frame.write(head, at, 'utf8');
  if (typeof data === 'string') frame.write(data, at + headBytes, 'utf8');
  else data.copy(frame, at + headBytes);
  frame[at + length - 1] = 0x7d; // the closing brace of the message
  return frame;
}

/**
 * The signal being relayed right now and the JSON text of its `data` as the sender wrote it
 * (verbatim.ts), as text or as its UTF-8 bytes, set by the connection around the synchronous
 * relay and cleared after it.
 */
let relayed: { data: object; json: string | Buffer } | null = null;

/**
 * Runs `relay` (which delivers at once) with `json` standing for `data` in any signal it frames.
 * Anything framed later, e.g. buffered for a peer that is reconnecting, is serialized as usual.
 */
export function withVerbatimData<T>(data: object, json: string | Buffer, relay: () => T): T {
  relayed = { data, json };
  try {
    return relay();
  } finally {
    relayed = null;
  }
}

/**
 * A signal message with exactly the fields Hub.signal writes, in its order, so that the text built
 * in jsonOf equals JSON.stringify of it. A message with any other field is serialized as usual.
 */
function isPlainSignal(msg: object): boolean {
  const keys = Object.keys(msg);
  return keys.length === 4 && keys[0] === 'type' && keys[1] === 'callId' && keys[2] === 'from' && keys[3] === 'data';
}

/**
 * JSON.stringify of a string. Ids, the strings a relayed signal's head holds, are printable ASCII
 * with nothing to escape, and checking that in a loop costs a fraction of a call into
 * JSON.stringify (two of them were 2% of the server's time relaying signals at 20k msg/s).
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A quote, a backslash, a control character or anything beyond ASCII: let JSON say it.
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/**
 * For the signal being relayed, the text JSON.stringify would write before its data, and the data
 * as the sender wrote it; null for any other message.
 */
function relayedParts(out: Outbound): [head: string, data: string | Buffer] | null {
  const msg = out.msg;
  if (relayed === null || msg.type !== 'signal' || msg.data !== relayed.data || out.parts || !isPlainSignal(msg)) return null;
  const head = `{"type":"signal","callId":${jsonString(msg.callId)},"from":${jsonString(msg.from)},"data":`;
  return [head, relayed.json];
}

/** The JSON text of `out`: its signal data spliced in as received when there is such text. */
function jsonOf(out: Outbound): string {
  const parts = relayedParts(out);
  if (parts === null) return out.json;
  const [head, data] = parts;
  return `${head}${typeof data === 'string' ? data : data.toString('utf8')}}`;
}

/** The complete frame for `out`, built on first use and shared by every recipient. */
export function frameOf(out: Outbound): Buffer {
  // A signal goes to one peer: caching its frame would only cost a WeakMap entry.
  if (out.msg.type === 'signal') {
    const parts = relayedParts(out);
    return parts ? signalFrameOfParts(parts[0], parts[1]) : textFrame(out.json);
  }
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
  const socket = socketOf(ws);
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
  const [before, at] = frameWithHeader(length, headBytes);
  before.write(head, at, 'utf8');
  return [before, Buffer.from(tail, 'utf8')];
}

/**
 * Sockets corked by `coalesce` in this turn of the event loop, uncorked together once it is over.
 * A burst of chat messages committed together reaches each member as consecutive writes to the
 * same socket; corked, they leave as one writev (one syscall, one TCP segment when they fit)
 * instead of one each, which also spares the receiver as many reads. Nothing waits for a timer:
 * the sockets are uncorked on process.nextTick, when the current callback and its promise
 * reactions have run.
 */
let corked: Socket[] = [];

function uncorkAll(): void {
  const sockets = corked;
  corked = [];
  for (const socket of sockets) socket.uncork();
}

/** Corks `socket` until the end of this turn of the event loop, unless it already is. */
function coalesce(socket: Socket): void {
  if (socket.writableCorked > 0) return;
  socket.cork();
  if (corked.push(socket) === 1) process.nextTick(uncorkAll);
}

/** Sends `out` to `ws` unless the socket is closing; never throws. */
export function sendOutbound(ws: WebSocket, out: Outbound): void {
  if (ws.readyState !== ws.OPEN) return;
  if (canWriteFrame(ws)) {
    const socket = socketOf(ws)!;
    coalesce(socket);
    if (out.parts) {
      const [before, after] = framePartsOf(out as Outbound & { parts: SharedBody });
      // One synchronous run of writes: nothing can come between them, and the cork makes them one writev.
      socket.write(before);
      socket.write(out.parts.bodyBytes);
      socket.write(after);
    } else {
      socket.write(frameOf(out));
    }
  } else {
    ws.send(jsonOf(out));
  }
}
