import { describe, expect, it } from 'vitest';
import { callSetup } from '../../bench/callSetup.js';

// The benchmark's call setup (scenario 5 of `npm run bench`) for one call in each of its four
// modes: the protocol client through a Parley server, the two-page floor, both connections in
// one page, and the built web app on both sides. Each call must show the other side's video on
// both pages (the first frame decoded), over loopback only. Nothing here is timed.

describe('the call-setup benchmark', () => {
  it('makes a call in each mode, every page sees the other side, all candidates on loopback', async () => {
    const result = await callSetup(1, 0);
    expect(result.calls).toBe(1);
    for (const series of [result.parley, result.floor, result.local, result.app]) {
      expect(series.samples).toHaveLength(1);
      const [sample] = series.samples;
      expect(sample!.callerMs).toBeGreaterThan(0);
      expect(sample!.calleeMs).toBeGreaterThan(0);
      expect(series.medianBothMs).toBe(Math.max(sample!.callerMs, sample!.calleeMs));
    }
    expect(result.candidates).toBeGreaterThan(0);
    expect(result.candidateAddresses).toEqual(['127.0.0.1']);
  }, 120_000);
});
