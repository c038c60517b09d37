import type { CallEndReason, CallMedia } from '../../protocol/protocol.js';
import { InvalidStateError } from '../errors.js';
import type { Session } from './Session.js';

export type CallState = 'ringing' | 'active' | 'ended';

const transitions: Record<CallState, readonly CallState[]> = {
  ringing: ['active', 'ended'],
  active: ['ended'],
  ended: [],
};

/** A 1:1 call as the server sees it: who is in it and whether the callee has said yes. */
export class Call {
  #state: CallState = 'ringing';
  timer: NodeJS.Timeout | null = null;
  endReason: CallEndReason | null = null;
  /**
   * The instance that runs this call when it is not this one (src/server/bus): frames about it
   * go there, and this copy only follows what that instance publishes.
   */
  owner: string | null = null;

  constructor(
    readonly id: string,
    readonly caller: Session,
    readonly callee: Session,
    public media: CallMedia,
  ) {}

  get state(): CallState {
    return this.#state;
  }

  setState(next: CallState): void {
    if (next === this.#state) return;
    if (!transitions[this.#state].includes(next)) {
      throw new InvalidStateError(`call ${this.id}: ${this.#state} -> ${next} is not allowed`);
    }
    this.#state = next;
  }

  isParty(session: Session): boolean {
    return session === this.caller || session === this.callee;
  }

  peerOf(session: Session): Session {
    return session === this.caller ? this.callee : this.caller;
  }
}
