import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Parley } from '../Parley.js';

/**
 * The first-load part of group calls: the room header's join button and the slot where the call's
 * grid appears. The grid (GroupCallPanel) and the call itself are fetched on the first join.
 */
export function RoomCallButton({ app, room }: { app: Parley; room: string }): JSX.Element {
  const { t } = app.i18n;
  const directory = app.roomCalls;
  const count = directory.calls.value[room]?.participants.length ?? 0;
  const active = directory.active.value;
  const state = active?.view.value.state;
  if (active?.room === room && (state === 'joining' || state === 'active')) {
    return (
      <button type="button" class="danger" data-testid="group-leave" onClick={() => { active.leave(); }}>
        {t('group.leave')}
      </button>
    );
  }
  const busyElsewhere = app.calls.busy || directory.busy;
  return (
    <>
      <button
        type="button"
        class="primary"
        data-testid="group-join"
        data-count={count}
        disabled={busyElsewhere || app.signaling.state.value !== 'open'}
        title={busyElsewhere ? t('group.busyElsewhere') : undefined}
        onClick={() => void directory.join(room, 'video')}
      >
        {count > 0 ? t('group.join', { count }) : t('group.start')}
      </button>
      {directory.loadFailed.value ? (
        <p class="problem" role="alert" data-testid="group-load-failed">
          {t('group.loadFailed')}
        </p>
      ) : null}
    </>
  );
}

type PanelModule = typeof import('./GroupCallPanel.js');
let panelModule: PanelModule | null = null;

/** The group call's grid, fetched the first time there is a call to show. */
export function GroupCallSlot({ app }: { app: Parley }): JSX.Element | null {
  const call = app.roomCalls.active.value;
  const [mod, setMod] = useState(panelModule);
  useEffect(() => {
    if (!call || mod) return;
    import('./GroupCallPanel.js').then(
      (m) => {
        panelModule = m;
        setMod(m);
      },
      (error: unknown) => {
        console.warn('group call UI unavailable', error);
        app.roomCalls.loadFailed.value = true;
        call.leave();
      },
    );
  }, [call, mod, app]);
  return call && mod ? <mod.GroupCallPanel app={app} call={call} /> : null;
}
