import { signal, useSignal } from '@preact/signals';
import type { ComponentType, JSX } from 'preact';
import { useLayoutEffect, useRef } from 'preact/hooks';
import { LOBBY, TEXT_MAX } from '../../protocol/protocol.js';
import type { ChatItem, Conversation } from '../chat/ChatStore.js';
import type { Parley } from '../Parley.js';
import { RoomCallButton } from './RoomCall.js';
import { RichText } from './text.js';
import { serverErrorText } from './words.js';

type PhotoCaptureView = typeof import('./PhotoCapture.js').PhotoCapture;
/** The photo dialog's code, fetched the first time someone opens it (not part of the first load). */
const photoCapture = signal<ComponentType<Parameters<PhotoCaptureView>[0]> | null>(null);
function loadPhotoCapture(): Promise<void> {
  return import('./PhotoCapture.js').then((m) => {
    photoCapture.value = m.PhotoCapture;
  });
}

export function ChatView({ app }: { app: Parley }): JSX.Element {
  const { t } = app.i18n;
  const chat = app.chat;
  const conv = chat.conversations.value[chat.active.value];
  const listRef = useRef<HTMLOListElement>(null);
  /** Scroll bookkeeping: stick to the bottom for new messages, keep the place when older load. */
  const scroll = useRef({ height: 0, top: 0, atBottom: true, first: '' });
  const draft = useSignal('');
  const photoOpen = useSignal(false);

  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const s = scroll.current;
    const first = conv?.items[0]?.key ?? '';
    if (first !== s.first && s.height > 0 && !s.atBottom) {
      el.scrollTop = s.top + (el.scrollHeight - s.height); // older messages came in above
    } else if (s.atBottom) {
      el.scrollTop = el.scrollHeight;
    }
    s.first = first;
    s.height = el.scrollHeight;
  });

  if (!conv) return <main class="chat" />;
  const peerName = conv.kind === 'dm' ? chat.people.value.get(conv.target)?.name : null;
  const title = conv.kind === 'room' ? `#${conv.target}` : t('chat.dmTitle', { name: peerName ?? conv.title });
  const target = conv.kind === 'room' ? `#${conv.target}` : (peerName ?? conv.title);
  const connected = app.signaling.state.value === 'open';

  const onScroll = (event: Event): void => {
    const el = event.currentTarget as HTMLElement;
    const s = scroll.current;
    s.top = el.scrollTop;
    s.height = el.scrollHeight;
    s.atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 60) chat.loadOlder(conv.key);
  };

  const submit = (event: Event): void => {
    event.preventDefault();
    const text = draft.value;
    if (text.trim() === '') return;
    scroll.current.atBottom = true;
    chat.send(text);
    draft.value = '';
  };

  return (
    <main class="chat" aria-labelledby="chat-title">
      <header class="chat-head">
        <h2 id="chat-title" data-testid="chat-title">
          {title}
        </h2>
        {conv.kind === 'room' ? <RoomCallButton app={app} room={conv.target} /> : null}
        {conv.kind === 'room' && conv.target !== LOBBY ? (
          <button type="button" class="link" onClick={() => { chat.leave(conv.target); }}>
            {t('chat.leave')}
          </button>
        ) : null}
      </header>
      <ol class="messages" ref={listRef} onScroll={onScroll} data-testid="messages" aria-live="polite">
        <li class="history-edge">
          {conv.hasMore ? (
            <button type="button" class="link" onClick={() => { chat.loadOlder(conv.key); }} disabled={conv.loading}>
              {conv.loading ? t('chat.loading') : t('chat.loadOlder')}
            </button>
          ) : conv.loaded ? (
            <span class="muted">{t('chat.beginning')}</span>
          ) : (
            <span class="muted">{t('chat.loading')}</span>
          )}
        </li>
        {conv.items.map((item, i) => (
          <Message key={item.key} item={item} prev={conv.items[i - 1]} conv={conv} app={app} />
        ))}
      </ol>
      {photoOpen.value && photoCapture.value ? (
        <photoCapture.value
          i18n={app.i18n}
          onSend={(blob) => {
            scroll.current.atBottom = true;
            chat.sendPhoto(blob);
          }}
          onClose={() => (photoOpen.value = false)}
        />
      ) : null}
      <form class="composer" onSubmit={submit}>
        <button
          type="button"
          class="photo-button"
          data-testid="photo-button"
          aria-label={t('chat.takePhoto')}
          title={t('chat.takePhoto')}
          onClick={() => {
            photoOpen.value = true;
            if (!photoCapture.value) void loadPhotoCapture();
          }}
        >
          <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2">
            <path d="M4 7h3l2-3h6l2 3h3a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z" />
            <circle cx="12" cy="13" r="4" />
          </svg>
        </button>
        <label for="composer-text" class="sr-only">
          {t('chat.messageLabel', { target })}
        </label>
        <textarea
          id="composer-text"
          data-testid="composer"
          rows={1}
          maxLength={TEXT_MAX}
          placeholder={connected ? t('chat.messageLabel', { target }) : t('chat.offlinePlaceholder')}
          value={draft.value}
          onInput={(e) => (draft.value = e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submit(e);
          }}
        />
        <button type="submit" class="primary">
          {t('chat.send')}
        </button>
      </form>
    </main>
  );
}

function Message(props: {
  item: ChatItem;
  prev: ChatItem | undefined;
  conv: Conversation;
  app: Parley;
}): JSX.Element {
  const { item, prev, conv, app } = props;
  const { t } = app.i18n;
  const grouped = prev?.from.name === item.from.name && item.ts - prev.ts < 5 * 60_000;
  return (
    <li
      class={`message${item.mine ? ' mine' : ''} status-${item.status}`}
      data-testid="message"
      data-status={item.status}
      data-client-id={item.key}
    >
      {grouped ? null : (
        <div class="meta">
          <span class="from">{item.from.name}</span>{' '}
          <time dateTime={new Date(item.ts).toISOString()}>{app.i18n.time(item.ts)}</time>
        </div>
      )}
      {item.image || item.localSrc ? (
        <img
          class="photo"
          data-testid="message-image"
          // Only a path on this server built from a validated id, or our own blob: URL.
          src={item.localSrc ?? `/api/images/${encodeURIComponent(item.image?.id ?? '')}`}
          width={item.image?.width}
          height={item.image?.height}
          alt={t('chat.photoAlt', { name: item.from.name })}
          loading="lazy"
        />
      ) : null}
      {item.text.trim() !== '' || !(item.image || item.localSrc) ? (
        <div class="text" data-testid="message-text">
          <RichText text={item.text} />
        </div>
      ) : null}
      {item.status === 'pending' ? <div class="state muted">{t('chat.sending')}</div> : null}
      {item.status === 'failed' ? (
        <div class="state problem" role="alert">
          {item.error
            ? t('chat.notSentBecause', { reason: serverErrorText(t, item.error) })
            : t('chat.notSent')}{' '}
          <button type="button" class="link" onClick={() => { app.chat.retry(conv.key, item.key); }}>
            {t('chat.retry')}
          </button>
        </div>
      ) : null}
    </li>
  );
}
