import type { JSX } from 'preact';
import { useEffect } from 'preact/hooks';
import type { CallView } from '../call/CallController.js';
import type { DeviceKind } from '../call/DeviceChoice.js';
import type { Parley } from '../Parley.js';

/** Camera, microphone and speaker pickers for the call in progress. */
export function DevicePanel({ app, v, id }: { app: Parley; v: CallView; id: string }): JSX.Element {
  const { t } = app.i18n;
  const choice = app.devices;
  useEffect(() => {
    void choice.refresh();
  }, [choice]);
  const lists = choice.devices.value;
  const chosen = choice.chosen.value;
  /** The device actually in use, which after a fallback is not the one remembered. */
  const inUse = (kind: 'camera' | 'microphone'): string | undefined => {
    const track = kind === 'camera' ? v.local?.getVideoTracks()[0] : v.local?.getAudioTracks()[0];
    return track?.getSettings().deviceId;
  };
  const picker = (kind: DeviceKind, current: string, onPick: (deviceId: string) => void): JSX.Element | null => {
    const options = lists[kind];
    if (options.length === 0) return null;
    // Chrome lists the system default as its own entry ("default"); elsewhere we add one.
    const hasDefault = options.some((o) => o.id === 'default');
    const value = current === '' && hasDefault ? 'default' : current;
    return (
      <div class="field">
        <label for={`device-${kind}`}>{t(`devices.${kind}`)}</label>
        <select
          id={`device-${kind}`}
          data-testid={`device-${kind}`}
          value={value}
          onChange={(e) => {
            onPick(e.currentTarget.value);
          }}
        >
          {hasDefault ? null : <option value="">{t('devices.default')}</option>}
          {options.map((o, i) => (
            <option key={o.id} value={o.id}>
              {o.label || t(`devices.unnamed.${kind}`, { n: i + 1 })}
            </option>
          ))}
        </select>
      </div>
    );
  };
  const hasCamera = (v.local?.getVideoTracks().length ?? 0) > 0;
  return (
    <section id={id} class="devices" aria-label={t('devices.button')} data-testid="devices">
      {hasCamera
        ? picker('camera', inUse('camera') ?? chosen.camera, (d) => void app.calls.switchDevice('camera', d))
        : null}
      {picker('microphone', inUse('microphone') ?? chosen.microphone, (d) => void app.calls.switchDevice('microphone', d))}
      {choice.speakerSupported
        ? picker('speaker', chosen.speaker, (d) => {
            choice.choose('speaker', d);
          })
        : null}
    </section>
  );
}
