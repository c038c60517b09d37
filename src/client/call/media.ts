import type { CallMedia } from '../../protocol/protocol.js';

/** Why the camera or microphone could not be used, in words a user can act on. */
export interface MediaProblem {
  /** The DOMException name, e.g. NotAllowedError. */
  code: string;
  message: string;
}

export interface LocalMedia {
  stream: MediaStream | null;
  /** What we ended up with: video needs a camera track. */
  media: CallMedia;
  /** Set when we got less than asked for (voice instead of video) or nothing at all. */
  problem: MediaProblem | null;
}

const DEVICE = { audio: 'microphone', video: 'camera' } as const;

export function explainMediaError(error: unknown, what: 'audio' | 'video'): MediaProblem {
  const name = error instanceof DOMException || error instanceof Error ? error.name : 'Error';
  const device = DEVICE[what];
  switch (name) {
    case 'NotFoundError':
    case 'OverconstrainedError':
      return { code: name, message: `No ${device} was found. Connect one and try again.` };
    case 'NotAllowedError':
    case 'SecurityError':
      return {
        code: name,
        message: `Permission to use the ${device} was denied. Allow it in the browser's site settings (the icon left of the address), then try again.`,
      };
    case 'NotReadableError':
    case 'AbortError':
      return {
        code: name,
        message: `The ${device} is busy or failed to start. Close other apps or tabs using it and try again.`,
      };
    case 'TypeError':
      return {
        code: name,
        message: 'This page cannot use the camera or microphone: it needs HTTPS (or localhost).',
      };
    default:
      return { code: name, message: `The ${device} could not be used (${name}).` };
  }
}

/**
 * Gets the microphone, and the camera for a video call. Without a camera the call carries on as
 * voice; without a microphone either, it carries on receive-only. Each failure is explained.
 */
export async function acquireMedia(wanted: CallMedia): Promise<LocalMedia> {
  const devices = navigator.mediaDevices as MediaDevices | undefined;
  if (!devices) {
    return { stream: null, media: 'audio', problem: explainMediaError(new TypeError(), 'audio') };
  }
  let videoProblem: MediaProblem | null = null;
  if (wanted === 'video') {
    try {
      const stream = await devices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
      return { stream, media: 'video', problem: null };
    } catch (error) {
      videoProblem = explainMediaError(error, 'video');
    }
  }
  try {
    const stream = await devices.getUserMedia({ audio: true, video: false });
    const problem = videoProblem && {
      code: videoProblem.code,
      message: `${videoProblem.message} The call is voice only.`,
    };
    return { stream, media: 'audio', problem };
  } catch (error) {
    const problem = explainMediaError(error, 'audio');
    return {
      stream: null,
      media: 'audio',
      problem: { code: problem.code, message: `${problem.message} You can still hear the other side.` },
    };
  }
}
