/**
 * The connectivity self-test: what this browser can reach with the ICE servers Parley hands out.
 *
 * Three probes, each on its own RTCPeerConnection(s) and closed when done:
 * 1. gathering: which candidate types appear (host, srflx from STUN, relay from TURN), and when;
 * 2. a direct loopback: two connections in this page, any path, a data-channel round trip;
 * 3. a relay loopback: the same with iceTransportPolicy 'relay', so it can only pass through TURN.
 * No media is captured: a data channel is enough to prove a path.
 */
import type { IceResponse } from '../../protocol/http.js';
import type { IceServer } from '../../protocol/protocol.js';

export type CandidateKind = 'host' | 'srflx' | 'relay';

export interface KindFound {
  count: number;
  /** ms from the start of gathering to the first candidate of this kind; null when none came. */
  firstMs: number | null;
}

export interface IceError {
  url: string;
  code: number;
}

export interface GatherResult {
  found: Record<CandidateKind, KindFound>;
  /** ms until gathering completed (or until we stopped waiting). */
  totalMs: number;
  timedOut: boolean;
  /** STUN/TURN errors the browser reported (401 is refused credentials, 701 no answer). */
  errors: IceError[];
}

export type PathResult =
  | { state: 'ok'; connectMs: number; rttMs: number; local: string; remote: string }
  | { state: 'failed'; reason: 'timeout' | 'error'; afterMs: number }
  | { state: 'skipped' };

export interface Servers {
  stun: boolean;
  turn: boolean;
}

export interface SelfTestReport {
  servers: Servers;
  gather: GatherResult;
  direct: PathResult;
  relay: PathResult;
}

/** The verdict in one word; the page words it for people. */
export type Verdict = 'allGood' | 'noTurn' | 'relayFailed' | 'relayOnly' | 'blocked';

export function serversOf(iceServers: readonly IceServer[]): Servers {
  const urls = iceServers.flatMap((s) => s.urls);
  return {
    stun: urls.some((u) => u.startsWith('stun:') || u.startsWith('stuns:')),
    turn: urls.some((u) => u.startsWith('turn:') || u.startsWith('turns:')),
  };
}

export function verdictOf(report: Pick<SelfTestReport, 'servers' | 'direct' | 'relay'>): Verdict {
  const direct = report.direct.state === 'ok';
  const relay = report.relay.state === 'ok';
  if (direct && relay) return 'allGood';
  if (!direct && relay) return 'relayOnly';
  if (!direct) return 'blocked';
  return report.servers.turn ? 'relayFailed' : 'noTurn';
}

/** The candidate's type: the `type` attribute where the browser has it, else from the SDP line. */
function kindOf(candidate: RTCIceCandidate): string | null {
  if (candidate.type) return candidate.type;
  return / typ (\w+)/.exec(candidate.candidate)?.[1] ?? null;
}

function emptyFound(): Record<CandidateKind, KindFound> {
  return { host: { count: 0, firstMs: null }, srflx: { count: 0, firstMs: null }, relay: { count: 0, firstMs: null } };
}

/** Gathers candidates with every configured server and reports what came, and how fast. */
export async function gather(iceServers: IceServer[], timeoutMs = 10_000): Promise<GatherResult> {
  const pc = new RTCPeerConnection({ iceServers });
  const found = emptyFound();
  const errors: IceError[] = [];
  const started = performance.now();
  pc.addEventListener('icecandidate', (event) => {
    if (!event.candidate || event.candidate.candidate === '') return;
    const kind = kindOf(event.candidate);
    if (kind !== 'host' && kind !== 'srflx' && kind !== 'relay') return;
    found[kind].count += 1;
    found[kind].firstMs ??= Math.round(performance.now() - started);
  });
  pc.addEventListener('icecandidateerror', (event) => {
    errors.push({ url: event.url, code: event.errorCode });
  });
  try {
    pc.createDataChannel('selftest');
    const complete = waitFor(
      () => pc.iceGatheringState === 'complete',
      (wake) => {
        pc.addEventListener('icegatheringstatechange', wake);
      },
      timeoutMs,
    );
    await pc.setLocalDescription();
    const done = await complete;
    return { found, totalMs: Math.round(performance.now() - started), timedOut: !done, errors };
  } finally {
    pc.close();
  }
}

