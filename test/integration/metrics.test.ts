import { describe, expect, it } from 'vitest';
import type { SignalData } from '../../src/protocol/protocol.js';
import { until } from '../helpers/integration.js';
import { useParleyServer } from '../helpers/fixtures.js';
import { startServer, type TestServer } from '../helpers/parley.js';
import { chatUser, loginUser } from '../helpers/legacy.js';

/** One sample of the Prometheus text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (what prom-client writes). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = value!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(t: TestServer): Promise<(name: string, labels?: Record<string, string>) => number> {
  const response = await fetch(`http://127.0.0.1:${t.ports.port}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = parseMetrics(await response.text());
  return (name, labels = {}) => {
    const found = samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
    if (found.length !== 1) {
      throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
    }
    return found[0]!.value;
  };
}

const offer: SignalData = {
  kind: 'description',
  description: { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n' },
};

describe('/metrics', () => {
  const { t, signedIn } = useParleyServer();

  it('starts at zero', async () => {
    const metric = await scrape(t);
    for (const protocol of ['parley', 'chat', 'login']) {
      expect(metric('parley_connections', { protocol })).toBe(0);
    }
    expect(metric('parley_signed_in_users')).toBe(0);
    expect(metric('parley_rooms')).toBe(0);
    expect(metric('parley_messages_stored_total')).toBe(0);
    expect(metric('parley_messages_delivered_total')).toBe(0);
    expect(metric('parley_calls_ended_total', { reason: 'hangup' })).toBe(0);
    expect(metric('parley_signal_relay_seconds_count')).toBe(0);
    expect(metric('parley_store_append_seconds_count')).toBe(0);
    // Node's own metrics come along, under their usual names.
    expect(metric('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('counts connections, users, rooms, chat and calls', async () => {
    const alice = await signedIn('Alice');
    const bob = await signedIn('Bob');
    const carol = await signedIn('Carol');
    const legacyChat = await chatUser(t, 'Dave');
    const legacyLogin = await loginUser(t, 'Erin');
    try {
      // Chat: one room message to three others (Bob, Carol, Dave), one direct message, one re-send.
      alice.send({ type: 'chat', room: 'lobby', clientId: 'm1', text: 'hello all' });
      await alice.next('ack', (m) => m.clientId === 'm1');
      await carol.next('message');
      alice.send({ type: 'dm', to: bob.user!.id, clientId: 'm2', text: 'psst' });
      await bob.next('message', (m) => m.message.clientId === 'm2');
      const from = alice.mark();
      alice.send({ type: 'chat', room: 'lobby', clientId: 'm1', text: 'hello all' });
      await alice.next('ack', (m) => m.clientId === 'm1', 5000, from);
      carol.send({ type: 'join', room: 'side' });
      await carol.next('roomJoined', (m) => m.room === 'side');

      // A call, with signaling, hung up; then one declined.
      alice.send({ type: 'callInvite', to: bob.user!.id, media: 'audio' });
      const { callId } = await bob.next('callIncoming');
      bob.send({ type: 'callAccept', callId, media: 'audio' });
      await alice.next('callAccepted');
      for (let i = 0; i < 3; i++) alice.send({ type: 'signal', callId, data: offer });
      await until(() => bob.received.filter((m) => m.type === 'signal').length === 3);
      alice.send({ type: 'callHangup', callId });
      await bob.next('callEnded', (m) => m.callId === callId);
      carol.send({ type: 'callInvite', to: alice.user!.id, media: 'video' });
      const second = await alice.next('callIncoming', (m) => m.callId !== callId);
      alice.send({ type: 'callDecline', callId: second.callId });
      await carol.next('callEnded', (m) => m.callId === second.callId);

      const metric = await scrape(t);
      expect(metric('parley_connections', { protocol: 'parley' })).toBe(3);
      expect(metric('parley_connections', { protocol: 'chat' })).toBe(1);
      expect(metric('parley_connections', { protocol: 'login' })).toBe(1);
      expect(metric('parley_signed_in_users')).toBe(5);
      expect(metric('parley_rooms')).toBe(2);
      expect(metric('parley_calls_in_progress')).toBe(0);
      expect(metric('parley_messages_stored_total')).toBe(2);
      expect(metric('parley_messages_duplicate_total')).toBe(1);
      // The login protocol's user is in the lobby too, so the room message had four recipients.
      expect(metric('parley_messages_delivered_total')).toBe(4 + 1);
      expect(metric('parley_calls_ended_total', { reason: 'hangup' })).toBe(1);
      expect(metric('parley_calls_ended_total', { reason: 'declined' })).toBe(1);
      expect(metric('parley_calls_ended_total', { reason: 'timeout' })).toBe(0);
      expect(metric('parley_signal_relay_seconds_count')).toBe(3);
      expect(metric('parley_signal_relay_seconds_sum')).toBeGreaterThan(0);
      expect(metric('parley_signal_relay_seconds_sum')).toBeLessThan(1);
      expect(metric('parley_signal_relay_seconds_bucket', { le: '+Inf' })).toBe(3);
      expect(metric('parley_store_append_seconds_count')).toBe(3);
      expect(metric('parley_store_append_seconds_sum')).toBeGreaterThan(0);
    } finally {
      legacyChat.close();
      legacyLogin.close();
    }
  });

  it('keeps each server’s numbers apart (one registry per server)', async () => {
    const other = await startServer();
    try {
      await signedIn('Alice');
      const mine = await scrape(t);
      const theirs = await scrape(other);
      expect(mine('parley_signed_in_users')).toBe(1);
      expect(theirs('parley_signed_in_users')).toBe(0);
    } finally {
      await other.close();
    }
  });
});
