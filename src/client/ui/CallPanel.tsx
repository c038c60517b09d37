import type { JSX } from 'preact';
import { useSignal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { CallView } from '../call/CallController.js';
import type { Parley } from '../Parley.js';
import { useTick, useVideoStream } from './hooks.js';
import { DevicePanel } from './DevicePanel.js';
import { StatsPanel } from './StatsPanel.js';
import { formatDuration } from './text.js';
import { callErrorText, mediaProblemText } from './words.js';

/** Calls: outgoing, incoming, in progress and just ended. Renders nothing when idle. */
export function CallPanel({ app }: { app: Parley }): JSX.Element | null {
  const v = app.calls.view.value;
  const { t } = app.i18n;
  if (v.state === 'idle') return null;
  const name = v.peer?.name ?? t('call.someone');
  const calls = app.calls;
  const inCall = v.state === 'connecting' || v.state === 'active';
  // A callee that accepted connects while its camera and microphone open; the call view (its
  // video elements, layout and paint) waits for them, so as not to slow them down, and for the
  // server's word that the call is on.
  const starting = (inCall && v.preparing) || (v.state === 'incoming' && v.accepted);
  return (
    <section
      class={`call call-${starting ? 'starting' : v.state}`}
      role={v.state === 'incoming' && !starting ? 'alertdialog' : 'region'}
      aria-label={t('call.with', { name })}
      data-testid="call"
      data-state={v.state}
    >
      {v.state === 'incoming' && !starting ? <Incoming v={v} app={app} /> : null}
      {v.state === 'outgoing' ? (
        <div class="call-card">
          <p class="call-title" data-testid="call-status">
            {v.preparing
              ? t(startingKey(v))
              : v.ringing
                ? t('call.ringing', { name })
                : t('call.calling', { name })}
          </p>
          <MediaProblemNote v={v} app={app} />
          <div class="call-controls">
            <button type="button" class="danger" onClick={() => { calls.hangup(); }} data-testid="cancel-call">
              {t('call.cancel')}
            </button>
          </div>
        </div>
      ) : null}
      {starting ? (
        <div class="call-card">
          <p class="call-title" data-testid="call-status" role="status">
            {v.preparing ? t(startingKey(v)) : t('call.connecting', { name })}
          </p>
          <div class="call-controls">
            <button type="button" class="danger" onClick={() => { calls.hangup(); }} data-testid="hangup">
              {t('call.hangUp')}
            </button>
          </div>
        </div>
      ) : inCall ? (
        <InCall v={v} app={app} />
      ) : null}
      {v.state === 'ended' ? (
        <div class="call-card">
          <p class="call-title" data-testid="call-status" role="status">
            {t(`ended.${v.endReason ?? 'hangup'}`)}
            {v.peer ? ` — ${name}` : ''}
          </p>
          {v.error ? <p class="problem">{callErrorText(t, v.error)}</p> : null}
          <MediaProblemNote v={v} app={app} />
          {app.calls.files.value ? <Files app={app} name={name} live={false} /> : null}
          <div class="call-controls">
            <button type="button" onClick={() => { calls.dismiss(); }} data-testid="dismiss-call">
              {t('call.close')}
            </button>
          </div>
        </div>
      ) : null}
    </section>
  );
}

function Incoming({ v, app }: { v: CallView; app: Parley }): JSX.Element {
  const accept = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    accept.current?.focus();
  }, []);
  const { t } = app.i18n;
  const name = v.peer?.name ?? t('call.someone');
  return (
    <div class="call-card incoming">
      <p class="call-title" data-testid="call-status">
        {v.media === 'video' ? t('call.incomingVideo', { name }) : t('call.incomingVoice', { name })}
      </p>
      <div class="call-controls">
        {v.media === 'video' ? (
          <button
            type="button"
            class="primary"
            ref={accept}
            disabled={v.preparing}
            onClick={() => void app.calls.accept('video')}
            data-testid="accept-video"
          >
            {t('call.acceptVideo')}
          </button>
        ) : null}
        <button
          type="button"
          class="primary"
          ref={v.media === 'video' ? undefined : accept}
          disabled={v.preparing}
          onClick={() => void app.calls.accept('audio')}
          data-testid="accept-audio"
        >
          {t('call.acceptVoice')}
        </button>
        <button type="button" class="danger" onClick={() => { app.calls.decline(); }} data-testid="decline-call">
          {t('call.decline')}
        </button>
      </div>
    </div>
  );
}

