import type { CallError } from '../call/CallController.js';
import type { MediaProblem } from '../call/media.js';
import type { I18n } from '../i18n/I18n.js';
import type { ErrorCode } from '../../protocol/protocol.js';

type T = I18n['t'];

/** A server error code in the user's language (the server's own text is English, for logs). */
export function serverErrorText(t: T, code: ErrorCode): string {
  return t(`error.${code}`);
}

/** A camera or microphone problem, with what to do about it and how the call carries on. */
export function mediaProblemText(t: T, p: MediaProblem): string {
  const main = p.reason === 'insecure' ? t('media.insecure') : p.reason === 'other'
    ? t(`media.other.${p.device}`, { code: p.code })
    : t(`media.${p.reason}.${p.device}`);
  return p.fallback ? `${main} ${t(`media.${p.fallback}`)}` : main;
}

export function callErrorText(t: T, e: CallError): string {
  switch (e.kind) {
    case 'notConnected':
      return t('call.notConnected');
    case 'setup':
      return t('call.setupProblem', { detail: e.detail });
    case 'server':
      return serverErrorText(t, e.code);
  }
}
