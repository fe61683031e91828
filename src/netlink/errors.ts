/**
 * The `netlink` package rejects with a bare `Error("Request rejected: EEXIST")` (no code, no errno
 * property). tsnet wraps every failure into a NetlinkError that names the operation and the object
 * ("create bridge tsn-abc: EEXIST") and carries the errno name in `code`.
 */
export class NetlinkError extends Error {
  constructor(
    /** What was attempted, e.g. "create bridge ts-8e89a1b2c3". */
    readonly operation: string,
    /** errno name from the kernel ("EEXIST", "ENODEV", ...), or "EUNKNOWN" for non-kernel failures. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${code}`, options);
    this.name = 'NetlinkError';
  }
}

const REJECTED = /^Request rejected: (\w+)$/;

/** The errno name of a rejection from the `netlink` package, if it is one. */
export function errnoName(err: unknown): string | undefined {
  if (err instanceof NetlinkError) return err.code;
  if (err instanceof Error) return REJECTED.exec(err.message)?.[1];
  return undefined;
}

export function hasCode(err: unknown, ...codes: string[]): boolean {
  const code = errnoName(err);
  return code !== undefined && codes.includes(code);
}

/** Turns a failure of the request `operation` into a NetlinkError that says what was attempted. */
export function wrapError(operation: string, err: unknown): NetlinkError {
  if (err instanceof NetlinkError) return err;
  const code = errnoName(err);
  if (code !== undefined) return new NetlinkError(operation, code, { cause: err });
  const wrapped = new NetlinkError(operation, 'EUNKNOWN', { cause: err });
  wrapped.message = `${operation}: ${err instanceof Error ? err.message : String(err)}`;
  return wrapped;
}
