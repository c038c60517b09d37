import type { JSX } from 'preact';
import { useRef } from 'preact/hooks';
import type { FileTransfers, Transfer } from '../call/FileTransfers.js';
import type { I18n } from '../i18n/I18n.js';
import type { Parley } from '../Parley.js';

/**
 * Files to and from the peer during the call: "Send a file", incoming prompts, progress with
 * speed and time left, and received files to save. Loaded on demand (a chunk of its own).
 * `live` is false once the call has ended: nothing new can be sent, received files can be saved.
 */
export function FilesPanel({ app, name, live }: { app: Parley; name: string; live: boolean }): JSX.Element | null {
  const input = useRef<HTMLInputElement>(null);
  const files = app.calls.files.value;
  const { t } = app.i18n;
  if (!files) return null;
  const list = files.transfers.value;
  if (!live && list.length === 0) return null;
  return (
    <section class="files" aria-label={t('files.send')} data-testid="files">
      {live ? (
        <div class="files-head">
          <button
            type="button"
            disabled={files.sending}
            onClick={() => input.current?.click()}
            data-testid="send-file"
          >
            {t('files.send')}
          </button>
          <input
            ref={input}
            type="file"
            hidden
            data-testid="file-input"
            onChange={(e) => {
              const file = e.currentTarget.files?.[0];
              e.currentTarget.value = '';
              if (file) files.send(file);
            }}
          />
          <span class="muted">{t('files.scope', { name })}</span>
        </div>
      ) : null}
      {list.length > 0 ? (
        <ul class="transfers">
          {list.map((tr) => (
            <TransferRow key={tr.id} tr={tr} files={files} i18n={app.i18n} name={name} />
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function TransferRow({ tr, files, i18n, name }: { tr: Transfer; files: FileTransfers; i18n: I18n; name: string }): JSX.Element {
  const { t } = i18n;
  const file = tr.name;
  const size = bytes(i18n, tr.size);
  const cancel = (
    <button type="button" onClick={() => { files.cancel(tr.id); }} data-testid="cancel-file">
      {t('files.cancel')}
    </button>
  );
  let body: JSX.Element;
  switch (tr.state) {
    case 'offered':
      body =
        tr.direction === 'in' ? (
          <>
            <p>{t('files.incoming', { name, file, size })}</p>
            <div class="call-controls">
              <button type="button" class="primary" onClick={() => { files.accept(tr.id); }} data-testid="accept-file">
                {t('files.accept')}
              </button>
              <button type="button" onClick={() => { files.decline(tr.id); }} data-testid="decline-file">
                {t('files.decline')}
              </button>
            </div>
          </>
        ) : (
          <>
            <p>{t('files.waiting', { name, file, size })}</p>
            <div class="call-controls">{cancel}</div>
          </>
        );
      break;
    case 'transferring':
      body = (
        <>
          <p>{t(tr.direction === 'out' ? 'files.sending' : 'files.receiving', { file })}</p>
          <progress max={tr.size || 1} value={tr.bytes} data-testid="transfer-bar" />
          <p class="muted" data-testid="transfer-progress">
            {tr.speed
              ? t('files.progress', {
                  done: bytes(i18n, tr.bytes),
                  total: size,
                  speed: bytes(i18n, tr.speed, true),
                  left: duration(i18n, (tr.size - tr.bytes) / tr.speed),
                })
              : t('files.progressStart', { done: bytes(i18n, tr.bytes), total: size })}
          </p>
          <div class="call-controls">{cancel}</div>
        </>
      );
      break;
    case 'checking':
      body = (
        <>
          <p>{t('files.checking', { file })}</p>
          <progress max={1} value={1} />
        </>
      );
      break;
    case 'done':
      body =
        tr.direction === 'out' ? (
          <p>{t('files.sent', { file })}</p>
        ) : (
          <>
            <p>{t('files.received', { file, size })}</p>
            {tr.url ? (
              <a href={tr.url} download={tr.name} data-testid="save-file">
                {t('files.save', { file })}
              </a>
            ) : null}
          </>
        );
      break;
    case 'failed':
      body = (
        <p class="problem" role="alert" data-testid="transfer-failure">
          {t(`files.failed.${tr.failure ?? 'connection'}`, { name, file })}
        </p>
      );
      break;
  }
  return (
    <li
      class="transfer"
      data-testid="transfer"
      data-direction={tr.direction}
      data-state={tr.state}
      data-failure={tr.failure ?? ''}
      data-bytes={tr.bytes}
    >
      {body}
    </li>
  );
}

const UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;

/** A size (or with `perSecond` a speed) in the reader's language: "12.5 MB", "3 МБ/с". */
function bytes(i18n: I18n, n: number, perSecond = false): string {
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  const unit = UNITS[i]!;
  return i18n.number(n, {
    style: 'unit',
    unit: perSecond ? `${unit}-per-second` : unit,
    unitDisplay: 'short',
    maximumFractionDigits: n < 10 && i > 0 ? 1 : 0,
  });
}

/** Time left, rounded to what a reader needs: "8 sec", "3 min", "2 hr". */
function duration(i18n: I18n, seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  const [value, unit] = s < 90 ? [s, 'second'] : s < 90 * 60 ? [Math.round(s / 60), 'minute'] : [Math.round(s / 3600), 'hour'];
  return i18n.number(value, { style: 'unit', unit, unitDisplay: 'short' });
}