function InCall({ v, app }: { v: CallView; app: Parley }): JSX.Element {
  const { t } = app.i18n;
  const now = useTick(1000, v.state === 'active');
  const statsOpen = useSignal(false);
  const devicesOpen = useSignal(false);
  const speaker = app.devices.speakerSupported ? app.devices.chosen.value.speaker : undefined;
  const name = v.peer?.name ?? t('call.someone');
  const recovering = v.link === 'disconnected' || v.link === 'failed';
  const hasCamera = (v.local?.getVideoTracks().length ?? 0) > 0;
  // A shared screen shows even in a voice call or with the peer's camera off.
  const showRemoteVideo = (v.media === 'video' && v.peerVideo) || v.peerScreen;
  let status: string;
  if (v.state === 'connecting') status = t('call.connecting', { name });
  else if (recovering) status = t('call.reconnecting');
  else status = `${name} · ${formatDuration(now - (v.startedAt ?? now))}`;
  return (
    <div class={`in-call${v.media === 'video' ? ' video' : ' voice'}`}>
      <div class="stage">
        <Video
          stream={v.remote}
          muted={false}
          class={`remote${showRemoteVideo ? '' : ' hidden'}`}
          testId="remote-video"
          sinkId={speaker}
          onSinkFailed={() => {
            app.devices.speakerFailed();
          }}
        />
        {showRemoteVideo ? null : <div class="avatar" aria-hidden="true">{name.slice(0, 1).toUpperCase()}</div>}
        {v.screen ? (
          <Video stream={v.screen} muted class="local screen" testId="local-video" />
        ) : hasCamera ? (
          <Video stream={v.local} muted class={`local${v.camOn ? '' : ' hidden'}`} testId="local-video" />
        ) : null}
      </div>
      <p class="call-title" data-testid="call-status" role="status">
        {status}
      </p>
      <p class="peer-state" data-testid="peer-media">
        {[
          v.peerAudio ? '' : t('call.peerMuted', { name }),
          v.media === 'video' && !v.peerVideo && !v.peerScreen ? t('call.peerCameraOff', { name }) : '',
          v.peerScreen ? t('share.peer', { name }) : '',
          v.signalingLost ? t('call.signalingLost') : '',
        ]
          .filter(Boolean)
          .join(' ')}
      </p>
      {v.share === 'on' ? (
        <p class="peer-state" role="status" data-testid="sharing">
          {t('share.you')}
        </p>
      ) : null}
      {v.shareProblem ? (
        <p class="problem" role="alert" data-testid="share-problem" data-code={v.shareProblem.code}>
          {v.shareProblem.reason === 'denied' ? t('share.denied') : t('share.failed', { code: v.shareProblem.code })}
        </p>
      ) : null}
      {v.error ? <p class="problem">{callErrorText(t, v.error)}</p> : null}
      <MediaProblemNote v={v} app={app} />
      {app.devices.fallback.value ? (
        <p class="note" role="status" data-testid="device-fallback">
          {t('devices.fallback')}
        </p>
      ) : null}
      {v.deviceProblem ? (
        <p class="problem" role="alert" data-testid="device-problem" data-code={v.deviceProblem.code}>
          {t('devices.switchFailed', { reason: mediaProblemText(t, v.deviceProblem) })}
        </p>
      ) : null}
      {app.calls.files.value && v.state === 'active' ? <Files app={app} name={name} live /> : null}
      {devicesOpen.value ? <DevicePanel app={app} v={v} id="call-devices" /> : null}
      {statsOpen.value ? <StatsPanel app={app} id="call-stats" /> : null}
      <div class="call-controls">
        <button type="button" aria-pressed={!v.micOn} onClick={() => { app.calls.toggleMic(); }} data-testid="toggle-mic" disabled={!v.local?.getAudioTracks().length}>
          {v.micOn ? t('call.mute') : t('call.unmute')}
        </button>
        <button type="button" aria-pressed={!v.camOn} onClick={() => { app.calls.toggleCamera(); }} data-testid="toggle-camera" disabled={!hasCamera}>
          {v.camOn && hasCamera ? t('call.cameraOff') : t('call.cameraOn')}
        </button>
        {app.calls.canShareScreen ? (
          <button
            type="button"
            aria-pressed={v.share === 'on'}
            disabled={v.state !== 'active' || v.share === 'starting'}
            onClick={() => {
              if (v.share === 'on') app.calls.stopScreenShare();
              else void app.calls.startScreenShare();
            }}
            data-testid="toggle-share"
          >
            {v.share === 'on' ? t('share.stop') : v.share === 'starting' ? t('share.starting') : t('share.start')}
          </button>
        ) : null}
        <button
          type="button"
          aria-expanded={devicesOpen.value}
          aria-controls="call-devices"
          onClick={() => (devicesOpen.value = !devicesOpen.value)}
          data-testid="toggle-devices"
        >
          {t('devices.button')}
        </button>
        <button
          type="button"
          aria-expanded={statsOpen.value}
          aria-controls="call-stats"
          onClick={() => (statsOpen.value = !statsOpen.value)}
          data-testid="toggle-stats"
        >
          {t('stats.button')}
        </button>
        <button type="button" class="danger" onClick={() => { app.calls.hangup(); }} data-testid="hangup">
          {t('call.hangUp')}
        </button>
      </div>
    </div>
  );
}

