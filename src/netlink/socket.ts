import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { NetlinkError, wrapError } from './errors';

/**
 * One rtnetlink socket per process, opened on first use. It is bound to the network namespace the
 * process was in when it was opened (tests run the whole process under `unshare -n`). The socket is
 * unreferenced while idle, so it never keeps the process alive.
 *
 * Requests are sent one at a time: the package assembles multipart (dump) replies in a single
 * per-socket buffer, so any reply arriving while a dump is being read ends that dump with
 * "Multipart message not terminated properly". Each request takes about a millisecond.
 */
let shared: RtNetlinkSocket | undefined;
let queue: Promise<unknown> = Promise.resolve();

/** Upper bound for one request; the kernel answers in microseconds to milliseconds. */
const REQUEST_TIMEOUT_MS = 10_000;

function socket(): RtNetlinkSocket {
  shared ??= createRtNetlink();
  return shared;
}

/** Closes the shared socket (shutdown, tests); the next request opens a new one. */
export function closeRtnl(): void {
  shared?.socket.close();
  shared = undefined;
}

/** Runs one request on the shared socket after the previous ones, wrapping its failure. */
export function request<T>(operation: string, run: (rtnl: RtNetlinkSocket) => Promise<T>): Promise<T> {
  const result = queue.then(async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NetlinkError(operation, 'ETIMEDOUT')), REQUEST_TIMEOUT_MS);
    });
    try {
      return await Promise.race([run(socket()), timeout]);
    } catch (err) {
      throw wrapError(operation, err);
    } finally {
      clearTimeout(timer);
    }
  });
  queue = result.catch(() => undefined);
  return result;
}

/** nlmsghdr flags used for requests (the package adds REQUEST and ACK itself). */
export const NLM_F = {
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
} as const;
