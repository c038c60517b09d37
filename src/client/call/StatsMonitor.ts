import { signal } from '@preact/signals';

/** What the stats panel shows, derived from two getStats() samples a second apart. */
export interface CallStats {
  /** Receive and send bitrate over the last interval, bits per second (null on the first sample). */
  bitrateIn: number | null;
  bitrateOut: number | null;
  /** Round-trip time of the selected candidate pair, milliseconds. */
  rttMs: number | null;
  /** Inbound packets lost since the call began, and that as a fraction of all expected. */
  packetsLost: number;
  lossFraction: number | null;
  videoIn: VideoStats | null;
  videoOut: VideoStats | null;
  /** Codec names in use, e.g. ["VP8", "opus"]. */
  codecs: string[];
  /** direct: neither end of the selected pair is a TURN relay. */
  path: { kind: 'direct' | 'relayed'; local: string; remote: string } | null;
}

export interface VideoStats {
  width: number;
  height: number;
  fps: number | null;
}

interface Totals {
  at: number;
  bytesIn: number;
  bytesOut: number;
}

/** Fields of the stats dictionaries we read; every one is optional in practice. */
interface AnyStats {
  type: string;
  id: string;
  kind?: string;
  bytesReceived?: number;
  bytesSent?: number;
  packetsReceived?: number;
  packetsLost?: number;
  frameWidth?: number;
  frameHeight?: number;
  framesPerSecond?: number;
  codecId?: string;
  mimeType?: string;
  selectedCandidatePairId?: string;
  localCandidateId?: string;
  remoteCandidateId?: string;
  candidateType?: string;
  currentRoundTripTime?: number;
  roundTripTime?: number;
  nominated?: boolean;
  state?: string;
}

/** Turns one getStats() report (plus the previous totals) into what the panel shows. */
export function summarize(report: RTCStatsReport, prev: Totals | null, at: number): { stats: CallStats; totals: Totals } {
  const all = new Map<string, AnyStats>();
  report.forEach((s: AnyStats) => all.set(s.id, s));
  let bytesIn = 0;
  let bytesOut = 0;
  let received = 0;
  let lost = 0;
  let videoIn: VideoStats | null = null;
  let videoOut: VideoStats | null = null;
  let remoteRtt: number | null = null;
  const codecs = new Set<string>();
  const codecOf = (s: AnyStats): void => {
    const mime = s.codecId ? all.get(s.codecId)?.mimeType : undefined;
    if (mime) codecs.add(mime.split('/')[1] ?? mime);
  };
  for (const s of all.values()) {
    if (s.type === 'inbound-rtp') {
      bytesIn += s.bytesReceived ?? 0;
      received += s.packetsReceived ?? 0;
      lost += Math.max(0, s.packetsLost ?? 0);
      if (s.kind === 'video' && s.frameWidth) videoIn = video(s);
      if ((s.bytesReceived ?? 0) > 0) codecOf(s);
    } else if (s.type === 'outbound-rtp') {
      bytesOut += s.bytesSent ?? 0;
      if (s.kind === 'video' && s.frameWidth) videoOut = video(s);
      if ((s.bytesSent ?? 0) > 0) codecOf(s);
    } else if (s.type === 'remote-inbound-rtp' && s.roundTripTime !== undefined) {
      remoteRtt = s.roundTripTime;
    }
  }
  const pair = selectedPair(all);
  const rtt = pair?.currentRoundTripTime ?? remoteRtt;
  const local = pair?.localCandidateId ? all.get(pair.localCandidateId)?.candidateType : undefined;
  const remote = pair?.remoteCandidateId ? all.get(pair.remoteCandidateId)?.candidateType : undefined;
  const dt = prev ? (at - prev.at) / 1000 : 0;
  const rate = (now: number, before: number | undefined): number | null =>
    before !== undefined && dt > 0 ? Math.max(0, ((now - before) * 8) / dt) : null;
  return {
    totals: { at, bytesIn, bytesOut },
    stats: {
      bitrateIn: rate(bytesIn, prev?.bytesIn),
      bitrateOut: rate(bytesOut, prev?.bytesOut),
      rttMs: rtt === null || rtt === undefined ? null : rtt * 1000,
      packetsLost: lost,
      lossFraction: received + lost > 0 ? lost / (received + lost) : null,
      videoIn,
      videoOut,
      codecs: [...codecs].sort(),
      path:
        local && remote
          ? { kind: local === 'relay' || remote === 'relay' ? 'relayed' : 'direct', local, remote }
          : null,
    },
  };
}

function video(s: AnyStats): VideoStats {
  return { width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, fps: s.framesPerSecond ?? null };
}

function selectedPair(all: Map<string, AnyStats>): AnyStats | undefined {
  for (const s of all.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) return all.get(s.selectedCandidatePairId);
  }
  // Firefox has no transport stats: the nominated, succeeded pair is the one in use.
  for (const s of all.values()) {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') return s;
  }
  return undefined;
}

/**
 * Samples a peer connection's stats once a second while something is watching (the panel is
 * open), and stops when nothing is, so a closed panel costs nothing.
 */
export class StatsMonitor {
  readonly stats = signal<CallStats | null>(null);
  readonly #pc: () => RTCPeerConnection | null;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | null = null;
  #totals: Totals | null = null;
  #watchedPc: RTCPeerConnection | null = null;

  constructor(pc: () => RTCPeerConnection | null, intervalMs = 1000) {
    this.#pc = pc;
    this.#intervalMs = intervalMs;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  start(): void {
    if (this.#timer) return;
    void this.#sample();
    this.#timer = setInterval(() => void this.#sample(), this.#intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#totals = null;
    this.#watchedPc = null;
    this.stats.value = null;
  }

  async #sample(): Promise<void> {
    const pc = this.#pc();
    if (!pc || pc.connectionState === 'closed') return;
    if (pc !== this.#watchedPc) {
      this.#watchedPc = pc;
      this.#totals = null; // a new call: rates start over
    }
    try {
      const report = await pc.getStats();
      if (!this.#timer || pc !== this.#watchedPc) return;
      const { stats, totals } = summarize(report, this.#totals, performance.now());
      this.#totals = totals;
      this.stats.value = stats;
    } catch {
      // The connection closed between the check and the call; the next tick sees it.
    }
  }
}
