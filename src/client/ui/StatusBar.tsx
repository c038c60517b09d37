import type { JSX } from 'preact';
import type { Parley } from '../Parley.js';
import { useTick } from './hooks.js';

/** The connection state, always on screen. */
export function StatusBar({ app }: { app: Parley }): JSX.Element {
  const { t } = app.i18n;
  const state = app.signaling.state.value;
  const retryAt = app.signaling.retryAt.value;
  const online = app.online.value;
  const now = useTick(500, state === 'reconnecting');
  let label: string;
  let tone: 'ok' | 'warn' | 'bad';
  // navigator.onLine can be false while the server is reachable (e.g. a LAN without internet),
  // so a live socket wins.
  if (state === 'open') {
    label = t('status.connected');
    tone = 'ok';
  } else if (state === 'reconnecting') {
    const secs = retryAt === null ? 0 : Math.max(0, Math.ceil((retryAt - now) / 1000));
    label = secs > 0 ? t('status.reconnectingIn', { count: secs }) : t('status.reconnecting');
    // Keep trying while the browser says offline: it is not always right (LANs, VPNs).
    if (!online) label = `${t('status.offline')} · ${label}`;
    tone = online ? 'warn' : 'bad';
  } else if (state === 'closed') {
    const reason = app.signaling.closedReason.value;
    label = reason ? t(`status.${reason}`) : t('status.disconnected');
    tone = 'bad';
  } else {
    label = t('status.connecting');
    tone = 'warn';
  }
  return (
    <span class={`status status-${tone}`} role="status" aria-live="polite" data-testid="connection" data-state={state}>
      {label}
      {state === 'reconnecting' ? (
        <button type="button" class="link" onClick={() => { app.signaling.retryNow(); }}>
          {t('status.retryNow')}
        </button>
      ) : null}
    </span>
  );
}
