/**
 * Runtime validation of inbound frames. Every frame is `unknown` until one of these accepts it.
 */
import * as v from 'valibot';
import {
  CANDIDATE_MAX,
  type ClientMessage,
  type ClientMessageType,
  clientSchemas,
  ErrorCode,
  ID_MAX,
  REF_MAX,
  SDP_MAX,
  SDP_MID_MAX,
  type ServerMessage,
  type ServerMessageType,
  type SignalData,
  UFRAG_MAX,
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

// -------------------------------------------------------------------------------------------------
// Signals without valibot
//
// A call's offers, answers and candidates are most of what a busy server relays, and valibot's
// general machinery took 5.7% of the server's time relaying offers at 20k frames a second on the
// bench machine, 2.8 µs a frame (docs/PERFORMANCE.md). So a signal frame of the usual
// shape is checked here by hand: exactly the keys clientSchemas.signal and SignalDataSchema
// allow, each value within the same limits. What this accepts the schema accepts too, with an
// equal output (test/unit/protocol.test.ts checks both by property); anything else (an unknown
// key, a wrong type, a value out of range) goes on to the schema, which accepts or words the error
// as before. The frame's `data` is passed on as parsed: with only allowed keys it is what the
// schema would have copied.

type SignalFrame = Extract<ClientMessage, { type: 'signal' }>;

/** An object of JSON's kind: what JSON.parse makes of `{…}`. */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function isStringOf(x: unknown, min: number, max: number): x is string {
  return typeof x === 'string' && x.length >= min && x.length <= max;
}

function isSessionDescription(d: unknown): boolean {
  if (!isPlainObject(d)) return false;
  let keys = 0;
  for (const key in d) {
    if (key !== 'type' && key !== 'sdp') return false;
    keys++;
  }
  return keys === 2 && (d.type === 'offer' || d.type === 'answer') && isStringOf(d.sdp, 0, SDP_MAX);
}

function isIceCandidate(c: unknown): boolean {
  if (c === null) return true;
  if (!isPlainObject(c)) return false;
  for (const key in c) {
    const value = c[key];
    switch (key) {
      case 'candidate':
        if (!isStringOf(value, 0, CANDIDATE_MAX)) return false;
        break;
      case 'sdpMid':
        if (value !== null && !isStringOf(value, 0, SDP_MID_MAX)) return false;
        break;
      case 'sdpMLineIndex':
        if (value !== null && !(typeof value === 'number' && Number.isInteger(value) && value >= 0)) return false;
        break;
      case 'usernameFragment':
        if (value !== null && !isStringOf(value, 0, UFRAG_MAX)) return false;
        break;
      default:
        return false;
    }
  }
  return typeof c.candidate === 'string';
}

function isSignalData(d: unknown): d is SignalData {
  if (!isPlainObject(d)) return false;
  const kind = d.kind;
  const body = kind === 'description' ? 'description' : kind === 'candidate' ? 'candidate' : null;
  if (body === null) return false;
  let keys = 0;
  for (const key in d) {
    if (key !== 'kind' && key !== body) return false;
    keys++;
  }
  if (keys !== 2) return false;
  return body === 'description' ? isSessionDescription(d.description) : isIceCandidate(d.candidate);
}

/** The validated signal frame if it has the usual shape and is valid; null to ask the schema. */
export function plainSignal(frame: Record<string, unknown>): SignalFrame | null {
  if (!isPlainObject(frame) || frame.type !== 'signal') return null;
  let hasTo = false;
  let hasRef = false;
  for (const key in frame) {
    if (key === 'to') hasTo = true;
    else if (key === 'ref') hasRef = true;
    else if (key !== 'type' && key !== 'callId' && key !== 'data') return null;
  }
  const { callId, to, data, ref } = frame;
  if (!isStringOf(callId, 1, ID_MAX) || !isSignalData(data)) return null;
  if (hasTo && !isStringOf(to, 1, ID_MAX)) return null;
  if (hasRef && !isStringOf(ref, 0, REF_MAX)) return null;
  // In the schema's key order, as valibot writes its output.
  if (hasTo) {
    return hasRef
      ? { type: 'signal', callId, to: to as string, data, ref: ref as string }
      : { type: 'signal', callId, to: to as string, data };
  }
  return hasRef ? { type: 'signal', callId, data, ref: ref as string } : { type: 'signal', callId, data };
}

/** Validates a decoded client frame against the schema of its `type`. */
export function validateClientMessage(frame: unknown): Result<ClientMessage, FrameError> {
  if (!isRecord(frame)) return fail(ErrorCode.badJson, 'frame must be a JSON object', null);
  const type = frame.type;
  if (type === 'signal') {
    const signal = plainSignal(frame);
    if (signal !== null) return { ok: true, value: signal };
  }
  const ref = readRef(frame);
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
