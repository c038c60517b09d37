import type { RefObject } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** Shows `stream` in the video element behind `ref`, and plays it (1:1 and group calls). */
export function useVideoStream(ref: RefObject<HTMLVideoElement | null>, stream: MediaStream | null): void {
  useEffect(() => {
    const el = ref.current;
    if (!el || el.srcObject === stream) return;
    el.srcObject = stream;
    if (stream) void el.play().catch(() => undefined);
  }, [ref, stream]);
}

/** Re-renders every `ms` while mounted (clocks, countdowns). */
export function useTick(ms: number, active = true): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => {
      setNow(Date.now());
    }, ms);
    return () => {
      clearInterval(timer);
    };
  }, [ms, active]);
  return now;
}
