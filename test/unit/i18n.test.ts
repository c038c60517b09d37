import { describe, expect, it } from 'vitest';
import { type Catalogue, en, type Key, type Message } from '../../src/client/i18n/en.js';
import { I18n, LANGUAGES, pickLanguage } from '../../src/client/i18n/I18n.js';
import { it as italian } from '../../src/client/i18n/it.js';
import { pt } from '../../src/client/i18n/pt.js';
import { ru } from '../../src/client/i18n/ru.js';
import { zh } from '../../src/client/i18n/zh.js';

const catalogues: Record<string, Catalogue> = { en, pt, it: italian, zh, ru };
const keys = Object.keys(en) as Key[];

function forms(m: Message): string[] {
  return typeof m === 'string' ? [m] : Object.values(m).filter((v): v is string => typeof v === 'string');
}
function vars(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
}

describe('catalogues', () => {
  it('there is one per UI language', () => {
    expect(Object.keys(catalogues).sort()).toEqual(LANGUAGES.map((l) => l.code).sort());
  });

  for (const lang of LANGUAGES) {
    describe(lang.code, () => {
      const cat = catalogues[lang.code]!;
      const plural = new Intl.PluralRules(lang.tag);

      it('has every key, and no others, each a non-empty string', () => {
        expect(Object.keys(cat).sort()).toEqual([...keys].sort());
        for (const key of keys) {
          const message: Message = cat[key];
          expect(typeof message === 'string' || typeof message === 'object', key).toBe(true);
          expect(typeof message === 'string', `${key}: plural in English, plural here`).toBe(typeof en[key] === 'string');
          for (const text of forms(message)) expect(text.trim().length, key).toBeGreaterThan(0);
        }
      });

      it('uses the same {placeholders} as English', () => {
        for (const key of keys) {
          const english = en[key];
          if (typeof english === 'string') {
            expect(vars(cat[key] as string), `${lang.code} ${key}`).toEqual(vars(english));
            continue;
          }
          // A plural form may spell its number out ("один"), so only {count} is optional there.
          const need = vars(english.other).filter((v) => v !== 'count');
          for (const text of forms(cat[key])) {
            expect(vars(text).filter((v) => v !== 'count'), `${lang.code} ${key}: ${text}`).toEqual(need);
          }
        }
      });

      it('gives every plural message the forms the language needs', () => {
        // "many" in Italian and Portuguese applies only to compact notation (1,5 mln), never to a count.
        const used = new Set([0, 1, 2, 3, 4, 5, 11, 21, 22, 25, 101, 1.5].map((n) => plural.select(n)));
        for (const key of keys) {
          const message = cat[key];
          if (typeof message === 'string') continue;
          for (const category of used) expect(message[category], `${lang.code} ${key} needs "${category}"`).toBeTruthy();
        }
      });
    });
  }
});

describe('I18n', () => {
  it('picks the first browser language it has, by base language', () => {
    expect(pickLanguage(['de-DE', 'pt-PT', 'en'])).toBe('pt');
    expect(pickLanguage(['zh-CN'])).toBe('zh');
    expect(pickLanguage(['fr'])).toBe('en');
    expect(pickLanguage([])).toBe('en');
  });

  it('a saved choice beats the browser, and switching remembers it', async () => {
    const store = new Map<string, string>([['parley.lang', 'it']]);
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const i18n = new I18n({ storage, preferred: ['ru-RU'] });
    await i18n.init();
    expect(i18n.lang.value).toBe('it');
    expect(i18n.t('signIn.submit')).toBe('Accedi');
    await i18n.setLanguage('ru');
    expect(store.get('parley.lang')).toBe('ru');
    expect(i18n.t('nav.unread', { count: 1 })).toBe('1 непрочитанное сообщение');
    expect(i18n.t('nav.unread', { count: 3 })).toBe('3 непрочитанных сообщения');
    expect(i18n.t('nav.unread', { count: 11 })).toBe('11 непрочитанных сообщений');
    expect(i18n.t('call.ringing', { name: 'Боб' })).toBe('Идут гудки: Боб…');
  });

  it('English is there without loading anything', () => {
    const i18n = new I18n();
    expect(i18n.t('status.reconnectingIn', { count: 1 })).toBe('Reconnecting in 1 second');
    expect(i18n.t('status.reconnectingIn', { count: 4 })).toBe('Reconnecting in 4 seconds');
  });
});
