import { describe } from '../model/errors';
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

/**
 * The package names errnos with Node's getSystemErrorName, which only knows libuv's list: others
 * arrive as "Unknown system error -54" (or the bare number). These are the Linux errnos rtnetlink
 * returns that libuv cannot name. (libuv calls 95 ENOTSUP; Linux also names it EOPNOTSUPP.)
 */
const LINUX_ERRNO_NAMES: Record<number, string> = {
  42: 'ENOMSG',
  52: 'EBADE',
  54: 'EXFULL', // a bridge already has BR_MAX_PORTS ports
  61: 'ENODATA',
  77: 'EBADFD',
  121: 'EREMOTEIO',
};

const REJECTED = /^Request rejected: (?:(E[A-Z0-9]+)|Unknown system error (-?\d+)|(-?\d+))$/;

/** The errno name of a rejection from the `netlink` package, if it is one. */
export function errnoName(err: unknown): string | undefined {
  if (err instanceof NetlinkError) return err.code;
  if (!(err instanceof Error)) return undefined;
  const m = REJECTED.exec(err.message);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const errno = Math.abs(Number(m[2] ?? m[3]));
  return LINUX_ERRNO_NAMES[errno] ?? `ERRNO${errno}`;
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
  wrapped.message = `${operation}: ${describe(err)}`;
  return wrapped;
}
