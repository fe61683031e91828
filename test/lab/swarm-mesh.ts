/**
 * The 3-node Swarm tests' shared pieces (test/docker/swarm*.test.ts): lab start and tear-down, the
 * plugin process, the mesh of containers on one tsnet network (members, pings, reachability), and
 * what tsnet's VXLAN devices hold (links, FDB, flood destinations). What differs between the tests
 * (network, service, host options, expected flood addresses) is passed in.
 */
import type { DockerHost } from './docker-host';
import { dk, IMAGE } from './docker-scenario';
import { eventually } from './eventually';
import { ensureBusyboxImage } from './image';
import { cmdline, pidAlive } from './proc';
import { buildPluginDir, pluginLines } from './swarm';
import { netnsPath, pidsInNs, pinnedNsInode } from './sys';

/** Where the managed plugin's image has tsnet's entry point. */
export const PLUGIN_ENTRY = '/opt/tsnet/dist/src/main.js';

/** Pids of the plugin's node process: in the host's network namespace (network type host), running PLUGIN_ENTRY. */
export function pluginPids(h: DockerHost): number[] {
  const ino = pinnedNsInode(netnsPath(h.netns));
  if (ino === undefined) return [];
  return pidsInNs('net', ino).filter((p) => cmdline(p).includes(PLUGIN_ENTRY));
}

/** The plugin's one node process on a host (waits up to 10 s for exactly one). */
export async function pluginPid(host: DockerHost): Promise<number> {
  return eventually(() => onlyOne(pluginPids(host), 'plugin processes'), { timeout: 10_000, interval: 250, what: `the plugin process on ${host.name}` });
}

/** The one element of `list`; throws naming what `list` holds otherwise. */
function onlyOne<T>(list: T[], what: string): T {
  const [one] = list;
  if (list.length !== 1 || one === undefined) throw new Error(`${list.length} ${what}: [${list.join(', ')}]`);
  return one;
}

/**
 * After the plugin process `killed` was killed at `killedAt` (ms): waits for Docker's new plugin
 * process and its "tsnet listening" line; returns the ms from the kill to that line.
 */
export async function waitForPluginRestart(host: DockerHost, killed: number, killedAt: number): Promise<number> {
  await eventually(() => onlyOne(pluginPids(host).filter((x) => x !== killed && pidAlive(x)), 'new plugin processes'), {
    timeout: 20_000,
    interval: 250,
    what: 'the restarted plugin process',
  });
  const back = await eventually(
    () => {
      const line = pluginLines(host).find((l) => l.message === 'tsnet listening' && l.time >= killedAt - 1000);
      if (!line) throw new Error('no "tsnet listening" line since the kill yet');
      return line;
    },
    { timeout: 20_000, interval: 250, what: '"tsnet listening" after the kill' },
  );
  return back.time - killedAt;
}

/** Host n (1-based) of the lab; throws when it did not start. */
export function hostAt(hosts: DockerHost[], n: number): DockerHost {
  const host = hosts[n - 1];
  if (!host) throw new Error(`host h${n} not started`);
  return host;
}

/**
 * Starts hosts 1..3 (each lands in `hosts` as soon as it is up, with the busybox image) while the
 * plugin directory builds; all starts settle before a failure is thrown, so after() stops every host
 * that came up even if another failed. Returns the plugin directory.
 */
export async function startSwarmHosts(hosts: DockerHost[], start: (n: number) => Promise<DockerHost>): Promise<string> {
  const building = buildPluginDir();
  const started = await Promise.allSettled([
    building,
    ...[1, 2, 3].map(async (n) => {
      const host = await start(n);
      hosts[n - 1] = host;
      await ensureBusyboxImage(host, IMAGE);
    }),
  ]);
  for (const r of started) if (r.status === 'rejected') throw r.reason;
  return building;
}

/**
 * For steps that build on each other: after a failure the rest would only report the same failure
 * again, so they are skipped. Registers the hooks; returns whether a step failed.
 */
export function skipAfterFirstFailure(): () => boolean {
  let failed = false;
  beforeEach(function () {
    if (failed) this.skip();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });
  return () => failed;
}

/** The last `last` plugin and warning lines of each host's dockerd log, on stderr (after a failure). */
export function printDockerdLogs(hosts: (DockerHost | undefined)[], last: number): void {
  for (const host of hosts) {
    if (!host) continue;
    const lines = host.dockerdLog().split('\n').filter((l) => l.includes(' plugin=') || /level=(error|warning)/.test(l));
    console.error(`--- dockerd log of ${host.name}, plugin and warning lines (last ${last}) ---\n${lines.slice(-last).join('\n')}`);
  }
}

export function printFigures(title: string, figures: Record<string, string>): void {
  if (!Object.keys(figures).length) return;
  console.log(`    ${title}:`);
  for (const [k, v] of Object.entries(figures)) console.log(`      ${k}: ${v}`);
}

/** A container the mesh checks: on which host, its ID there, its address on the network. */
export interface Member {
  label: string;
  host: DockerHost;
  id: string;
  /** Container name (a task's is "<service>.<slot>.<task ID>", which Docker's DNS resolves on every node). */
  name: string;
  ip: string;
}

