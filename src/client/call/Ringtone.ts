/**
 * A ring tone made with WebAudio (no audio files): two short dual-tone bursts every two seconds.
 * Browsers may refuse to start audio before the user has interacted with the page; then it stays
 * silent and the incoming-call panel is the only signal.
 */
export class Ringtone {
  #ctx: AudioContext | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  start(): void {
    if (this.#timer) return;
    try {
      this.#ctx ??= new AudioContext();
      void this.#ctx.resume().catch(() => undefined);
    } catch {
      return;
    }
    this.#burst();
    this.#timer = setInterval(() => {
      this.#burst();
    }, 2000);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx) void ctx.close().catch(() => undefined);
  }

  #burst(): void {
    const ctx = this.#ctx;
    if (!ctx || ctx.state !== 'running') return;
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    const t = ctx.currentTime;
    for (const [at, len] of [
      [0, 0.4],
      [0.6, 0.4],
    ] as const) {
      gain.gain.setValueAtTime(0.12, t + at);
      gain.gain.setValueAtTime(0, t + at + len);
    }
    for (const freq of [440, 480]) {
      const osc = ctx.createOscillator();
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(t);
      osc.stop(t + 1.1);
    }
  }
}
