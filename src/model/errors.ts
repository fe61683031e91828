/**
 * One error taxonomy for the whole daemon. Every error tsnet raises on purpose carries a kind; the
 * server maps the kind to an HTTP status (server/app.ts `statusFor`) and `describe` gives the one
 * line shown to the Docker user and written to the log. Anything else that is thrown (a bug, a
 * library's own error) is `internal`.
 */
export type ErrorKind =
  /** The request itself is wrong (a bad option, a pool that overlaps another): fix the command. */
  | 'bad-request'
  /** The request names a network or endpoint tsnet does not have. */
  | 'not-found'
  /** A create that conflicts with an existing object of the same ID or name. */
  | 'conflict'
  /**
   * The host cannot do it as asked now (a foreign interface holds the name, the parent is missing,
   * the VNI is taken, the disk is full): the message says what, and the user or the host can act on it.
   */
  | 'unavailable'
  /** A fault of tsnet's own. */
  | 'internal';

export abstract class TsnetError extends Error {
  abstract readonly kind: ErrorKind;
}

/** An error caused by what the caller asked for; the server answers 400 with its message. */
export class BadRequestError extends TsnetError {
  readonly kind = 'bad-request';
}

/** The request names a network or endpoint tsnet does not have. */
export class NotFoundError extends TsnetError {
  readonly kind = 'not-found';
}

/** A create call that conflicts with an existing object of the same ID. */
export class ConflictError extends TsnetError {
  readonly kind = 'conflict';
}

/** The host refuses what was asked (see ErrorKind 'unavailable'); the message says what to change. */
export class UnavailableError extends TsnetError {
  readonly kind = 'unavailable';
}

/** The kind of any thrown value: a TsnetError's own, `internal` for everything else. */
export function kindOf(err: unknown): ErrorKind {
  return err instanceof TsnetError ? err.kind : 'internal';
}

/** The one-line text of any thrown value, for replies and logs. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
