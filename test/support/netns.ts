/**
 * Support for the netns tier. The whole mocha process runs in a private network namespace
 * (`unshare --net` in the Makefile's test-netns target), so tests use the current namespace freely:
 * everything they create dies with it. Each suite's `before` calls requireThrowawayNetns(), which
 * skips the suite, loudly, when the process is still in the host's namespace or is not root.
 *
 * The kernel's view is read back with `ip -j` (iproute2), never with the module under test.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';

/** Why this process must not touch the kernel's network configuration, or undefined if it may. */
export function netnsUnsafeReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  let own: number;
  let init: number;
  try {
    own = statSync('/proc/self/ns/net').ino;
    init = statSync('/proc/1/ns/net').ino;
  } catch (err) {
    return `cannot compare network namespaces: ${(err as Error).message}`;
  }
  if (own === init) return 'still in the initial network namespace (run under `unshare --net`, e.g. `make test-netns`)';
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
export function run(command: string, args: string[]): string {
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
  linkinfo?: { info_kind?: string; info_slave_kind?: string };
}

export interface IpAddr {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
}

export function ipLinks(): IpLink[] {
  return JSON.parse(run('ip', ['-j', '-d', 'link', 'show'])) as IpLink[];
}

export function ipLink(name: string): IpLink | undefined {
  return ipLinks().find((l) => l.ifname === name);
}

/** Global-scope addresses of a link as "ip/len", sorted. */
export function ipAddrs(name: string): string[] {
  const [entry] = JSON.parse(run('ip', ['-j', 'addr', 'show', 'dev', name])) as { addr_info: IpAddr[] }[];
  return (entry?.addr_info ?? [])
    .filter((a) => a.scope === 'global')
    .map((a) => `${a.local}/${a.prefixlen}`)
    .sort();
}

export function ipAddrInfo(name: string): IpAddr[] {
  const [entry] = JSON.parse(run('ip', ['-j', 'addr', 'show', 'dev', name])) as { addr_info: IpAddr[] }[];
  return entry?.addr_info ?? [];
}

/** Names of every link except loopback. */
export function linkNames(): string[] {
  return ipLinks()
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo')
    .sort();
}
