/**
 * Support for the netns tier. Each test file runs in a mocha process of its own in a fresh private network
 * namespace (`make test-netns`: one `unshare --net` per file), so tests use the current namespace freely:
 * everything they create dies with it. Each suite's `before` calls requireThrowawayNetns(), which
 * skips the suite, loudly, when the process is still in the host's namespace or is not root.
 *
 * The kernel's view is read back with `ip -j` (iproute2), never with the module under test.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';

function netnsOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined; // another user's or a more privileged process: not readable
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why this process must not touch the kernel's network configuration, or undefined if it may.
 * A throwaway namespace is (a) not the namespace of pid 1 or, where pid 1's is unreadable (as in
 * some sandboxes), not the namespace of every readable ancestor process, and (b) has no default
 * route: a fresh `unshare --net` namespace has none, a namespace someone uses for real has one.
 */
export function netnsUnsafeReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const own = netnsOf('self');
  if (own === undefined) return 'cannot read /proc/self/ns/net';
  const init = netnsOf(1);
  if (init === own) return 'still in the initial network namespace (run under `unshare --net`, e.g. `make test-netns`)';
  if (init === undefined) {
    let unshared = false;
    for (let pid = parentOf(process.pid); pid !== undefined && pid > 1; pid = parentOf(pid)) {
      const ns = netnsOf(pid);
      if (ns !== undefined && ns !== own) unshared = true;
    }
    if (!unshared) return 'in the same network namespace as every ancestor process (run under `unshare --net`, e.g. `make test-netns`)';
  }
  const defaults = [...(JSON.parse(runSync('ip', ['-j', 'route', 'show', 'default'])) as unknown[]), ...(JSON.parse(runSync('ip', ['-j', '-6', 'route', 'show', 'default'])) as unknown[])];
  if (defaults.length > 0) return 'this network namespace has a default route, so it is not a throwaway one';
  return undefined;
}

/** For a suite's `before`: skips the suite with the reason when it would touch the host's network. */
export function requireThrowawayNetns(ctx: Mocha.Context): void {
  const reason = netnsUnsafeReason();
  if (reason === undefined) return;
  console.warn(`\n  *** SKIPPING netns tests: ${reason} ***\n`);
  ctx.skip();
}

/** Runs a command and returns its stdout (throws with its stderr on failure). */
export function runSync(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** One link as `ip -j -d link` prints it (the fields tests look at). */
export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  flags: string[];
  ifalias?: string;
  master?: string;
  address?: string;
  /** The peer (veth) or parent, by name when it is in this namespace. */
  link?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_data?: Record<string, unknown> };
}

export interface IpAddr {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
}

export function ipLinks(): IpLink[] {
  return JSON.parse(runSync('ip', ['-j', '-d', 'link', 'show'])) as IpLink[];
}

export function ipLink(name: string): IpLink | undefined {
  return ipLinks().find((l) => l.ifname === name);
}

/** Global-scope addresses of a link as "ip/len", sorted. */
export function ipAddrs(name: string): string[] {
  const [entry] = JSON.parse(runSync('ip', ['-j', 'addr', 'show', 'dev', name])) as { addr_info: IpAddr[] }[];
  return (entry?.addr_info ?? [])
    .filter((a) => a.scope === 'global')
    .map((a) => `${a.local}/${a.prefixlen}`)
    .sort();
}

export function ipAddrInfo(name: string): IpAddr[] {
  const [entry] = JSON.parse(runSync('ip', ['-j', 'addr', 'show', 'dev', name])) as { addr_info: IpAddr[] }[];
  return entry?.addr_info ?? [];
}

/** Names of every link except loopback. */
export function linkNames(): string[] {
  return ipLinks()
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo')
    .sort();
}
