import { useSignal } from '@preact/signals';
import type { JSX } from 'preact';
import { type Member, normalizeRoom, ROOM_MAX } from '../../protocol/protocol.js';
import { dmKey, roomKey } from '../chat/ChatStore.js';
import type { Parley } from '../Parley.js';
import { LanguagePicker } from './LanguagePicker.js';
import { serverErrorText } from './words.js';

export function Sidebar({ app, onNavigate }: { app: Parley; onNavigate: () => void }): JSX.Element {
  const { t } = app.i18n;
  const chat = app.chat;
  const convs = chat.conversations.value;
  const active = chat.active.value;
  const rooms = chat.joinedRooms.value;
  const dms = Object.values(convs).filter((c) => c.kind === 'dm');
  const activeConv = convs[active];
  const roomName = activeConv?.kind === 'room' ? activeConv.target : null;
  const members = roomName ? (chat.members.value[roomName] ?? []) : [];
  const roomCall = roomName ? app.roomCalls.calls.value[roomName] : undefined;
  // A large room lists only the pages loaded so far; the count is the whole room.
  const roomInfo = roomName ? chat.roomInfo.value[roomName] : undefined;
  const count = roomInfo?.count ?? members.length;
  const moreMembers = roomInfo?.hasMore === true;
  const loadMore = (): void => {
    if (roomName && moreMembers) chat.loadMoreMembers(roomName);
  };
  const onScroll = (event: Event): void => {
    const el = event.currentTarget as HTMLElement;
    if (el.scrollTop + el.clientHeight >= el.scrollHeight - 200) loadMore();
  };
  const self = app.signaling.user.value;
  const newRoom = useSignal('');
  const notice = chat.notice.value;
  const roomProblem = useSignal(false);

  const join = (event: Event): void => {
    event.preventDefault();
    const room = normalizeRoom(newRoom.value);
    if (room === null) {
      roomProblem.value = true;
      return;
    }
    roomProblem.value = false;
    newRoom.value = '';
    app.openRoom(room);
    onNavigate();
  };

  return (
    <nav id="sidebar" class="sidebar" aria-label={t('nav.roomsAndPeople')} onScroll={moreMembers ? onScroll : undefined}>
      <section>
        <h2>{t('nav.rooms')}</h2>
        <ul class="list" data-testid="rooms">
          {rooms.map((room) => {
            const conv = convs[roomKey(room)];
            const unread = conv?.unread ?? 0;
            return (
              <li key={room}>
                <button
                  type="button"
                  class="item"
                  aria-current={active === roomKey(room) ? 'page' : undefined}
                  onClick={() => {
                    app.openRoom(room);
                    onNavigate();
                  }}
                >
                  <span class="grow">#{room}</span>
                  {unread > 0 ? (
                    <span class="badge" data-testid="unread">
                      <span aria-hidden="true">{unread}</span>
                      <span class="sr-only">{t('nav.unread', { count: unread })}</span>
                    </span>
                  ) : null}
                </button>
              </li>
            );
          })}
        </ul>
        <form class="inline-form" onSubmit={join}>
          <label for="new-room" class="sr-only">
            {t('nav.joinLabel')}
          </label>
          <input
            id="new-room"
            placeholder={t('nav.roomPlaceholder')}
            maxLength={ROOM_MAX}
            value={newRoom.value}
            onInput={(e) => (newRoom.value = e.currentTarget.value)}
            aria-describedby="room-problem"
          />
          <button type="submit">{t('nav.join')}</button>
        </form>
        <p id="room-problem" class="problem" role="alert">
          {roomProblem.value
            ? t('nav.roomInvalid')
            : notice
              ? t('nav.joinFailed', { room: notice.room, reason: serverErrorText(t, notice.code) })
              : null}
        </p>
      </section>
      {dms.length > 0 ? (
        <section>
          <h2>{t('nav.directMessages')}</h2>
          <ul class="list" data-testid="dms">
            {dms.map((c) => (
              <li key={c.key}>
                <button
                  type="button"
                  class="item"
                  aria-current={active === c.key ? 'page' : undefined}
                  onClick={() => {
                    chat.open(c.key);
                    onNavigate();
                  }}
                >
                  <span class="grow">{chat.people.value.get(c.target)?.name ?? c.title}</span>
                  {c.unread > 0 ? (
                    <span class="badge">
                      <span aria-hidden="true">{c.unread}</span>
                      <span class="sr-only">{t('nav.unread', { count: c.unread })}</span>
                    </span>
                  ) : null}
                </button>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {roomName ? (
        <section>
          <h2>
            {t('nav.people', { room: roomName })}{' '}
            <span class="count" aria-hidden="true">
              ({count})
            </span>
            <span class="sr-only">{t('nav.peopleCount', { count })}</span>
          </h2>
          <ul class="list" data-testid="members">
            {members.map((m) => (
              <MemberRow
                key={m.id}
                member={m}
                self={m.id === self?.id}
                inRoomCall={roomCall?.participants.some((p) => p.id === m.id) ?? false}
                app={app}
                onNavigate={onNavigate}
              />
            ))}
          </ul>
          {moreMembers ? (
            <button
              type="button"
              class="link"
              data-testid="more-members"
              disabled={roomInfo?.loading}
              onClick={loadMore}
            >
              {t('nav.moreMembers', { count: Math.max(0, count - members.length) })}
            </button>
          ) : null}
        </section>
      ) : null}
      <section class="settings">
        <LanguagePicker app={app} id="sidebar-language" />
      </section>
    </nav>
  );
}

function MemberRow(props: {
  member: Member;
  self: boolean;
  /** In the call of the room whose list this is. */
  inRoomCall: boolean;
  app: Parley;
  onNavigate: () => void;
}): JSX.Element {
  const { member, self, app } = props;
  const { t } = app.i18n;
  const inCall = app.calls.busy || app.roomCalls.busy;
  const canChat = member.kind !== 'login';
  return (
    <li class="member" data-testid="member" data-name={member.name}>
      <span class={`dot presence-${member.presence}`} aria-hidden="true" />
      <span class="grow">
        <span class="member-name">{member.name}</span>
        {self ? <span class="muted"> {t('member.you')}</span> : null}
        {props.inRoomCall ? (
          <span class="in-room-call" data-testid="in-room-call" title={t('group.memberInCall')}>
            {' '}
            <svg aria-hidden="true" viewBox="0 0 24 24" width="14" height="14" fill="currentColor">
              <path d="M3 7a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v2.5l4.3-2.9A1 1 0 0 1 22 7.4v9.2a1 1 0 0 1-1.7.8L16 14.5V17a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" />
            </svg>
            <span class="sr-only">{t('group.memberInCall')}</span>
          </span>
        ) : null}
        <span class="muted presence"> {t(`presence.${member.presence}`)}</span>
      </span>
      {self ? null : (
        <span class="actions">
          {canChat ? (
            <button
              type="button"
              class="icon"
              aria-label={t('member.message', { name: member.name })}
              title={t('member.messageShort')}
              onClick={() => {
                app.chat.open(dmKey(member.id));
                props.onNavigate();
              }}
            >
              ✉
            </button>
          ) : null}
          <button
            type="button"
            class="icon"
            aria-label={t('member.voiceCall', { name: member.name })}
            title={t('member.voiceCallShort')}
            data-testid="call-audio"
            disabled={inCall}
            onClick={() => void app.calls.invite(member, 'audio')}
          >
            ☎
          </button>
          <button
            type="button"
            class="icon"
            aria-label={t('member.videoCall', { name: member.name })}
            title={t('member.videoCallShort')}
            data-testid="call-video"
            disabled={inCall}
            onClick={() => void app.calls.invite(member, 'video')}
          >
            ▶
          </button>
        </span>
      )}
    </li>
  );
}
