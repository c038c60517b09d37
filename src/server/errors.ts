import type { ErrorCode } from '../protocol/protocol.js';

/**
 * A request the user got wrong or that cannot be served right now. The transport answers it with
 * `{type:"error", code, message}` and the connection stays open.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra fields copied into the error frame (e.g. `suggestion` for name_taken). */
    readonly extra: { suggestion?: string } = {},
  ) {
    super(message);
  }
}

/** A state machine was asked for a transition its table does not allow: a bug, not user input. */
export class InvalidStateError extends Error {
  override readonly name = 'InvalidStateError';
}
