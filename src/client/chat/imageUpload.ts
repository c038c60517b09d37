import type { ImageUploadResponse } from '../../protocol/http.js';
import { ErrorCode } from '../../protocol/protocol.js';

export type UploadResult = { ok: true; image: ImageUploadResponse } | { ok: false; code: ErrorCode };

/**
 * Uploads an image (POST /api/images) with the session's token. A refusal comes back as the
 * protocol's error code that says the same thing, so the chat words it like any refused message.
 */
export async function uploadImage(
  blob: Blob,
  token: string | null,
  fetcher: typeof fetch = fetch,
): Promise<UploadResult> {
  if (token === null) return { ok: false, code: ErrorCode.notSignedIn };
  let response: Response;
  try {
    response = await fetcher('/api/images', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': blob.type || 'application/octet-stream' },
      body: blob,
    });
  } catch {
    return { ok: false, code: ErrorCode.internal };
  }
  if (response.ok) return { ok: true, image: (await response.json()) as ImageUploadResponse };
  switch (response.status) {
    case 401:
      return { ok: false, code: ErrorCode.notSignedIn };
    case 413:
      return { ok: false, code: ErrorCode.frameTooLarge };
    case 429:
      return { ok: false, code: ErrorCode.rateLimited };
    case 400:
    case 415:
      return { ok: false, code: ErrorCode.badFrame };
    default:
      return { ok: false, code: ErrorCode.internal };
  }
}
