import { useSignal } from '@preact/signals';
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { explainMediaError, type MediaProblem } from '../call/media.js';
import type { I18n } from '../i18n/I18n.js';
import { mediaProblemText } from './words.js';

/** A still is as big as a call's camera frame can be, which keeps the JPEG well under a megabyte. */
const CAMERA: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 } };
const JPEG_QUALITY = 0.85;

type Step =
  | { kind: 'starting' }
  | { kind: 'live' }
  | { kind: 'preview'; blob: Blob; url: string; width: number; height: number }
  | { kind: 'problem'; problem: MediaProblem };

/**
 * "Take a photo": the camera's preview, a still captured from it (canvas → JPEG), and that still
 * to look at before sending or taking again. Loaded only when the user opens it, so the app's
 * first load does not carry it. The camera is released when the dialog closes.
 */
export function PhotoCapture(props: {
  i18n: I18n;
  onSend: (blob: Blob) => void;
  onClose: () => void;
}): JSX.Element {
  const { t } = props.i18n;
  const step = useSignal<Step>({ kind: 'starting' });
  const failed = useSignal(false);
  const video = useRef<HTMLVideoElement>(null);
  const stream = useRef<MediaStream | null>(null);
  const dialog = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let cancelled = false;
    const devices = navigator.mediaDevices as MediaDevices | undefined;
    if (!devices) {
      step.value = { kind: 'problem', problem: explainMediaError(new TypeError('no mediaDevices'), 'video') };
      return undefined;
    }
    devices.getUserMedia({ video: CAMERA, audio: false }).then(
      (s) => {
        if (cancelled) {
          for (const track of s.getTracks()) track.stop();
          return;
        }
        stream.current = s;
        if (video.current) video.current.srcObject = s;
        step.value = { kind: 'live' };
      },
      (error: unknown) => {
        if (!cancelled) step.value = { kind: 'problem', problem: explainMediaError(error, 'video') };
      },
    );
    return () => {
      cancelled = true;
      for (const track of stream.current?.getTracks() ?? []) track.stop();
      stream.current = null;
    };
  }, []);

  // The preview's object URL lives as long as the preview.
  const current = step.value;
  useEffect(() => {
    if (current.kind !== 'preview') return undefined;
    return () => {
      URL.revokeObjectURL(current.url);
    };
  }, [current]);

  useEffect(() => {
    dialog.current?.focus();
  }, []);

  const capture = (): void => {
    const v = video.current;
    if (!v || v.videoWidth === 0) return;
    const canvas = document.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext('2d')?.drawImage(v, 0, 0, canvas.width, canvas.height);
    const { width, height } = canvas;
    canvas.toBlob(
      (blob) => {
        if (!blob) {
          failed.value = true;
          return;
        }
        failed.value = false;
        step.value = { kind: 'preview', blob, url: URL.createObjectURL(blob), width, height };
      },
      'image/jpeg',
      JPEG_QUALITY,
    );
  };

  const send = (): void => {
    if (current.kind !== 'preview') return;
    props.onSend(current.blob);
    props.onClose();
  };

  return (
    <div class="photo-backdrop">
      <div
        class="photo-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="photo-title"
        tabIndex={-1}
        ref={dialog}
        data-testid="photo-dialog"
        data-step={current.kind}
        onKeyDown={(e) => {
          if (e.key === 'Escape') props.onClose();
        }}
      >
        <h2 id="photo-title">{t('photo.title')}</h2>
        <div class="photo-stage">
          <video
            ref={video}
            autoplay
            playsInline
            muted
            aria-label={t('photo.cameraLabel')}
            data-testid="photo-video"
            hidden={current.kind !== 'live' && current.kind !== 'starting'}
          />
          {current.kind === 'preview' ? (
            <img
              src={current.url}
              width={current.width}
              height={current.height}
              alt={t('photo.previewLabel')}
              data-testid="photo-preview"
            />
          ) : null}
          {current.kind === 'starting' ? <p class="muted">{t('photo.startingCamera')}</p> : null}
          {current.kind === 'problem' ? (
            <p class="problem" role="alert" data-testid="photo-problem">
              {mediaProblemText(t, current.problem)}
            </p>
          ) : null}
          {failed.value ? (
            <p class="problem" role="alert">
              {t('photo.failed')}
            </p>
          ) : null}
        </div>
        <div class="photo-actions">
          {current.kind === 'preview' ? (
            <>
              <button type="button" data-testid="photo-retake" onClick={() => (step.value = { kind: 'live' })}>
                {t('photo.retake')}
              </button>
              <button type="button" class="primary" data-testid="photo-send" onClick={send}>
                {t('photo.send')}
              </button>
            </>
          ) : (
            <button
              type="button"
              class="primary"
              data-testid="photo-capture"
              disabled={current.kind !== 'live'}
              onClick={capture}
            >
              {t('photo.capture')}
            </button>
          )}
          <button type="button" data-testid="photo-cancel" onClick={props.onClose}>
            {t('photo.cancel')}
          </button>
        </div>
      </div>
    </div>
  );
}
