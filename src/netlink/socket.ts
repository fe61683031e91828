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

/**
 * Runs one request whose reply the caller decodes itself; resolves with the payload of each reply
 * message. The package's own decoder turns every attribute of every message into objects (a link's
 * IPv6 settings included), which for a dump of 2,000 links costs a fifth of a second.
 */
export function rawRequest(operation: string, type: number, payload: Buffer, flags = 0): Promise<Buffer[]> {
  return request(operation, async (rtnl) => {
    const [msgs] = await rtnl.socket.request(type, [payload], { flags });
    return msgs.map((m) => m.data);
  });
}

/**
 * How a dump socket reads: into a 64 KiB buffer rather than peeking at each datagram's size first
 * (the package's default). The kernel fills a dump's datagrams up to the largest read the socket has
 * offered (at most 32 KiB), so peeking, which offers exactly the pending size, keeps them at one page:
 * a dump of 2,000 links came in 1,000 datagrams instead of 85, at twice the CPU.
 */
const DUMP_READ_BYTES = 65536;

/**
 * Runs one dump request (NLM_F_DUMP added) on a socket of its own, opened for it and closed after,
 * and resolves with the payload of each message. A dump on its own socket needs no place in the
 * shared queue (nothing else can answer into its multipart buffer), so requests made after it need
 * not wait for it.
 */
export async function rawDump(operation: string, type: number, payload: Buffer): Promise<Buffer[]> {
  let rtnl: RtNetlinkSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  // It still sees every request made before it, as a dump in the queue would.
  await queue;
  try {
    // Buffer sizes 0: the kernel's defaults (the package's typing requires both).
    rtnl = createRtNetlink({ messagePeeking: false, msgBufferSize: DUMP_READ_BYTES, recvBufferSize: 0, sendBufferSize: 0 });
    const opened = rtnl;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NetlinkError(operation, 'ETIMEDOUT')), REQUEST_TIMEOUT_MS);
      // A datagram larger than the buffer is cut and dropped by the package: the dump would never end.
      opened.socket.once('truncatedMessage', () => reject(new NetlinkError(operation, 'EMSGSIZE')));
    });
    const [msgs] = await Promise.race([opened.socket.request(type, [payload], { flags: NLM_F.DUMP }), failed]);
    return msgs.map((m) => m.data);
  } catch (err) {
    throw wrapError(operation, err);
  } finally {
    clearTimeout(timer);
    rtnl?.socket.close();
  }
}

/** nlmsghdr flags used for requests (the package adds REQUEST and ACK itself). */
export const NLM_F = {
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  /** NLM_F_ROOT | NLM_F_MATCH */
  DUMP: 0x300,
} as const;
