import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { GroupCall, PeerTile } from '../call/GroupCall.js';
import type { Parley } from '../Parley.js';
import { useVideoStream } from './hooks.js';
import { callErrorText, mediaProblemText } from './words.js';
import './groupCall.css';

/**
 * A room call: a grid of tiles (ours first, then the others in join order) with each one's name
 * and whether they are muted or have the camera off, and the mute, camera and leave buttons.
 * Loaded with the first join (RoomCall.tsx); it only reads `call.view`.
 */
export function GroupCallPanel({ app, call }: { app: Parley; call: GroupCall }): JSX.Element {
  const { t } = app.i18n;
  const v = call.view.value;
  const title = t('group.title', { room: v.room });
  const mic = useRef<HTMLButtonElement>(null);
  const active = v.state === 'active';
  useEffect(() => {
    // The join button that had focus is gone: bring keyboard users to the call's controls.
    if (active) mic.current?.focus();
  }, [active]);
  if (v.state === 'left') {
    return (
      <section class="call" role="region" aria-label={title} data-testid="group-call" data-state="left">
        <p class="call-title" data-testid="group-status" role="status">
          {v.lost ? t('ended.disconnected') : v.error ? t('group.failed', { reason: callErrorText(t, v.error) }) : t('ended.hangup')}
        </p>
        <div class="call-controls">
          <button type="button" onClick={() => { call.close(); }} data-testid="group-close">
            {t('call.close')}
          </button>
        </div>
      </section>
    );
  }
  const count = v.peers.length + 1;
  const self = app.signaling.user.value;
  const hasMic = (v.local?.getAudioTracks().length ?? 0) > 0;
  const hasCamera = (v.local?.getVideoTracks().length ?? 0) > 0;
  return (
    <section class="call group-call" role="region" aria-label={title} data-testid="group-call" data-state={v.state}>
      <p class="call-title" data-testid="group-status" role="status">
        {v.state === 'joining' ? t('group.joining') : `${title} · ${t('group.count', { count })}`}
      </p>
      <ul class="grid" data-count={count} data-testid="group-grid">
        <li class="tile self" data-testid="tile" data-name={self?.name ?? ''} data-self="true">
          {hasCamera ? <Video stream={v.local} muted class={v.camOn ? '' : 'hidden'} testId="tile-local-video" /> : null}
          {hasCamera && v.camOn ? null : <Avatar name={self?.name ?? '?'} />}
          <TileLabel
            name={t('group.you')}
            audio={v.micOn && hasMic}
            video={v.camOn && hasCamera}
            app={app}
            connecting={false}
          />
        </li>
        {v.peers.map((p) => (
          <PeerTileView key={p.id} peer={p} app={app} />
        ))}
      </ul>
      {v.state === 'active' && v.peers.length === 0 ? <p class="peer-state">{t('group.alone')}</p> : null}
      {v.error ? <p class="problem" role="alert">{callErrorText(t, v.error)}</p> : null}
      {v.mediaProblem ? (
        <p class="problem" role="alert" data-testid="media-problem" data-code={v.mediaProblem.code}>
          {mediaProblemText(t, v.mediaProblem)}
        </p>
      ) : null}
      <div class="call-controls">
        <button type="button" ref={mic} aria-pressed={!v.micOn} disabled={!hasMic} onClick={() => { call.toggleMic(); }} data-testid="group-mic">
          {v.micOn ? t('call.mute') : t('call.unmute')}
        </button>
        <button type="button" aria-pressed={!v.camOn} disabled={!hasCamera} onClick={() => { call.toggleCamera(); }} data-testid="group-camera">
          {v.camOn && hasCamera ? t('call.cameraOff') : t('call.cameraOn')}
        </button>
        <button type="button" class="danger" onClick={() => { call.leave(); }} data-testid="group-hangup">
          {t('group.leave')}
        </button>
      </div>
    </section>
  );
}

function PeerTileView({ peer, app }: { peer: PeerTile; app: Parley }): JSX.Element {
  const showVideo = peer.video && peer.stream !== null && peer.stream.getVideoTracks().length > 0;
  const connecting = peer.link !== 'connected';
  return (
    <li class="tile" data-testid="tile" data-name={peer.name} data-link={peer.link ?? 'new'}>
      {/* Always mounted: it also plays their voice while their camera is off. */}
      <Video stream={peer.stream} muted={false} class={showVideo ? '' : 'hidden'} testId="tile-video" />
      {showVideo ? null : <Avatar name={peer.name} />}
      <TileLabel name={peer.name} audio={peer.audio} video={peer.video} app={app} connecting={connecting} />
    </li>
  );
}

function TileLabel(props: { name: string; audio: boolean; video: boolean; connecting: boolean; app: Parley }): JSX.Element {
  const { t } = props.app.i18n;
  return (
    <span class="tile-label">
      <span class="tile-name">{props.name}</span>
      {props.audio ? null : <span data-testid="tile-muted">{t('group.muted')}</span>}
      {props.video ? null : <span data-testid="tile-camera-off">{t('group.cameraOff')}</span>}
      {props.connecting ? <span>{t('group.connecting')}</span> : null}
    </span>
  );
}

function Avatar({ name }: { name: string }): JSX.Element {
  return (
    <div class="avatar" aria-hidden="true">
      {name.slice(0, 1).toUpperCase()}
    </div>
  );
}

function Video(props: { stream: MediaStream | null; muted: boolean; class: string; testId: string }): JSX.Element {
  const ref = useRef<HTMLVideoElement>(null);
  useVideoStream(ref, props.stream);
  return <video ref={ref} class={props.class} autoplay playsInline muted={props.muted} data-testid={props.testId} />;
}
