import { useSignal } from '@preact/signals';
import type { JSX } from 'preact';
import type { Parley } from '../Parley.js';
import { CallPanel } from './CallPanel.js';
import { ChatView } from './ChatView.js';
import { GroupCallSlot } from './RoomCall.js';
import { Sidebar } from './Sidebar.js';
import { SignIn } from './SignIn.js';
import { StatusBar } from './StatusBar.js';

export function App({ app }: { app: Parley }): JSX.Element {
  const { t } = app.i18n;
  const state = app.signaling.state.value;
  const user = app.signaling.user.value;
  const menuOpen = useSignal(false);
  if (state === 'idle' || (user === null && state !== 'reconnecting' && state !== 'closed')) {
    return <SignIn app={app} />;
  }
  return (
    <div class={`shell${menuOpen.value ? ' menu-open' : ''}`}>
      <header class="topbar">
        <button
          type="button"
          class="menu-toggle"
          aria-expanded={menuOpen.value}
          aria-controls="sidebar"
          onClick={() => (menuOpen.value = !menuOpen.value)}
        >
          <span aria-hidden="true">☰</span> <span class="sr-only">{t('nav.roomsAndPeople')}</span>
        </button>
        <h1 class="brand">Parley</h1>
        <StatusBar app={app} />
        <span class="me" data-testid="me">
          {user?.name}
        </span>
        <a class="selftest-link" href="/selftest" target="_blank" rel="noopener" data-testid="selftest-link">
          {t('selftest.link')}
        </a>
      </header>
      <Sidebar
        app={app}
        onNavigate={() => {
          menuOpen.value = false;
        }}
      />
      <ChatView app={app} />
      <CallPanel app={app} />
      <GroupCallSlot app={app} />
    </div>
  );
}
