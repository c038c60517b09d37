import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { CallView, EndReason } from '../call/CallController.js';
import type { Parley } from '../Parley.js';
import { useTick } from './hooks.js';
import { formatDuration } from './text.js';

const ENDED: Record<EndReason, string> = {
  declined: 'Declined',
  busy: 'Busy: they are in another call',
  cancelled: 'Call cancelled',
  timeout: 'No answer',
  hangup: 'Call ended',
  disconnected: 'Call ended: the connection was lost',
  unavailable: 'They are not available',
  error: 'Call failed',
};

/** Calls: outgoing, incoming, in progress and just ended. Renders nothing when idle. */
export function CallPanel({ app }: { app: Parley }): JSX.Element | null {
  const v = app.calls.view.value;
  if (v.state === 'idle') return null;
  const name = v.peer?.name ?? 'someone';
  const calls = app.calls;
  return (
    <section
      class={`call call-${v.state}`}
      role={v.state === 'incoming' ? 'alertdialog' : 'region'}
      aria-label={`Call with ${name}`}
      data-testid="call"
      data-state={v.state}
    >
      {v.state === 'incoming' ? <Incoming v={v} app={app} /> : null}
      {v.state === 'outgoing' ? (
        <div class="call-card">
          <p class="call-title" data-testid="call-status">
            {v.preparing ? 'Starting camera…' : v.ringing ? `Ringing ${name}…` : `Calling ${name}…`}
          </p>
          <MediaProblemNote v={v} />
          <div class="call-controls">
            <button type="button" class="danger" onClick={() => { calls.hangup(); }} data-testid="cancel-call">
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {v.state === 'connecting' || v.state === 'active' ? <InCall v={v} app={app} /> : null}
      {v.state === 'ended' ? (
        <div class="call-card">
          <p class="call-title" data-testid="call-status" role="status">
            {ENDED[v.endReason ?? 'hangup']}
            {v.peer ? ` — ${name}` : ''}
          </p>
          {v.error ? <p class="problem">{v.error}</p> : null}
          <MediaProblemNote v={v} />
          <div class="call-controls">
            <button type="button" onClick={() => { calls.dismiss(); }} data-testid="dismiss-call">
              Close
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
  const name = v.peer?.name ?? 'someone';
  return (
    <div class="call-card incoming">
      <p class="call-title" data-testid="call-status">
        {name} is calling ({v.media === 'video' ? 'video' : 'voice'})
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
            Accept with video
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
          Accept voice only
        </button>
        <button type="button" class="danger" onClick={() => { app.calls.decline(); }} data-testid="decline-call">
          Decline
        </button>
      </div>
    </div>
  );
}

function InCall({ v, app }: { v: CallView; app: Parley }): JSX.Element {
  const now = useTick(1000, v.state === 'active');
  const name = v.peer?.name ?? 'someone';
  const recovering = v.link === 'disconnected' || v.link === 'failed';
  const hasCamera = (v.local?.getVideoTracks().length ?? 0) > 0;
  const showRemoteVideo = v.media === 'video' && v.peerVideo;
  let status: string;
  if (v.state === 'connecting') status = `Connecting to ${name}…`;
  else if (recovering) status = 'Reconnecting…';
  else status = `${name} · ${formatDuration(now - (v.startedAt ?? now))}`;
  return (
    <div class={`in-call${v.media === 'video' ? ' video' : ' voice'}`}>
      <div class="stage">
        <Video stream={v.remote} muted={false} class={`remote${showRemoteVideo ? '' : ' hidden'}`} testId="remote-video" />
        {showRemoteVideo ? null : <div class="avatar" aria-hidden="true">{name.slice(0, 1).toUpperCase()}</div>}
        {hasCamera ? (
          <Video stream={v.local} muted class={`local${v.camOn ? '' : ' hidden'}`} testId="local-video" />
        ) : null}
      </div>
      <p class="call-title" data-testid="call-status" role="status">
        {status}
      </p>
      <p class="peer-state" data-testid="peer-media">
        {v.peerAudio ? '' : `${name} is muted. `}
        {v.media === 'video' && !v.peerVideo ? `${name}'s camera is off.` : ''}
        {v.signalingLost ? ' (server connection lost; the call continues directly)' : ''}
      </p>
      {v.error ? <p class="problem">{v.error}</p> : null}
      <MediaProblemNote v={v} />
      <div class="call-controls">
        <button type="button" aria-pressed={!v.micOn} onClick={() => { app.calls.toggleMic(); }} data-testid="toggle-mic" disabled={!v.local?.getAudioTracks().length}>
          {v.micOn ? 'Mute' : 'Unmute'}
        </button>
        <button type="button" aria-pressed={!v.camOn} onClick={() => { app.calls.toggleCamera(); }} data-testid="toggle-camera" disabled={!hasCamera}>
          {v.camOn && hasCamera ? 'Camera off' : 'Camera on'}
        </button>
        <button type="button" class="danger" onClick={() => { app.calls.hangup(); }} data-testid="hangup">
          Hang up
        </button>
      </div>
    </div>
  );
}

function MediaProblemNote({ v }: { v: CallView }): JSX.Element | null {
  if (!v.mediaProblem) return null;
  return (
    <p class="problem" role="alert" data-testid="media-problem" data-code={v.mediaProblem.code}>
      {v.mediaProblem.message}
    </p>
  );
}

function Video(props: { stream: MediaStream | null; muted: boolean; class: string; testId: string }): JSX.Element {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || el.srcObject === props.stream) return;
    el.srcObject = props.stream;
    if (props.stream) void el.play().catch(() => undefined);
  }, [props.stream]);
  return <video ref={ref} class={props.class} autoplay playsInline muted={props.muted} data-testid={props.testId} />;
}
