/**
 * Runtime validation of inbound frames. Every frame is `unknown` until one of these accepts it.
 */
import * as v from 'valibot';
import {
  type ClientMessage,
  type ClientMessageType,
  clientSchemas,
  ErrorCode,
  REF_MAX,
  type ServerMessage,
  type ServerMessageType,
} from './protocol.js';

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

export interface FrameError {
  code: ErrorCode;
  message: string;
  /** The frame's `ref` when it could be read, so the client can match the error to its request. */
  ref: string | null;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function hasOwn<K extends string>(o: object, key: K): o is Record<K, unknown> {
  return Object.prototype.hasOwnProperty.call(o, key);
}

function readRef(frame: Record<string, unknown>): string | null {
  const ref = frame.ref;
  return typeof ref === 'string' && ref.length <= REF_MAX ? ref : null;
}

/** Parses JSON text into an object, or says why it is not one. */
export function parseJsonObject(text: string): Result<Record<string, unknown>, FrameError> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return fail(ErrorCode.badJson, 'frame is not valid JSON', null);
  }
  if (!isRecord(data)) return fail(ErrorCode.badJson, 'frame must be a JSON object', null);
  return { ok: true, value: data };
}

function fail<T>(code: ErrorCode, message: string, ref: string | null): Result<T, FrameError> {
  return { ok: false, error: { code, message, ref } };
}

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0];
  if (!first) return 'invalid frame';
  const path = v.getDotPath(first);
  const what = first.expected !== null && first.kind === 'schema' && first.received === 'undefined'
    ? 'is required'
    : first.message;
  return path ? `${path}: ${what}` : what;
}

/** Validates a decoded client frame against the schema of its `type`. */
export function validateClientMessage(frame: unknown): Result<ClientMessage, FrameError> {
  if (!isRecord(frame)) return fail(ErrorCode.badJson, 'frame must be a JSON object', null);
  const ref = readRef(frame);
  const type = frame.type;
  if (typeof type !== 'string') return fail(ErrorCode.unknownType, 'frame has no type', ref);
  if (!hasOwn(clientSchemas, type)) {
    return fail(ErrorCode.unknownType, `unknown type "${type.slice(0, 40)}"`, ref);
  }
  const schema = clientSchemas[type as ClientMessageType];
  const parsed = v.safeParse(schema, frame);
  if (!parsed.success) return fail(ErrorCode.badFrame, describeIssues(parsed.issues), ref);
  return { ok: true, value: parsed.output };
}

/** Parses and validates one text frame from a client. */
export function parseClientMessage(text: string): Result<ClientMessage, FrameError> {
  const json = parseJsonObject(text);
  if (!json.ok) return json;
  return validateClientMessage(json.value);
}

const serverTypes: ReadonlySet<ServerMessageType> = new Set<ServerMessageType>([
  'welcome',
  'iceServers',
  'roomJoined',
  'roomLeft',
  'members',
  'memberPage',
  'ack',
  'message',
  'history',
  'callRinging',
  'callIncoming',
  'callAccepted',
  'callEnded',
  'signal',
  'callMedia',
  'roomCall',
  'pong',
  'error',
]);

/**
 * Parses a frame from the server. The server is trusted to send well-formed frames, so this checks
 * the envelope (a JSON object with a known type) and leaves the fields to the types.
 */
export function parseServerMessage(text: string): Result<ServerMessage, FrameError> {
  const json = parseJsonObject(text);
  if (!json.ok) return json;
  const type = json.value.type;
  if (typeof type !== 'string' || !serverTypes.has(type as ServerMessageType)) {
    return fail(ErrorCode.unknownType, `unknown server message type "${String(type)}"`, null);
  }
  return { ok: true, value: json.value as unknown as ServerMessage };
}
