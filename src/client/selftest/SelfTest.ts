import { signal } from '@preact/signals';
import type { IceServer } from '../../protocol/protocol.js';
import {
  fetchIce,
  gather,
  type GatherResult,
  loopback,
  type PathResult,
  type Servers,
  serversOf,
  type Verdict,
  verdictOf,
} from './connectivity.js';

export type SelfTestState = 'idle' | 'running' | 'done' | 'error';

/** Why the test could not start: the server refused (429) or could not be asked. */
export type SelfTestProblem = { kind: 'rateLimited' } | { kind: 'fetchFailed'; detail: string };

/** One run of the self-test, step by step, as signals the page renders while it goes. */
export class SelfTest {
  readonly state = signal<SelfTestState>('idle');
  readonly servers = signal<Servers | null>(null);
  readonly gather = signal<GatherResult | null>(null);
  readonly direct = signal<PathResult | null>(null);
  readonly relay = signal<PathResult | null>(null);
  readonly verdict = signal<Verdict | null>(null);
  readonly problem = signal<SelfTestProblem | null>(null);
  readonly #fetchIce: () => Promise<{ iceServers: IceServer[] }>;

  constructor(options: { fetchIce?: () => Promise<{ iceServers: IceServer[] }> } = {}) {
    this.#fetchIce = options.fetchIce ?? (() => fetchIce());
  }

  async run(): Promise<void> {
    if (this.state.value === 'running') return;
    this.state.value = 'running';
    for (const s of [this.servers, this.gather, this.direct, this.relay, this.verdict, this.problem]) s.value = null;
    let iceServers: IceServer[];
    try {
      iceServers = (await this.#fetchIce()).iceServers;
    } catch (error) {
      const status = error instanceof Error ? error.cause : undefined;
      this.problem.value =
        status === 429 ? { kind: 'rateLimited' } : { kind: 'fetchFailed', detail: (error as Error).message };
      this.state.value = 'error';
      return;
    }
    const servers = serversOf(iceServers);
    this.servers.value = servers;
    this.gather.value = await gather(iceServers);
    const direct = await loopback(iceServers, false);
    this.direct.value = direct;
    const relay: PathResult = servers.turn ? await loopback(iceServers, true) : { state: 'skipped' };
    this.relay.value = relay;
    this.verdict.value = verdictOf({ servers, direct, relay });
    this.state.value = 'done';
  }
}
