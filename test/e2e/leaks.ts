/** Checks that a page in another language shows no words of the English catalogue. */
import type { Page } from 'playwright-core';
import { type Catalogue, en, type Key } from '../../src/client/i18n/en.js';

function texts(m: string | Record<string, string | undefined>): string[] {
  return typeof m === 'string' ? [m] : Object.values(m).filter((v): v is string => v !== undefined);
}

/**
 * The words of the English catalogue that must not show on a page in `cat`'s language: the
 * literal parts of each English message (around its {placeholders}) whose translation differs.
 */
export function englishFragments(cat: Catalogue): string[] {
  const out = new Set<string>();
  for (const key of Object.keys(en) as Key[]) {
    if (JSON.stringify(cat[key]) === JSON.stringify(en[key])) continue; // same in both (e.g. "kbit/s")
    for (const text of texts(en[key])) {
      for (const part of text.split(/\{\w+\}/)) {
        const fragment = part.trim().replace(/^[#(:·–\s]+|[)…:.\s]+$/gu, '');
        if (/\p{L}{3}/u.test(fragment)) out.add(fragment);
      }
    }
  }
  return [...out];
}

/** Everything a user can see or hear: text (including screen-reader text) and labelling attributes. */
export async function pageWords(page: Page): Promise<string> {
  return page.evaluate(() => {
    const parts = [document.title, document.body.textContent ?? ''];
    document.querySelectorAll('[placeholder], [aria-label], [title], [alt]').forEach((el) => {
      for (const attr of ['placeholder', 'aria-label', 'title', 'alt']) {
        const v = el.getAttribute(attr);
        if (v) parts.push(v);
      }
    });
    // The language picker names each language in itself; "English" is not catalogue text.
    return parts.join('\n');
  });
}

export function leaks(words: string, fragments: string[]): string[] {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return fragments.filter((f) => new RegExp(`(^|[^\\p{L}])${escape(f)}($|[^\\p{L}])`, 'u').test(words));
}
