/**
 * The load scenarios. Each runs against one server kind and returns plain figures; run.ts runs
 * every kind side by side and builds the table.
 */
import type { WebSocket } from 'ws';
import {
  closeAll,
  connect,
  Latency,
  median,
  pool,
  readStamp,
  type RunningServer,
  sleep,
  stamp,
  until,
} from './lib.js';

const MARK = Buffer.from('x-t:');
const CONNECT_CONCURRENCY = 200;

function urlFor(server: RunningServer, id: string): string {
  switch (server.kind) {
    case 'parley':
      return `ws://127.0.0.1:${server.port}/ws`;
    case 'bare':
      return `ws://127.0.0.1:${server.port}/?id=${id}`;
    case 'peerjs':
      return `ws://127.0.0.1:${server.port}/peerjs?key=peerjs&id=${id}&token=t${id}`;
  }
}

function parse(data: Buffer): { type?: string } & Record<string, unknown> {
  return JSON.parse(data.toString('utf8')) as { type?: string } & Record<string, unknown>;
}

/** Waits for the first frame on `ws` that `match` accepts; returns it parsed. */
function expectFrame(ws: WebSocket, match: (msg: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      ws.off('message', onMessage);
      fail(new Error('timed out waiting for a frame'));
    }, timeoutMs);
    const onMessage = (data: Buffer) => {
      const msg = parse(data);
      if (msg.type === 'error') {
        clearTimeout(timer);
        ws.off('message', onMessage);
        fail(new Error(`server error: ${JSON.stringify(msg)}`));
        return;
      }
      if (!match(msg)) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      done(msg);
    };
    ws.on('message', onMessage);
  });
}

/** Signs a Parley user in; resolves with the user id once the lobby's member list has arrived. */
async function parleySignIn(ws: WebSocket, name: string): Promise<string> {
  const welcome = expectFrame(ws, (m) => m.type === 'welcome');
  const joined = expectFrame(ws, (m) => m.type === 'roomJoined');
  ws.send(JSON.stringify({ type: 'hello', versions: [1], name }));
  const w = await welcome;
  await joined;
  return (w.user as { id: string }).id;
}

/** Connects and signs in `n` users named `${prefix}${i}`; sockets[i] and ids[i] belong to user i. */
async function signInMany(server: RunningServer, prefix: string, n: number): Promise<{ sockets: WebSocket[]; ids: string[] }> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const sockets: WebSocket[] = new Array<WebSocket>(n);
  const ids = await pool(names, CONNECT_CONCURRENCY, async (name, i) => {
    let opened: () => void = () => undefined;
    const open = new Promise<void>((r) => (opened = r));
    const ws = await connect(
      urlFor(server, name),
      server.kind === 'peerjs'
        ? (data) => {
            if (data.includes('"OPEN"')) opened();
          }
        : undefined,
    );
    sockets[i] = ws;
    if (server.kind === 'parley') return parleySignIn(ws, name);
    if (server.kind === 'peerjs') await open;
    return name;
  });
  return { sockets, ids };
}

// -------------------------------------------------------------------------------------------------
// 1. Sign-in

export interface SignInResult {
  users: number;
  /** ms from the first connect until every user is in (for Parley: and knows the room has all N). */
  allInMs: number;
  /** Users in when the time limit hit; equals users when it did not. */
  usersIn: number;
  /** Share of users whose presence is up to date (Parley); 1 for servers without presence. */
  presenceComplete: number;
  rssPerConnBytes: number;
  timedOut: boolean;
}