type FilesModule = typeof import('./FilesPanel.js');
let filesModule: FilesModule | null = null;

/** The file-transfer UI, fetched the first time a call shows it (it is a chunk of its own). */
function Files(props: { app: Parley; name: string; live: boolean }): JSX.Element | null {
  const [mod, setMod] = useState(filesModule);
  useEffect(() => {
    if (mod) return;
    import('./FilesPanel.js').then(
      (m) => {
        filesModule = m;
        setMod(m);
      },
      (error: unknown) => {
        console.warn('file transfer UI unavailable', error);
      },
    );
  }, [mod]);
  return mod ? <mod.FilesPanel {...props} /> : null;
}

/** What opens while `preparing`: the camera (with the microphone) for video, the microphone for voice. */
function startingKey(v: CallView): 'call.startingCamera' | 'call.startingMicrophone' {
  return v.media === 'video' ? 'call.startingCamera' : 'call.startingMicrophone';
}

function MediaProblemNote({ v, app }: { v: CallView; app: Parley }): JSX.Element | null {
  if (!v.mediaProblem) return null;
  return (
    <p class="problem" role="alert" data-testid="media-problem" data-code={v.mediaProblem.code}>
      {mediaProblemText(app.i18n.t, v.mediaProblem)}
    </p>
  );
}

function Video(props: {
  stream: MediaStream | null;
  muted: boolean;
  class: string;
  testId: string;
  /** The audio output device ('' = default); undefined where the browser cannot choose. */
  sinkId?: string | undefined;
  onSinkFailed?: () => void;
}): JSX.Element {
  const ref = useRef<HTMLVideoElement>(null);
  const { sinkId, onSinkFailed } = props;
  useEffect(() => {
    const el = ref.current;
    if (!el || sinkId === undefined || el.sinkId === sinkId) return;
    el.setSinkId(sinkId).catch(() => onSinkFailed?.());
  }, [sinkId, onSinkFailed]);
  useVideoStream(ref, props.stream);
  return <video ref={ref} class={props.class} autoplay playsInline muted={props.muted} data-testid={props.testId} />;
}
