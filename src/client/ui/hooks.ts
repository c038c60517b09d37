import { useEffect, useState } from 'preact/hooks';

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
