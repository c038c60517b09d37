import { useSignal } from '@preact/signals';
import type { JSX } from 'preact';
import { NAME_MAX, normalizeName } from '../../protocol/protocol.js';
import type { Parley } from '../Parley.js';
import { StatusBar } from './StatusBar.js';

export function SignIn({ app }: { app: Parley }): JSX.Element {
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
        <p class="hint">Chat and call the people in your rooms.</p>
        <label for="signin-name">Your name</label>
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
          {invalid.value ? 'Use 1–32 letters, digits, spaces, dots, dashes or underscores.' : null}
          {problem ? problem.message : null}
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
                Use “{problem.suggestion}”
              </button>
            </>
          ) : null}
        </p>
        <button type="submit" class="primary" disabled={connecting}>
          {connecting ? 'Signing in…' : 'Sign in'}
        </button>
        {app.signaling.closedReason.value ? <StatusBar app={app} /> : null}
      </form>
    </main>
  );
}