export async function signIn(server: RunningServer, users: number, timeoutMs: number): Promise<SignInResult> {
  await sleep(300);
  const rss0 = server.rss();
  const sockets: WebSocket[] = [];
  let usersIn = 0;
  // Parley: a user is up to date once it knows the lobby holds all N (roomJoined's count, then the
  // count in each coalesced `members` delta). In a small room that comes with the full member
  // list (every delta is applied); in a large one with the first page of it (docs/PROTOCOL.md).
  let frames = 0;
  const expectedFrames = users;
  const fullCount = `"count":${users},`;
  const t0 = performance.now();
  let tIn = NaN;
  let tAll = NaN;
  const deadline = t0 + timeoutMs;
  const names = Array.from({ length: users }, (_, i) => `s${i}`);
  const connecting = pool(names, CONNECT_CONCURRENCY, async (name) => {
    if (performance.now() > deadline) return;
    let markIn: () => void = () => undefined;
    const isIn = new Promise<void>((r) => (markIn = r));
    let seen = false;
    let current = server.kind !== 'parley';
    const ws = await connect(urlFor(server, name), (data: Buffer) => {
      if (!current && data.includes(fullCount)) {
        current = true;
        frames++;
        if (frames === expectedFrames) tAll = performance.now();
      }
      if (seen) return;
      if (server.kind === 'parley' && !data.includes('"type":"roomJoined"')) return;
      seen = true;
      usersIn++;
      if (usersIn === users) tIn = performance.now();
      markIn();
    });
    sockets.push(ws);
    if (server.kind !== 'parley' && ++frames === expectedFrames) tAll = performance.now();
    if (server.kind === 'parley') ws.send(JSON.stringify({ type: 'hello', versions: [1], name }));
    else if (server.kind === 'bare') ws.send(JSON.stringify({ hello: name }));
    await isIn;
  });
  let timedOut = false;
  try {
    await Promise.race([
      connecting,
      sleep(timeoutMs).then(() => {
        throw new Error('timeout');
      }),
    ]);
    await until(() => frames >= expectedFrames, Math.max(0, deadline - performance.now()), 'presence');
  } catch {
    timedOut = true;
  }
  await sleep(500);
  const rss1 = server.rss();
  const result: SignInResult = {
    users,
    allInMs: timedOut ? NaN : Math.max(tIn, tAll) - t0,
    usersIn,
    presenceComplete: frames / expectedFrames,
    rssPerConnBytes: (rss1 - rss0) / Math.max(1, sockets.length),
    timedOut,
  };
  closeAll(sockets);
  connecting.catch(() => undefined);
  await sleep(500);
  return result;
}

// -------------------------------------------------------------------------------------------------
// 2. Directed relay

export interface RelayPhase {
  offered: number | 'saturation';
  sent: number;
  delivered: number;
  deliveredPerSec: number;
  p50Ms: number;
  p99Ms: number;
  lost: number;
  /** Server CPU time (user + system) per frame relayed in the phase, in µs (/proc/<pid>/stat). */
  cpuUsPerFrame: number;
}

/** ~1.1 KB of SDP-like text, the size of a typical offer with two media sections. */
function fakeSdp(): string {
  const lines = [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS 2b7c8f9e-1d2a-4c3b-9e8f-7a6b5c4d3e2f',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=ice-ufrag:7sFv',
    'a=ice-pwd:Xk2Yw9mQ4rT7uV1bN3cD5eF6',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5E',
    'a=setup:actpass',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105',
    'c=IN IP4 0.0.0.0',
    'a=mid:1',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 goog-remb',
    'a=rtcp-fb:96 transport-cc',
    'a=rtcp-fb:96 ccm fir',
    'a=rtcp-fb:96 nack',
    'a=rtcp-fb:96 nack pli',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
    'a=ssrc-group:FID 1234567890 987654321',
  ];
  return lines.join('\r\n') + '\r\n';
}

interface Endpoint {
  ws: WebSocket;
  /** Frame to the partner, split around the time stamp. */
  head: string;
  tail: string;
  partner: number;
}

function templates(kind: RunningServer['kind'], to: string, callId: string): { head: string; tail: string } {
  const description = { type: 'offer', sdp: `${fakeSdp()}a=x-t:@@T@@\r\n` };
  let frame: unknown;
  switch (kind) {
    case 'parley':
      frame = { type: 'signal', callId, data: { kind: 'description', description } };
      break;
    case 'bare':
      frame = { to, data: { kind: 'description', description } };
      break;
    case 'peerjs':
      frame = { type: 'OFFER', dst: to, payload: { type: 'media', sdp: description } };
      break;
  }
  const [head, tail] = JSON.stringify(frame).split('@@T@@') as [string, string];
  return { head, tail };
}

async function setUpPairs(server: RunningServer, pairs: number): Promise<Endpoint[]> {
  const n = pairs * 2;
  const { sockets, ids } = await signInMany(server, 'p', n);
  const endpoints: Endpoint[] = [];
  const socketOf = sockets;
  for (let k = 0; k < pairs; k++) {
    const a = 2 * k;
    const b = 2 * k + 1;
    let callId = '';
    if (server.kind === 'parley') {
      const wsA = socketOf[a]!;
      const wsB = socketOf[b]!;
      const idB = ids[b]!;
      const ringing = expectFrame(wsA, (m) => m.type === 'callRinging');
      const incoming = expectFrame(wsB, (m) => m.type === 'callIncoming');
      wsA.send(JSON.stringify({ type: 'callInvite', to: idB, media: 'video' }));
      callId = (await ringing).callId as string;
      await incoming;
      const acceptedA = expectFrame(wsA, (m) => m.type === 'callAccepted');
      const acceptedB = expectFrame(wsB, (m) => m.type === 'callAccepted');
      wsB.send(JSON.stringify({ type: 'callAccept', callId, media: 'video' }));
      await Promise.all([acceptedA, acceptedB]);
    }
    endpoints[a] = { ws: socketOf[a]!, ...templates(server.kind, ids[b]!, callId), partner: b };
    endpoints[b] = { ws: socketOf[b]!, ...templates(server.kind, ids[a]!, callId), partner: a };
  }
  return endpoints;
}

