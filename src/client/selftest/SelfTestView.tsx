import type { JSX } from 'preact';
import type { I18n } from '../i18n/I18n.js';
import { isLang, LANGUAGES } from '../i18n/I18n.js';
import type { CandidateKind, GatherResult, PathResult } from './connectivity.js';
import type { SelfTest } from './SelfTest.js';

/** How one check came out; `data-state` carries it for tests, the words carry it for people. */
type CheckState = 'waiting' | 'ok' | 'missing' | 'notConfigured' | 'failed' | 'skipped';

interface Check {
  id: string;
  label: string;
  help: string;
  state: CheckState;
  result: string;
}

export function SelfTestView({ test, i18n }: { test: SelfTest; i18n: I18n }): JSX.Element {
  const { t } = i18n;
  const state = test.state.value;
  const servers = test.servers.value;
  const gathered = test.gather.value;
  const problem = test.problem.value;
  const verdict = test.verdict.value;

  const candidate = (kind: CandidateKind, configured: boolean, notConfigured: string): Pick<Check, 'state' | 'result'> => {
    if (!configured) return { state: 'notConfigured', result: notConfigured };
    if (!gathered) return { state: 'waiting', result: t('selftest.waiting') };
    const found = gathered.found[kind];
    if (found.count > 0) {
      return { state: 'ok', result: t('selftest.foundIn', { count: found.count, ms: found.firstMs ?? 0 }) };
    }
    return { state: 'missing', result: missingReason(gathered, kind, t) };
  };
  const path = (result: PathResult | null): Pick<Check, 'state' | 'result'> => {
    if (!result) return { state: 'waiting', result: t('selftest.waiting') };
    switch (result.state) {
      case 'ok':
        return { state: 'ok', result: t('selftest.works', { connect: result.connectMs, rtt: result.rttMs }) };
      case 'failed':
        return { state: 'failed', result: t('selftest.failed', { ms: result.afterMs }) };
      case 'skipped':
        return { state: 'skipped', result: t('selftest.noTurnServer') };
    }
  };

  const checks: Check[] = servers
    ? [
        { id: 'host', label: t('selftest.host'), help: t('selftest.hostHelp'), ...candidate('host', true, '') },
        {
          id: 'srflx',
          label: t('selftest.srflx'),
          help: t('selftest.srflxHelp'),
          ...candidate('srflx', servers.stun, t('selftest.noStunServer')),
        },
        {
          id: 'relay',
          label: t('selftest.relay'),
          help: t('selftest.relayHelp'),
          ...candidate('relay', servers.turn, t('selftest.noTurnServer')),
        },
        { id: 'direct', label: t('selftest.direct'), help: t('selftest.directHelp'), ...path(test.direct.value) },
        { id: 'relay-path', label: t('selftest.relayPath'), help: t('selftest.relayPathHelp'), ...path(test.relay.value) },
      ]
    : [];

  const notes: string[] = [];
  if (verdict && servers) {
    if (!servers.stun) notes.push(t('selftest.noStun'));
    else if (gathered && gathered.found.srflx.count === 0) notes.push(t('selftest.stunFailed'));
  }

  return (
    <main class="selftest" data-testid="selftest" data-state={state}>
      <header class="selftest-head">
        <h1>{t('selftest.title')}</h1>
        <a href="/">{t('selftest.back')}</a>
      </header>
      <p class="hint">{t('selftest.intro')}</p>
      <section class={`verdict verdict-${verdict ?? 'pending'}`} role="status" data-testid="verdict" data-verdict={verdict ?? ''}>
        {problem ? (
          <p class="problem">
            {problem.kind === 'rateLimited'
              ? t('selftest.rateLimited')
              : t('selftest.fetchFailed', { detail: problem.detail })}
          </p>
        ) : verdict ? (
          <>
            <p class="headline">{t(`selftest.verdict.${verdict}`)}</p>
            {notes.map((note) => (
              <p key={note}>{note}</p>
            ))}
          </>
        ) : (
          <p class="muted">{t('selftest.running')}</p>
        )}
      </section>
      {checks.length > 0 ? (
        <>
          <h2>{t('selftest.details')}</h2>
          <ul class="checks">
            {checks.map((c) => (
              <li key={c.id} class={`check check-${c.state}`} data-testid={`check-${c.id}`} data-state={c.state}>
                <span class="mark" aria-hidden="true">
                  {MARKS[c.state]}
                </span>
                <span class="label">{c.label}</span>
                <span class="result" data-testid="check-result">
                  {c.result}
                </span>
                <span class="help muted">{c.help}</span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <div class="selftest-actions">
        <button type="button" class="primary" disabled={state === 'running'} onClick={() => void test.run()}>
          {state === 'running' ? t('selftest.running') : t('selftest.runAgain')}
        </button>
        <div class="field language">
          <label for="selftest-language">{t('settings.language')}</label>
          <select
            id="selftest-language"
            data-testid="language"
            value={i18n.lang.value}
            onChange={(e) => {
              const value = e.currentTarget.value;
              if (isLang(value)) void i18n.setLanguage(value);
            }}
          >
            {LANGUAGES.map((l) => (
              <option key={l.code} value={l.code} lang={l.tag}>
                {l.name}
              </option>
            ))}
          </select>
        </div>
      </div>
    </main>
  );
}

const MARKS: Record<CheckState, string> = {
  waiting: '…',
  ok: '✓',
  missing: '✗',
  failed: '✗',
  notConfigured: '–',
  skipped: '–',
};

/** Why no candidate of this kind came: refused credentials (401), no answer (701), or nothing said. */
function missingReason(gathered: GatherResult, kind: CandidateKind, t: I18n['t']): string {
  const codes = gathered.errors
    .filter((e) => (kind === 'relay' ? /^turns?:/.test(e.url) : kind === 'srflx' ? /^stuns?:/.test(e.url) : false))
    .map((e) => e.code);
  if (codes.includes(401)) return t('selftest.refused');
  if (codes.includes(701) || (kind !== 'host' && gathered.timedOut)) return t('selftest.noAnswer');
  return t('selftest.notFound');
}
