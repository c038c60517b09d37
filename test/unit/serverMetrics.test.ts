import { describe, expect, it } from 'vitest';
import { ServerMetrics } from '../../src/server/ServerMetrics.js';

function metrics(): ServerMetrics {
  return new ServerMetrics({
    connections: () => ({ parley: 0, chat: 0, login: 0 }),
    sessions: () => 0,
    rooms: () => 0,
    calls: () => 0,
    roomCalls: () => 0,
  });
}

/** The relay histogram as a scrape shows it: count, sum and the cumulative count per bucket. */
async function relayHistogram(m: ServerMetrics) {
  const text = await m.registry.getSingleMetricAsString('parley_signal_relay_seconds');
  const value = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));
  const lines = text.split('\n');
  const one = (name: string) => value(lines.find((l) => l.startsWith(`${name} `))!);
  const buckets = new Map(
    lines
      .filter((l) => l.startsWith('parley_signal_relay_seconds_bucket'))
      .map((l) => [/le="([^"]+)"/.exec(l)![1]!, value(l)]),
  );
  return { count: one('parley_signal_relay_seconds_count'), sum: one('parley_signal_relay_seconds_sum'), buckets };
}

describe('ServerMetrics', () => {
  it('counts every relayed signal, across full batches and the part of one before a scrape', async () => {
    const m = metrics();
    expect((await relayHistogram(m)).count).toBe(0);
    // 0.2 ms, 3 ms and 40 ms, over two full batches and part of a third.
    const times = Array.from({ length: 700 }, (_, i) => [0.2, 3, 40][i % 3]!);
    for (const ms of times.slice(0, 300)) m.signalRelayed(ms);
    let h = await relayHistogram(m);
    expect(h.count).toBe(300);
    for (const ms of times.slice(300)) m.signalRelayed(ms);
    h = await relayHistogram(m);
    expect(h.count).toBe(700);
    expect(h.sum).toBeCloseTo(times.reduce((a, ms) => a + ms / 1000, 0), 6);
    const fast = times.filter((ms) => ms === 0.2).length;
    expect(h.buckets.get('0.00025')).toBe(fast);
    expect(h.buckets.get('0.005')).toBe(fast + times.filter((ms) => ms === 3).length);
    expect(h.buckets.get('+Inf')).toBe(700);
    // A scrape with nothing new leaves the figures as they were.
    expect((await relayHistogram(m)).count).toBe(700);
  });
});