export async function relay(
  server: RunningServer,
  options: {
    pairs: number;
    rates: number[];
    phaseMs: number;
    /**
     * Each fixed-rate phase first runs this long at its rate, unmeasured: the servers' code
     * warming up in the JIT, and the step from the previous rate, otherwise make the first
     * fraction of a second the slowest 1% of the phase (its p99) on every server alike.
     */
    warmupMs: number;
    saturationWindow: number;
  },
): Promise<RelayPhase[]> {
  const endpoints = await setUpPairs(server, options.pairs);
  await sleep(300);
  let latency = new Latency();
  let delivered = 0;
  /** Frames stamped before this (the warm-up's) are counted as delivered but not timed. */
  let timedFrom = 0;
  let onDelivered: ((to: number) => void) | null = null;
  endpoints.forEach((ep, i) => {
    ep.ws.removeAllListeners('message');
    ep.ws.on('message', (data: Buffer) => {
      const t = readStamp(data, MARK);
      if (Number.isNaN(t)) return;
      if (t >= timedFrom) latency.add(performance.now() - t);
      delivered++;
      onDelivered?.(i);
    });
  });
  const sendFrom = (i: number) => {
    const ep = endpoints[i]!;
    ep.ws.send(ep.head + stamp() + ep.tail);
  };
  const phases: RelayPhase[] = [];
  for (const rate of [...options.rates, 'saturation' as const]) {
    latency = new Latency();
    delivered = 0;
    timedFrom = 0;
    let sent = 0;
    let cpu0 = server.cpuMs();
    let t0 = performance.now();
    let tEnd: number;
    if (rate === 'saturation') {
      let running = true;
      // Closed loop: each endpoint keeps `window` frames in flight towards its partner.
      onDelivered = (to) => {
        if (!running) return;
        sendFrom(endpoints[to]!.partner);
        sent++;
      };
      for (let i = 0; i < endpoints.length; i++) {
        for (let w = 0; w < options.saturationWindow; w++) {
          sendFrom(i);
          sent++;
        }
      }
      await sleep(options.phaseMs);
      running = false;
      tEnd = performance.now();
    } else {
      // The warm-up, then the measured phase, at the same rate without a pause between them.
      let next = 0;
      let warm = 0;
      const tWarm = performance.now();
      const sendDue = (since: number, already: number): number => {
        const due = Math.floor(((performance.now() - since) * rate) / 1000) - already;
        for (let k = 0; k < due; k++) {
          sendFrom(next);
          next = (next + 1) % endpoints.length;
        }
        return Math.max(0, due);
      };
      while (performance.now() - tWarm < options.warmupMs) {
        warm += sendDue(tWarm, warm);
        await sleep(1);
      }
      t0 = performance.now();
      timedFrom = t0;
      delivered -= warm;
      cpu0 = server.cpuMs();
      while (performance.now() - t0 < options.phaseMs) {
        sent += sendDue(t0, sent);
        await sleep(1);
      }
      tEnd = performance.now();
    }
    const deliveredInPhase = delivered;
    try {
      await until(() => delivered >= sent, 10_000, 'relay drain');
    } catch {
      // Counted as lost below.
    }
    onDelivered = null;
    const cpuMs = server.cpuMs() - cpu0;
    phases.push({
      offered: rate,
      sent,
      delivered,
      deliveredPerSec: (deliveredInPhase * 1000) / (tEnd - t0),
      p50Ms: latency.quantile(0.5),
      p99Ms: latency.quantile(0.99),
      lost: sent - delivered,
      cpuUsPerFrame: (cpuMs * 1000) / Math.max(1, delivered),
    });
    await sleep(300);
  }
  closeAll(endpoints.map((e) => e.ws));
  return phases;
}

// -------------------------------------------------------------------------------------------------
// 3. Room fan-out