/** A service's running task containers on a host (IDs). */
export async function tasksOn(host: DockerHost, service: string): Promise<string[]> {
  return (await dk(host, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`, '--filter', 'status=running')).split('\n').filter(Boolean);
}

/** `docker service create` on the manager: a dnsrr service of busybox sleepers, one task on each of the 3 nodes. */
export async function createSpreadService(manager: DockerHost, service: string, net: string): Promise<void> {
  await dk(
    manager,
    'service', 'create', '--detach', '--name', service, '--network', net, '--endpoint-mode', 'dnsrr',
    '--replicas', '3', '--replicas-max-per-node', '1', '--stop-grace-period', '1s', '--no-resolve-image',
    IMAGE, 'sleep', '3600',
  );
}

/** A container's address on network `net`. */
export function ipOn(host: DockerHost, id: string, net: string): Promise<string> {
  return dk(host, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, id);
}

export async function member(label: string, host: DockerHost, id: string, net: string): Promise<Member> {
  return {
    label,
    host,
    id,
    name: (await dk(host, 'inspect', '-f', '{{.Name}}', id)).replace(/^\//, ''),
    ip: await ipOn(host, id, net),
  };
}

/** Waits for one running task of `service` on every host; returns them as members labelled task@<host name>. */
export async function taskMembers(hosts: DockerHost[], service: string, net: string, timeoutMs: number): Promise<Member[]> {
  const perHost = await eventually(
    async () => (await Promise.all(hosts.map((host) => tasksOn(host, service)))).map((ids, i) => onlyOne(ids, `running tasks on ${hosts[i]!.name}`)),
    { timeout: timeoutMs, interval: 250, what: 'one running task of the service on every node' },
  );
  return Promise.all(perHost.map((id, i) => member(`task@${hosts[i]!.name}`, hosts[i]!, id, net)));
}

/**
 * Empties the neighbour (ARP) caches of the members' network namespaces, so that the next ping
 * needs an ARP broadcast across the VXLAN, i.e. the flood entries, not what was learned before.
 */
export function forgetNeighbours(members: Member[]): Promise<unknown> {
  return Promise.all(members.map((m) => m.host.inContainerNs(m.id, ['ip', 'neigh', 'flush', 'all'])));
}

/** One ping (busybox; `extra` adds options such as -c/-s) from a member to an address or name; true when answered. */
export async function ping(from: Member, target: string, extra: string[] = []): Promise<boolean> {
  return (await from.host.docker(['exec', from.id, 'ping', '-c', '1', '-W', '1', ...extra, target], { allowFail: true, timeoutMs: 15_000 })).code === 0;
}

/**
 * Every ordered pair (a in `from`, b in `members`, a ≠ b) pings by IP; failing pairs are retried
 * until all pass or the time is up. Returns the ms until they all answered.
 */
export async function meshReachable(members: Member[], timeoutMs: number, from: Member[] = members): Promise<number> {
  const t0 = Date.now();
  let pending = from.flatMap((a) => members.filter((b) => b !== a).map((b) => [a, b] as const));
  await eventually(
    async () => {
      const results = await Promise.all(pending.map(async ([a, b]) => ((await ping(a, b.ip)) ? undefined : ([a, b] as const))));
      pending = results.filter((p): p is readonly [Member, Member] => p !== undefined);
      if (pending.length) throw new Error(`still unreachable: ${pending.map(([a, b]) => `${a.label} (${a.ip}) -> ${b.label} (${b.ip})`).join(', ')}`);
    },
    { timeout: timeoutMs, interval: 300, what: 'every pair of members answering a ping' },
  );
  return Date.now() - t0;
}

/** tsnet's links on a host: by name and by ownership marker. */
export async function tsnetLinks(host: DockerHost): Promise<string[]> {
  return (JSON.parse((await host.exec(['ip', '-j', 'link', 'show'])).stdout || '[]') as { ifname: string; ifalias?: string }[])
    .filter((l) => /^(ts-|tsv|tsc|tsx)/.test(l.ifname) || l.ifalias?.startsWith('tsnet:'))
    .map((l) => l.ifname);
}

export interface FdbEntry {
  mac: string;
  ifname: string;
  dst?: string;
  state?: string;
  flags?: string[];
}

/** FDB entries of tsnet's VXLAN devices on a host. */
export async function tsnetFdb(host: DockerHost): Promise<FdbEntry[]> {
  return (JSON.parse((await host.exec(['bridge', '-j', 'fdb', 'show'])).stdout || '[]') as FdbEntry[]).filter((e) => e.ifname?.startsWith('tsx'));
}

/** Flood destinations (all-zeros FDB entries) of tsnet's VXLAN devices on a host, sorted. */
export async function floodOf(host: DockerHost): Promise<string[]> {
  return (await tsnetFdb(host))
    .filter((e) => e.mac === '00:00:00:00:00:00' && e.dst)
    .map((e) => e.dst!)
    .sort();
}

/** Each host's flood destinations, in the order of `hosts`. */
function floodsOf(hosts: DockerHost[]): Promise<string[][]> {
  return Promise.all(hosts.map((host) => floodOf(host)));
}

/** "h1: [a, b]; h2: […]" for the floods of `hosts` (in their order). */
function formatFloods(hosts: DockerHost[], floods: string[][]): string {
  return hosts.map((host, i) => `${host.name}: [${(floods[i] ?? []).join(', ')}]`).join('; ');
}

/** "h1: [a, b]; h2: […]" */
export async function floodSummary(hosts: DockerHost[]): Promise<string> {
  return formatFloods(hosts, await floodsOf(hosts));
}

/**
 * Waits until every host floods to exactly `want(n)` (n = 1..3, its place in `hosts`); on time-out the
 * error says what they flood to instead.
 */
export async function waitForFlood(hosts: DockerHost[], what: string, want: (n: number) => string[], timeoutMs: number): Promise<void> {
  await eventually(
    async () => {
      const got = await floodsOf(hosts);
      if (!got.every((g, i) => JSON.stringify(g) === JSON.stringify(want(i + 1)))) throw new Error(`flood entries now ${formatFloods(hosts, got)}`);
    },
    { timeout: timeoutMs, interval: 250, what },
  );
}
