import type { CallMedia } from '../../protocol/protocol.js';

/**
 * Why the camera or microphone could not be used. The UI turns `reason` and `device` into words
 * the user can act on, in their language.
 */
export interface MediaProblem {
  /** The DOMException name, e.g. NotAllowedError. */
  code: string;
  reason: 'notFound' | 'denied' | 'busy' | 'insecure' | 'other';
  device: 'camera' | 'microphone';
  /**
   * How the call carries on: voice only (no camera), without this side's video (no camera, in a
   * video call already accepted: the other side's video still comes), or receive-only (no
   * microphone either).
   */
  fallback: 'voiceOnly' | 'noVideo' | 'receiveOnly' | null;
}

export interface LocalMedia {
  stream: MediaStream | null;
  /** What we ended up with: video needs a camera track. */
  media: CallMedia;
  /** Set when we got less than asked for (voice instead of video) or nothing at all. */
  problem: MediaProblem | null;
}

export function explainMediaError(error: unknown, what: 'audio' | 'video'): MediaProblem {
  const code = error instanceof DOMException || error instanceof Error ? error.name : 'Error';
  const device = what === 'video' ? 'camera' : 'microphone';
  let reason: MediaProblem['reason'];
  switch (code) {
    case 'NotFoundError':
    case 'OverconstrainedError':
      reason = 'notFound';
      break;
    case 'NotAllowedError':
    case 'SecurityError':
      reason = 'denied';
      break;
    case 'NotReadableError':
    case 'AbortError':
      reason = 'busy';
      break;
    case 'TypeError':
      reason = 'insecure';
      break;
    default:
      reason = 'other';
  }
  return { code, reason, device, fallback: null };
}

/** The camera size we ask for: enough for a call window, light on CPU and bandwidth. */
const VIDEO: MediaTrackConstraints = { width: 640, height: 480 };

/**
 * Opens one device for a mid-call switch. `exact`, unlike the `ideal` of a call's start: the user
 * picked this device, so another one would be a surprise; failing says why instead.
 */
export async function openDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<MediaStreamTrack> {
  const id = deviceId ? { deviceId: { exact: deviceId } } : {};
  const stream = await navigator.mediaDevices.getUserMedia(
    kind === 'camera' ? { video: { ...VIDEO, ...id } } : { audio: id },
  );
  const track = stream.getTracks()[0];
  if (!track) throw new DOMException('no track', 'NotFoundError');
  return track;
}

/**
 * Gets the microphone, and the camera for a video call. Without a camera the call carries on as
 * voice; without a microphone either, it carries on receive-only. Each failure is explained.
 */
export async function acquireMedia(
  wanted: CallMedia,
  pick: { camera?: MediaTrackConstraints; microphone?: MediaTrackConstraints } = {},
): Promise<LocalMedia> {
  const audio: MediaTrackConstraints | boolean = pick.microphone ? { ...pick.microphone } : true;
  const devices = navigator.mediaDevices as MediaDevices | undefined;
  if (!devices) {
    return { stream: null, media: 'audio', problem: explainMediaError(new TypeError(), 'audio') };
  }
  let videoProblem: MediaProblem | null = null;
  if (wanted === 'video') {
    try {
      const stream = await devices.getUserMedia({ audio, video: { ...VIDEO, ...pick.camera } });
      return { stream, media: 'video', problem: null };
    } catch (error) {
      videoProblem = explainMediaError(error, 'video');
    }
  }
  try {
    const stream = await devices.getUserMedia({ audio, video: false });
    const problem: MediaProblem | null = videoProblem && { ...videoProblem, fallback: 'voiceOnly' };
    return { stream, media: 'audio', problem };
  } catch (error) {
    return {
      stream: null,
      media: 'audio',
      problem: { ...explainMediaError(error, 'audio'), fallback: 'receiveOnly' },
    };
  }
}

/** Turns the first `kind` track of `stream` off if it was on, on if off: its new state, or null if there is none. */
export function toggleTrack(stream: MediaStream | null, kind: 'audio' | 'video'): boolean | null {
  const track = (kind === 'audio' ? stream?.getAudioTracks() : stream?.getVideoTracks())?.[0];
  if (!track) return null;
  track.enabled = !track.enabled;
  return track.enabled;
}

/** What the others should show of this side: each of microphone and camera on only if it exists. */
export function mediaState(v: { local: MediaStream | null; micOn: boolean; camOn: boolean }): {
  audio: boolean;
  video: boolean;
} {
  return {
    audio: v.micOn && (v.local?.getAudioTracks().length ?? 0) > 0,
    video: v.camOn && (v.local?.getVideoTracks().length ?? 0) > 0,
  };
}
