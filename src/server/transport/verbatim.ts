/**
 * Relaying a signal without serializing it again.
 *
 * A relayed `signal` carries the sender's `data` (an SDP of a kilobyte or more, full of `\r\n`)
 * to the peer. Serializing it with JSON.stringify cost more than parsing the frame had (6 µs
 * against 4 µs for a 1.1 KB offer on the bench machine: every `\r\n` sends V8 down its slow,
 * escaping path), and it writes out again text the frame already holds in JSON form. So, once
 * the frame has been parsed and fully validated, the JSON text of its `data` member is taken from
 * the frame as is, if and only if it spells exactly the validated value:
 *
 * - the parsed input and the validated output have the same keys in every object and the same
 *   primitive values (the signal schema strips unknown keys and transforms nothing, so this holds
 *   for every frame that carries no extra keys);
 * - the text has no duplicate keys (JSON.parse keeps the last; another parser might keep the
 *   first), checked by counting the keys written in the text against the parsed object's;
 * - the member's key is written plainly (`"data"`), once, at the top level.
 *
 * Otherwise the caller serializes as before. Whitespace or escapes spelled differently (`\u0041`
 * for `A`) may pass through; they parse to the same value, which is all the receiver sees.
 */

/** Index just past the string literal that opens at `i` (text[i] is `"`). */
function stringEnd(text: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const quote = text.indexOf('"', j);
    if (quote < 0) return -1;
    // The quote is escaped if an odd number of backslashes precede it.
    let k = quote - 1;
    while (text.charCodeAt(k) === 0x5c) k--;
    if ((quote - 1 - k) % 2 === 0) return quote + 1;
    j = quote + 1;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(text: string, i: number): number {
  while (isSpace(text.charCodeAt(i))) i++;
  return i;
}

/**
 * Scans the JSON value that starts at `i` (text known to be valid JSON). Returns the index just
 * past it and, through `keys`, how many object keys are written inside it.
 */
function valueEnd(text: string, i: number, keys: { n: number }): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return stringEnd(text, i);
  if (c !== 0x7b && c !== 0x5b) {
    // A number, true, false or null: runs until a delimiter.
    let j = i;
    for (;;) {
      const d = text.charCodeAt(j);
      if (Number.isNaN(d) || d === 0x2c || d === 0x7d || d === 0x5d || isSpace(d)) return j;
      j++;
    }
  }
  let depth = 0;
  let j = i;
  for (;;) {
    const d = text.charCodeAt(j);
    if (Number.isNaN(d)) return -1;
    if (d === 0x22) {
      j = stringEnd(text, j);
      if (j < 0) return -1;
      // A string followed by a colon is a key.
      if (text.charCodeAt(skipSpace(text, j)) === 0x3a) keys.n++;
      continue;
    }
    if (d === 0x7b || d === 0x5b) depth++;
    else if (d === 0x7d || d === 0x5d) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
}

/** Same keys in every object, same primitives: what JSON.stringify would make of both is equal up to key order. */
function sameValue(a: unknown, b: unknown, keys: { n: number }): boolean {
  if (a === b) {
    if (typeof a !== 'object' || a === null) return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  keys.n += ka.length;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], keys)) return false;
  }
  return true;
}

/**
 * Where the JSON text of the top-level member `key` of `text` (a JSON object that `parsed` came
 * from) starts and ends, if it spells exactly `validated`, the member's value after validation;
 * else null.
 */
export function verbatimRange(
  text: string,
  key: string,
  parsed: unknown,
  validated: unknown,
): [start: number, end: number] | null {
  const expected = { n: 0 };
  if (!sameValue(parsed, validated, expected)) return null;
  const want = `"${key}"`;
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== 0x7b) return null;
  i = skipSpace(text, i + 1);
  let found: [number, number] | null = null;
  let written = 0;
  const keys = { n: 0 };
  while (text.charCodeAt(i) === 0x22) {
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return null;
    const isKey = keyEnd - i === want.length && text.startsWith(want, i);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== 0x3a) return null;
    i = skipSpace(text, i + 1);
    const before = keys.n;
    const end = valueEnd(text, i, keys);
    if (end < 0) return null;
    if (isKey) {
      if (found !== null) return null;
      found = [i, end];
      written = keys.n - before;
    }
    i = skipSpace(text, end);
    if (text.charCodeAt(i) !== 0x2c) break;
    i = skipSpace(text, i + 1);
  }
  return found !== null && written === expected.n ? found : null;
}
