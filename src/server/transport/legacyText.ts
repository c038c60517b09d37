import { NAME_MAX, normalizeName } from '../../protocol/protocol.js';

/** What a legacy client is called when nothing usable is left of the name it sent. */
export const LEGACY_DEFAULT_NAME = 'guest';

/** Everything a Parley name may not contain (see NAME_PATTERN in protocol.ts). */
const NOT_NAME_CHARS = /[^\p{L}\p{N} ._-]/gu;

/**
 * Turns whatever a legacy client sent as a name into a valid Parley name by dropping the
 * characters a name may not hold and cutting it to NAME_MAX; null when nothing is left.
 *
 * Legacy clients cannot be told "pick another name" (the chat protocol can only be told the name
 * it got, the login protocol not even that), so names are repaired rather than refused. The same
 * cleaning is applied to the names they put in `target`, so a user found under a cleaned name is
 * found again by the name its owner typed.
 */
export function cleanLegacyName(raw: string): string | null {
  const kept = raw.normalize('NFC').replace(NOT_NAME_CHARS, '').trim().replace(/\s+/g, ' ');
  // Cut on a code point boundary so the result is still a valid string.
  const cut = kept.slice(0, NAME_MAX).replace(/[\uD800-\uDBFF]$/, '').trimEnd();
  return normalizeName(cut);
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Escapes text for the legacy chat clients, which insert `name` and `text` into the page as HTML.
 * Stripping tags is not enough (`<img src=x onerror=...//` has no closing `>`), so every character
 * that could start markup or leave an attribute is escaped.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}
