import { useSignal } from '@preact/signals';
import type { JSX } from 'preact';
import { type Member, normalizeRoom, ROOM_MAX } from '../../protocol/protocol.js';
import { dmKey, roomKey } from '../chat/ChatStore.js';
import type { Parley } from '../Parley.js';

const PRESENCE_LABEL = { online: 'online', away: 'away', inCall: 'in a call' } as const;

export function Sidebar({ app, onNavigate }: { app: Parley; onNavigate: () => void }): JSX.Element {
  const chat = app.chat;
  const convs = chat.conversations.value;
  const active = chat.active.value;
  const rooms = chat.joinedRooms.value;
  const dms = Object.values(convs).filter((c) => c.kind === 'dm');
  const activeConv = convs[active];
  const roomName = activeConv?.kind === 'room' ? activeConv.target : null;
  const members = roomName ? (chat.members.value[roomName] ?? []) : [];
  const self = app.signaling.user.value;
  const newRoom = useSignal('');
  const roomProblem = useSignal<string | null>(null);

  const join = (event: Event): void => {
    event.preventDefault();
    const room = normalizeRoom(newRoom.value);
    if (room === null) {
      roomProblem.value = 'Room names are 1–32 of a–z, 0–9, - and _.';
      return;
    }
    roomProblem.value = null;
    newRoom.value = '';
    app.openRoom(room);
    onNavigate();
  };

  return (
    <nav id="sidebar" class="sidebar" aria-label="Rooms and people">
      <section>
        <h2>Rooms</h2>
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
                      {unread}
                      <span class="sr-only"> unread</span>
                    </span>
                  ) : null}
                </button>
              </li>
            );
          })}
        </ul>
        <form class="inline-form" onSubmit={join}>
          <label for="new-room" class="sr-only">
            Create or join a room
          </label>
          <input
            id="new-room"
            placeholder="room-name"
            maxLength={ROOM_MAX}
            value={newRoom.value}
            onInput={(e) => (newRoom.value = e.currentTarget.value)}
            aria-describedby="room-problem"
          />
          <button type="submit">Join</button>
        </form>
        <p id="room-problem" class="problem" role="alert">
          {roomProblem.value ?? chat.notice.value}
        </p>
      </section>
      {dms.length > 0 ? (
        <section>
          <h2>Direct messages</h2>
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
                  {c.unread > 0 ? <span class="badge">{c.unread}</span> : null}
                </button>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {roomName ? (
        <section>
          <h2>
            People in #{roomName} <span class="count">({members.length})</span>
          </h2>
          <ul class="list" data-testid="members">
            {members.map((m) => (
              <MemberRow
                key={m.id}
                member={m}
                self={m.id === self?.id}
                app={app}
                onNavigate={onNavigate}
              />
            ))}
          </ul>
        </section>
      ) : null}
    </nav>
  );
}

function MemberRow(props: {
  member: Member;
  self: boolean;
  app: Parley;
  onNavigate: () => void;
}): JSX.Element {
  const { member, self, app } = props;
  const inCall = app.calls.busy;
  const canChat = member.kind !== 'login';
  return (
    <li class="member" data-testid="member" data-name={member.name}>
      <span class={`dot presence-${member.presence}`} aria-hidden="true" />
      <span class="grow">
        <span class="member-name">{member.name}</span>
        {self ? <span class="muted"> (you)</span> : null}
        <span class="muted presence"> {PRESENCE_LABEL[member.presence]}</span>
      </span>
      {self ? null : (
        <span class="actions">
          {canChat ? (
            <button
              type="button"
              class="icon"
              aria-label={`Message ${member.name}`}
              title="Message"
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
            aria-label={`Voice call ${member.name}`}
            title="Voice call"
            disabled={inCall}
            onClick={() => void app.calls.invite(member, 'audio')}
          >
            ☎
          </button>
          <button
            type="button"
            class="icon"
            aria-label={`Video call ${member.name}`}
            title="Video call"
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
