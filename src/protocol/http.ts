/**
 * The shapes of Parley's small HTTP API (beside the WebSocket protocol): what the server answers
 * and the web app reads. No DOM and no Node types here.
 */
import type { IceServer } from './protocol.js';

/** GET /api/ice: ICE servers with short-lived TURN credentials, for the connectivity self-test. */
export interface IceResponse {
  iceServers: IceServer[];
  /** When the TURN credentials expire (ms since epoch), or null without TURN. */
  iceExpiresAt: number | null;
}

/** An HTTP error body: a stable code and words for people (English, for logs). */
export interface HttpError {
  error: string;
  message: string;
}

/** POST /api/images (201): the stored image; reference it from a chat message as `image`. */
export interface ImageUploadResponse {
  id: string;
  /** The type the server found in the bytes (whatever the upload claimed). */
  type: 'image/jpeg' | 'image/png' | 'image/webp';
  width: number;
  height: number;
  bytes: number;
}
