import { signal } from '@preact/signals';
import { type Catalogue, en, type Key, type Plural } from './en.js';

/** The languages of the UI: code, the tag used for <html lang> and Intl, and the native name. */
export const LANGUAGES = [
  { code: 'en', tag: 'en', name: 'English' },
  { code: 'pt', tag: 'pt-BR', name: 'Português' },
  { code: 'it', tag: 'it', name: 'Italiano' },
  { code: 'zh', tag: 'zh-CN', name: '简体中文' },
  { code: 'ru', tag: 'ru', name: 'Русский' },
] as const;
export type Lang = (typeof LANGUAGES)[number]['code'];

/**
 * Non-English catalogues are separate chunks, fetched only when that language is chosen, so the
 * first load carries English alone.
 */
const LOADERS: Record<Exclude<Lang, 'en'>, () => Promise<Catalogue>> = {
  pt: () => import('./pt.js').then((m) => m.pt),
  it: () => import('./it.js').then((m) => m.it),
  zh: () => import('./zh.js').then((m) => m.zh),
  ru: () => import('./ru.js').then((m) => m.ru),
};

const LANG_KEY = 'parley.lang';

type Vars<S> = S extends `${string}{${infer P}}${infer Rest}` ? P | Vars<Rest> : never;
type VarsOf<M> = M extends string ? Vars<M> : M extends { other: infer O } ? Vars<O> | 'count' : never;
/** The values a message needs, derived from the English text: `t('call.ringing', { name })`. */
export type Params<K extends Key> = Record<VarsOf<(typeof en)[K]>, string | number>;
type ParamArgs<K extends Key> = [VarsOf<(typeof en)[K]>] extends [never] ? [] : [Params<K>];

export function isLang(value: unknown): value is Lang {
  return LANGUAGES.some((l) => l.code === value);
}

/** The first of the browser's preferred languages that we have, else English. */
export function pickLanguage(preferred: readonly string[]): Lang {
  for (const tag of preferred) {
    const base = tag.toLowerCase().split('-')[0];
    if (isLang(base)) return base;
  }
  return 'en';
}

/**
 * The UI language: the catalogue in use, `t()` to look messages up, and locale-aware formatting.
 * Components that call `t()` during render re-render when the language changes (they read a
 * signal).
 */
export class I18n {
  readonly lang = signal<Lang>('en');
  readonly #catalogue = signal<Catalogue>(en);
  readonly #storage: Pick<Storage, 'getItem' | 'setItem'> | null;
  readonly #preferred: readonly string[];
  #switching = 0;
  #plural = new Intl.PluralRules('en');
  #number = new Intl.NumberFormat('en');
  #time = new Intl.DateTimeFormat('en', { hour: 'numeric', minute: '2-digit' });
  #dateTime = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });

  constructor(options: { storage?: Pick<Storage, 'getItem' | 'setItem'> | null; preferred?: readonly string[] } = {}) {
    this.#storage = options.storage ?? null;
    this.#preferred = options.preferred ?? [];
    this.#applyFormats('en');
  }

  /** The language saved by the user, else the browser's. Load it before the first render. */
  async init(): Promise<void> {
    const saved = this.#storage?.getItem(LANG_KEY);
    await this.#use(isLang(saved) ? saved : pickLanguage(this.#preferred));
  }

  /** Switches the UI language and remembers the choice. */
  async setLanguage(lang: Lang): Promise<void> {
    this.#storage?.setItem(LANG_KEY, lang);
    await this.#use(lang);
  }

  async #use(lang: Lang): Promise<void> {
    const ticket = ++this.#switching;
    let catalogue: Catalogue = en;
    if (lang !== 'en') {
      try {
        catalogue = await LOADERS[lang]();
      } catch (error) {
        // The chunk could not be fetched (offline, a deploy replaced it): stay readable in English.
        console.warn(`could not load the ${lang} catalogue`, error);
        lang = 'en';
      }
    }
    if (ticket !== this.#switching) return; // a later choice won
    this.#applyFormats(lang);
    this.#catalogue.value = catalogue;
    this.lang.value = lang;
    if (typeof document !== 'undefined') document.documentElement.lang = tagOf(lang);
  }

  #formatsFor: Lang = 'en';

  #applyFormats(lang: Lang): void {
    this.#formatsFor = lang;
    const tag = tagOf(lang);
    // Dates and numbers follow the browser's own variant of the chosen language (en-GB, pt-PT…).
    const regional = this.#preferred.find((p) => p.toLowerCase().split('-')[0] === lang) ?? tag;
    const locales = [regional, tag];
    this.#plural = new Intl.PluralRules(tag);
    this.#number = new Intl.NumberFormat(locales, { maximumFractionDigits: 1 });
    this.#time = new Intl.DateTimeFormat(locales, { hour: 'numeric', minute: '2-digit' });
    this.#dateTime = new Intl.DateTimeFormat(locales, { dateStyle: 'medium', timeStyle: 'short' });
  }

  /** The message for `key` in the current language, with `{vars}` filled in. */
  t = <K extends Key>(key: K, ...args: ParamArgs<K>): string => {
    const message: string | Plural = this.#catalogue.value[key];
    const params = (args[0] ?? {}) as Record<string, string | number>;
    let text: string;
    if (typeof message === 'string') {
      text = message;
    } else {
      const count = Number(params.count ?? 0);
      text = message[this.#plural.select(count)] ?? message.other;
    }
    return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
      const value = params[name];
      if (value === undefined) return whole;
      return typeof value === 'number' ? this.#number.format(value) : value;
    });
  };

  /** A number in the current language's format (decimal separator, grouping). */
  number = (value: number, options?: Intl.NumberFormatOptions): string =>
    options ? new Intl.NumberFormat(tagOf(this.lang.value), options).format(value) : this.#number.format(value);

  /** Time of day for today's messages, date and time for older ones. */
  time = (ts: number, now = Date.now()): string => {
    if (this.lang.value !== this.#formatsFor) this.#applyFormats(this.lang.value); // subscribes too
    const d = new Date(ts);
    return new Date(now).toDateString() === d.toDateString() ? this.#time.format(d) : this.#dateTime.format(d);
  };
}

function tagOf(lang: Lang): string {
  return LANGUAGES.find((l) => l.code === lang)?.tag ?? 'en';
}
