import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/client/call/StatsMonitor.js';

type Entry = { id: string; type: string } & Record<string, unknown>;
const report = (entries: Entry[]): RTCStatsReport => new Map(entries.map((e) => [e.id, e]));

function sample(bytesIn: number, bytesOut: number, localType = 'host', remoteType = 'host'): RTCStatsReport {
  return report([
    { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
    { id: 'P', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R', currentRoundTripTime: 0.042 },
    { id: 'L', type: 'local-candidate', candidateType: localType },
    { id: 'R', type: 'remote-candidate', candidateType: remoteType },
    { id: 'CV', type: 'codec', mimeType: 'video/VP8' },
    { id: 'CA', type: 'codec', mimeType: 'audio/opus' },
    { id: 'IV', type: 'inbound-rtp', kind: 'video', bytesReceived: bytesIn, packetsReceived: 95, packetsLost: 5, frameWidth: 640, frameHeight: 480, framesPerSecond: 30, codecId: 'CV' },
    { id: 'OA', type: 'outbound-rtp', kind: 'audio', bytesSent: bytesOut, codecId: 'CA' },
  ]);
}

describe('call stats summary', () => {
  it('derives rates from two samples, and reads loss, RTT, video, codecs and path', () => {
    const first = summarize(sample(1000, 500), null, 0);
    expect(first.stats.bitrateIn).toBeNull();
    const second = summarize(sample(126_000, 63_000), first.totals, 1000);
    expect(second.stats).toMatchObject({
      bitrateIn: 1_000_000,
      bitrateOut: 500_000,
      rttMs: 42,
      packetsLost: 5,
      lossFraction: 0.05,
      videoIn: { width: 640, height: 480, fps: 30 },
      videoOut: null,
      codecs: ['VP8', 'opus'],
      path: { kind: 'direct', local: 'host', remote: 'host' },
    });
  });

  it('a relay at either end means relayed', () => {
    expect(summarize(sample(1, 1, 'relay', 'host'), null, 0).stats.path?.kind).toBe('relayed');
    expect(summarize(sample(1, 1, 'srflx', 'relay'), null, 0).stats.path?.kind).toBe('relayed');
    expect(summarize(sample(1, 1, 'srflx', 'prflx'), null, 0).stats.path?.kind).toBe('direct');
  });

  it('with no selected pair yet there is no path', () => {
    expect(summarize(report([]), null, 0).stats.path).toBeNull();
  });
});
