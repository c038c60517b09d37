import { render } from 'preact';
import { Parley } from './Parley.js';
import { App } from './ui/App.js';
import './ui/styles.css';

/** Composition root: builds the services, wires browser events, renders the app. */
const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
const app = new Parley({
  wsUrl,
  storage: localStorage,
  session: sessionStorage,
  languages: navigator.languages,
  mediaDevices: 'mediaDevices' in navigator ? navigator.mediaDevices : null,
});
// The chosen language's catalogue (a small chunk unless English) arrives before the first render,
// so the page never flashes English at a reader of another language.
await app.i18n.init();

app.openFromLocation(location.pathname);
app.signaling.restore();

addEventListener('popstate', () => {
  app.openFromLocation(location.pathname);
});
addEventListener('online', () => {
  app.online.value = true;
  app.signaling.retryNow();
});
addEventListener('offline', () => {
  app.online.value = false;
});
app.online.value = navigator.onLine;
document.addEventListener('visibilitychange', () => {
  const visible = document.visibilityState === 'visible';
  app.chat.setVisible(visible);
  app.signaling.send({ type: 'presence', status: visible ? 'online' : 'away' });
});
addEventListener('pagehide', () => {
  app.calls.pageHidden();
  app.roomCalls.pageHidden();
});

// End-to-end tests read the peer connection's stats through this hook; it exists only when a
// test has set the flag, and exposes nothing a user's own devtools could not reach anyway.
if (localStorage.getItem('parley.test') === '1') {
  Object.assign(window, {
    __parleyTest: {
      pc: () => app.calls.peerConnection,
      /** Offers and answers this page has sent in the current call. */
      descriptionsSent: () => app.calls.descriptionsSent,
      /** The group call's connection to each other participant. */
      groupPeers: () => app.roomCalls.active.value?.peerConnections() ?? [],
      app,
    },
  });
}

render(<App app={app} />, document.getElementById('app')!);
