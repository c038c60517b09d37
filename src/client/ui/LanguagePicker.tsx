import type { JSX } from 'preact';
import { isLang, LANGUAGES } from '../i18n/I18n.js';
import type { Parley } from '../Parley.js';

/** The UI language, by its own name (a reader looks for their language as they write it). */
export function LanguagePicker({ app, id }: { app: Parley; id: string }): JSX.Element {
  const { t, lang } = app.i18n;
  return (
    <div class="field language">
      <label for={id}>{t('settings.language')}</label>
      <select
        id={id}
        data-testid="language"
        value={lang.value}
        onChange={(e) => {
          const value = e.currentTarget.value;
          if (isLang(value)) void app.i18n.setLanguage(value);
        }}
      >
        {LANGUAGES.map((l) => (
          <option key={l.code} value={l.code} lang={l.tag}>
            {l.name}
          </option>
        ))}
      </select>
    </div>
  );
}