/**
 * Connects two peer connections in this page and sends a message over a data channel and back.
 * With `relayOnly` both sides use only TURN relay candidates: it passes only through TURN.
 */
export async function loopback(
  iceServers: IceServer[],
  relayOnly: boolean,
  timeoutMs = 15_000,
): Promise<PathResult> {
  const config: RTCConfiguration = { iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const started = performance.now();
  const afterMs = () => Math.round(performance.now() - started);
  try {
    // Trickle each side's candidates to the other, holding them until its remote description is set.
    const trickle = (from: RTCPeerConnection, to: RTCPeerConnection) => {
      const held: RTCIceCandidate[] = [];
      from.addEventListener('icecandidate', (event) => {
        if (!event.candidate || event.candidate.candidate === '') return;
        if (to.remoteDescription) void to.addIceCandidate(event.candidate).catch(() => undefined);
        else held.push(event.candidate);
      });
      return async () => {
        for (const c of held.splice(0)) await to.addIceCandidate(c).catch(() => undefined);
      };
    };
    const flushToB = trickle(a, b);
    const flushToA = trickle(b, a);
    b.addEventListener('datachannel', (event) => {
      const echo = event.channel;
      echo.addEventListener('message', (m) => {
        echo.send(m.data as string);
      });
    });
    const channel = a.createDataChannel('selftest');
    const opened = waitFor(
      () => channel.readyState === 'open',
      (wake) => {
        channel.addEventListener('open', wake);
      },
      timeoutMs,
    );
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription!);
    await flushToB();
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription!);
    await flushToA();
    if (!(await opened)) return { state: 'failed', reason: 'timeout', afterMs: afterMs() };
    const connectMs = afterMs();
    const sentAt = performance.now();
    const echoed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
      }, 5000);
      channel.addEventListener('message', () => {
        clearTimeout(timer);
        resolve(true);
      });
      channel.send('ping');
    });
    if (!echoed) return { state: 'failed', reason: 'timeout', afterMs: afterMs() };
    const rttMs = Math.round(performance.now() - sentAt);
    const pair = await selectedPair(a);
    return { state: 'ok', connectMs, rttMs, local: pair.local, remote: pair.remote };
  } catch {
    return { state: 'failed', reason: 'error', afterMs: afterMs() };
  } finally {
    a.close();
    b.close();
  }
}

/** The candidate types of the pair the connection settled on (e.g. relay → relay). */
async function selectedPair(pc: RTCPeerConnection): Promise<{ local: string; remote: string }> {
  const stats = await pc.getStats();
  const byId = new Map<string, Record<string, unknown>>();
  let pairId: string | undefined;
  stats.forEach((s: Record<string, unknown> & { id: string; type: string }) => {
    byId.set(s.id, s);
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pairId = s.selectedCandidatePairId;
  });
  const pair = pairId ? byId.get(pairId) : undefined;
  const typeOf = (id: unknown) => {
    const c = typeof id === 'string' ? byId.get(id) : undefined;
    return typeof c?.candidateType === 'string' ? c.candidateType : '?';
  };
  return { local: typeOf(pair?.localCandidateId), remote: typeOf(pair?.remoteCandidateId) };
}

/** Resolves true once `ready()` holds (checked whenever `subscribe`'s callback fires), false on timeout. */
function waitFor(ready: () => boolean, subscribe: (wake: () => void) => void, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (ready()) {
      resolve(true);
      return;
    }
    const timer = setTimeout(() => {
      resolve(false);
    }, timeoutMs);
    subscribe(() => {
      if (ready()) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
}

/** Asks the server for ICE servers (GET /api/ice); throws with the HTTP status when refused. */
export async function fetchIce(fetcher: typeof fetch = fetch): Promise<IceResponse> {
  const response = await fetcher('/api/ice', { cache: 'no-store' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`, { cause: response.status });
  return (await response.json()) as IceResponse;
}
