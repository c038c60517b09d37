import type { JSX } from 'preact';
import type { Parley } from '../Parley.js';
import { useTick } from './hooks.js';

/** The connection state, always on screen. */
export function StatusBar({ app }: { app: Parley }): JSX.Element {
  const state = app.signaling.state.value;
  const retryAt = app.signaling.retryAt.value;
  const online = app.online.value;
  const now = useTick(500, state === 'reconnecting');
  let label: string;
  let tone: 'ok' | 'warn' | 'bad';
  // navigator.onLine can be false while the server is reachable (e.g. a LAN without internet),
  // so a live socket wins.
  if (state === 'open') {
    label = 'Connected';
    tone = 'ok';
  } else if (state === 'reconnecting') {
    const secs = retryAt === null ? 0 : Math.max(0, Math.ceil((retryAt - now) / 1000));
    label = secs > 0 ? `Reconnecting in ${secs} s` : 'Reconnecting…';
    // Keep trying while the browser says offline: it is not always right (LANs, VPNs).
    if (!online) label = `Offline · ${label.toLowerCase()}`;
    tone = online ? 'warn' : 'bad';
  } else if (state === 'closed') {
    label = app.signaling.closedReason.value ?? 'Disconnected';
    tone = 'bad';
  } else {
    label = 'Connecting…';
    tone = 'warn';
  }
  return (
    <span class={`status status-${tone}`} role="status" aria-live="polite" data-testid="connection">
      {label}
      {state === 'reconnecting' ? (
        <button type="button" class="link" onClick={() => { app.signaling.retryNow(); }}>
          Retry now
        </button>
      ) : null}
    </span>
  );
}