export interface FanoutResult {
  members: number;
  /** One message: send → the last member has it. */
  oneMs: number;
  /** A burst of `burst` messages: send of the first → the last member has the last (median of reps). */
  burstMs: number;
  deliveriesPerSec: number;
  p99Ms: number;
  /** Server CPU time (user + system) per delivery over all bursts, in µs. */
  cpuUsPerDelivery: number;
}

export async function fanout(
  server: RunningServer,
  options: { members: number; burst: number; reps: number },
): Promise<FanoutResult> {
  const { sockets } = await signInMany(server, 'f', options.members);
  if (server.kind === 'parley') {
    // Let the join deltas settle so they do not mix with the measurement.
    await sleep(1000);
  }
  const sender = sockets[0]!;
  const receivers = sockets.slice(1);
  let received = 0;
  let latency = new Latency();
  for (const ws of receivers) {
    ws.removeAllListeners('message');
    ws.on('message', (data: Buffer) => {
      const t = readStamp(data, MARK);
      if (Number.isNaN(t)) return;
      latency.add(performance.now() - t);
      received++;
    });
  }
  sender.removeAllListeners('message');
  sender.on('message', () => undefined);
  const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.';
  let seq = 0;
  const frame = () => {
    const text = `x-t:${stamp()} ${filler}`;
    seq++;
    return server.kind === 'parley'
      ? JSON.stringify({ type: 'chat', clientId: `b${seq}`, room: 'lobby', text })
      : JSON.stringify({ to: '*', text });
  };
  const shoot = async (count: number): Promise<{ ms: number; p99: number }> => {
    received = 0;
    latency = new Latency();
    const expected = count * receivers.length;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) sender.send(frame());
    await until(() => received >= expected, 30_000, 'fan-out');
    const ms = performance.now() - t0;
    return { ms, p99: latency.quantile(0.99) };
  };
  // Warm up the path once, then measure.
  await shoot(1);
  await sleep(200);
  const ones: number[] = [];
  for (let r = 0; r < options.reps; r++) {
    ones.push((await shoot(1)).ms);
    await sleep(100);
  }
  const bursts: number[] = [];
  const p99s: number[] = [];
  const cpu0 = server.cpuMs();
  for (let r = 0; r < options.reps; r++) {
    const { ms, p99 } = await shoot(options.burst);
    bursts.push(ms);
    p99s.push(p99);
    await sleep(200);
  }
  const cpuMs = server.cpuMs() - cpu0;
  closeAll(sockets);
  await sleep(300);
  const burstMs = median(bursts);
  return {
    members: options.members,
    oneMs: median(ones),
    burstMs,
    deliveriesPerSec: (options.burst * receivers.length * 1000) / burstMs,
    p99Ms: median(p99s),
    cpuUsPerDelivery: (cpuMs * 1000) / (options.reps * options.burst * receivers.length),
  };
}

// -------------------------------------------------------------------------------------------------
// 4. Durable chat

export interface DurableResult {
  senders: number;
  window: number;
  acksPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export async function durableChat(
  server: RunningServer,
  options: { senders: number; window: number; durationMs: number },
): Promise<DurableResult> {
  const { sockets } = await signInMany(server, 'd', options.senders);
  // Each sender talks in a room of its own so the figure is the store's, not fan-out's.
  await Promise.all(
    sockets.map(async (ws, i) => {
      const joined = expectFrame(ws, (m) => m.type === 'roomJoined' && m.room === `d${i}`);
      ws.send(JSON.stringify({ type: 'join', room: `d${i}` }));
      await joined;
    }),
  );
  await sleep(300);
  const latency = new Latency();
  let acks = 0;
  let running = true;
  let seq = 0;
  const t0 = performance.now();
  sockets.forEach((ws, i) => {
    const sentAt: number[] = [];
    const send = () => {
      sentAt.push(performance.now());
      ws.send(JSON.stringify({ type: 'chat', clientId: `m${seq++}`, room: `d${i}`, text: 'a durable hello' }));
    };
    ws.removeAllListeners('message');
    ws.on('message', (data: Buffer) => {
      if (!data.includes('"type":"ack"')) return;
      // One connection's frames are handled in order, so acks come back in send order.
      latency.add(performance.now() - sentAt.shift()!);
      acks++;
      if (running) send();
    });
    for (let w = 0; w < options.window; w++) send();
  });
  await sleep(options.durationMs);
  running = false;
  const elapsed = performance.now() - t0;
  const acked = acks;
  await sleep(500);
  closeAll(sockets);
  await sleep(300);
  return {
    senders: options.senders,
    window: options.window,
    acksPerSec: (acked * 1000) / elapsed,
    p50Ms: latency.quantile(0.5),
    p99Ms: latency.quantile(0.99),
  };
}
