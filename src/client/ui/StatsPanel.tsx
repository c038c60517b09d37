import type { JSX } from 'preact';
import { useEffect } from 'preact/hooks';
import type { VideoStats } from '../call/StatsMonitor.js';
import type { Parley } from '../Parley.js';

/** Live call statistics, sampled once a second while this panel is mounted. */
export function StatsPanel({ app, id }: { app: Parley; id: string }): JSX.Element {
  const { t, number } = app.i18n;
  const monitor = app.calls.stats;
  useEffect(() => {
    monitor.start();
    return () => {
      monitor.stop();
    };
  }, [monitor]);
  const s = monitor.stats.value;
  const none = t('stats.none');
  const kbps = (bps: number | null): string => (bps === null ? '…' : t('stats.kbps', { value: Math.round(bps / 1000) }));
  const videoText = (v: VideoStats | null): string =>
    v ? `${v.width}×${v.height}${v.fps !== null ? ` · ${t('stats.fps', { value: Math.round(v.fps) })}` : ''}` : none;
  return (
    <section id={id} class="stats" aria-label={t('stats.title')} data-testid="call-stats">
      {s === null ? (
        <p class="muted">{t('stats.waiting')}</p>
      ) : (
        <dl>
          <dt>{t('stats.bitrate')}</dt>
          <dd data-testid="stats-bitrate" data-in={s.bitrateIn ?? ''} data-out={s.bitrateOut ?? ''}>
            {t('stats.bitrateValue', { in: kbps(s.bitrateIn), out: kbps(s.bitrateOut) })}
          </dd>
          <dt>{t('stats.rtt')}</dt>
          <dd data-testid="stats-rtt">{s.rttMs === null ? none : t('stats.ms', { value: Math.round(s.rttMs) })}</dd>
          <dt>{t('stats.loss')}</dt>
          <dd data-testid="stats-loss">
            {s.lossFraction === null
              ? none
              : `${number(s.lossFraction, { style: 'percent', maximumFractionDigits: 1 })} · ${t('stats.lostPackets', { count: s.packetsLost })}`}
          </dd>
          <dt>{t('stats.videoIn')}</dt>
          <dd data-testid="stats-video-in">{videoText(s.videoIn)}</dd>
          <dt>{t('stats.videoOut')}</dt>
          <dd data-testid="stats-video-out">{videoText(s.videoOut)}</dd>
          <dt>{t('stats.codecs')}</dt>
          <dd data-testid="stats-codecs">{s.codecs.length > 0 ? s.codecs.join(' · ') : none}</dd>
          <dt>{t('stats.path')}</dt>
          <dd data-testid="stats-path" data-path={s.path?.kind ?? ''}>
            {s.path
              ? `${s.path.kind === 'direct' ? t('stats.direct') : t('stats.relayed')} (${s.path.local} ↔ ${s.path.remote})`
              : none}
          </dd>
        </dl>
      )}
    </section>
  );
}
