import { useSignal } from '@preact/signals';
import type { JSX } from 'preact';
import { NAME_MAX, normalizeName } from '../../protocol/protocol.js';
import type { Parley } from '../Parley.js';
import { LanguagePicker } from './LanguagePicker.js';
import { StatusBar } from './StatusBar.js';
import { serverErrorText } from './words.js';

export function SignIn({ app }: { app: Parley }): JSX.Element {
  const { t } = app.i18n;
  const name = useSignal(app.rememberedName);
  const invalid = useSignal(false);
  const problem = app.signInProblem.value;
  const connecting = app.signaling.state.value === 'connecting';
  const submit = (event: Event): void => {
    event.preventDefault();
    const normalized = normalizeName(name.value);
    invalid.value = normalized === null;
    if (normalized !== null) app.signIn(normalized);
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title" data-testid="signin">
        <h1 id="signin-title">Parley</h1>
        <p class="hint">{t('signIn.hint')}</p>
        <label for="signin-name">{t('signIn.name')}</label>
        <input
          id="signin-name"
          name="name"
          autoComplete="nickname"
          maxLength={NAME_MAX}
          required
          autoFocus
          value={name.value}
          aria-invalid={invalid.value || problem !== null}
          aria-describedby="signin-problem"
          onInput={(e) => (name.value = e.currentTarget.value)}
        />
        <p id="signin-problem" class="problem" role="alert" data-testid="signin-problem">
          {invalid.value ? t('signIn.invalidName') : null}
          {problem ? serverErrorText(t, problem.code) : null}
          {problem?.suggestion ? (
            <>
              {' '}
              <button
                type="button"
                class="link"
                data-testid="use-suggestion"
                onClick={() => {
                  name.value = problem.suggestion ?? '';
                  app.signIn(name.value);
                }}
              >
                {t('signIn.useSuggestion', { name: problem.suggestion })}
              </button>
            </>
          ) : null}
        </p>
        <button type="submit" class="primary" disabled={connecting}>
          {connecting ? t('signIn.submitting') : t('signIn.submit')}
        </button>
        {app.signaling.closedReason.value ? <StatusBar app={app} /> : null}
        <LanguagePicker app={app} id="signin-language" />
        <a href="/selftest" data-testid="selftest-link">
          {t('selftest.link')}
        </a>
      </form>
    </main>
  );
}
