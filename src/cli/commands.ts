import type { DockerApiClient } from '../docker/api-client';
import type { EndpointView, NetworkView, PeerView, StatusView } from '../protocol';
import type { DaemonClient } from './daemon-client';
import { networkIdOf, readDockerNames, type DockerNames } from './docker-names';
import { portLine } from './ports';
import { ago, formatBytes, formatDuration, formatFields, formatTable } from './table';
import { readFdb, silenceOf, type FdbEntry } from './doctor/kernel';

/** What one command prints: the JSON document (--json) and the human text. */
export interface Output {
  json: unknown;
  text: string;
  /** Non-zero: the exit status (doctor with a failed check). */
  exitCode?: number;
  /** Said on stderr (e.g. Docker unreachable, names missing). */
  warnings?: string[];
}

export interface CommandContext {
  daemon: DaemonClient;
  docker: DockerApiClient;
  now: () => Date;
}

const short = (id: string) => id.slice(0, 12);
const dockerWarning = (names: DockerNames) => (names.error ? [`Docker API not reachable, showing IDs only: ${names.error}`] : []);

// ---- status ------------------------------------------------------------------------------------------------

export interface EngineView {
  version?: string;
  apiVersion?: string;
  firewallBackend?: string;
  error?: string;
}

export async function readEngine(docker: DockerApiClient): Promise<EngineView> {
  try {
    const v = await docker.version();
    const info = await docker.info().catch(() => undefined);
    const engine: EngineView = {};
    if (v.Version) engine.version = v.Version;
    if (v.ApiVersion) engine.apiVersion = v.ApiVersion;
    if (info?.FirewallBackend?.Driver) engine.firewallBackend = info.FirewallBackend.Driver;
    return engine;
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export function formatStatus(s: StatusView, engine: EngineView, now: Date): string {
  const head = formatFields([
    ['Version', s.version],
    ['Instance', s.instance],
    ['Scope', s.scope],
    ['Socket', s.socket],
    ['PID', s.pid],
    ['Uptime', formatDuration(s.uptimeSeconds)],
    ['Engine', engine.version ? `Docker ${engine.version} (API ${engine.apiVersion ?? '?'})` : `unknown (${engine.error ?? 'no answer'})`],
    ['Firewall backend', `iptables ${s.firewall.backend ?? 'not detected yet'}${engine.firewallBackend ? ` (engine: ${engine.firewallBackend})` : ''}`],
    ['State directory', s.stateDir],
    ['Store', `${formatBytes(s.store.usedBytes)} used, file ${formatBytes(s.store.fileBytes)}, ${formatBytes(s.store.diskFreeBytes) ?? 'unknown'} free on disk`],
    ['Networks', s.counts.networks],
    ['Endpoints', s.counts.endpoints],
    ['Pools', s.counts.pools],
  ]);
  const tasks = formatTable(
    ['task', 'runs', 'failures', 'last run', 'took', 'result', 'detail'],
    s.tasks.map((t) => [t.name, t.runs, t.failures, ago(t.lastRun, now) ?? 'never', t.lastMs !== undefined ? `${t.lastMs}ms` : undefined, t.ok === undefined ? undefined : t.ok ? 'ok' : 'failed', t.detail]),
  );
  return `${head}\n${tasks}`;
}

export async function status(ctx: CommandContext): Promise<Output> {
  const [s, engine] = await Promise.all([ctx.daemon.status(), readEngine(ctx.docker)]);
  return { json: { ...s, engine }, text: formatStatus(s, engine, ctx.now()), warnings: engine.error ? [`Docker API not reachable: ${engine.error}`] : [] };
}

// ---- networks ----------------------------------------------------------------------------------------------

export type NamedNetwork = NetworkView & { name?: string };

export function formatNetworks(nets: NamedNetwork[]): string {
  return formatTable(
    ['network id', 'name', 'type', 'subnet', 'bridge/parent', 'vni', 'mtu', 'endpoints'],
    nets.map((n) => [short(n.id), n.name, n.type, n.subnets.join(','), n.bridge ?? n.parent, n.vni, n.mtu, n.endpoints]),
  );
}

export async function networks(ctx: CommandContext): Promise<Output> {
  const nets = await ctx.daemon.networks();
  const names = await readDockerNames(ctx.docker, nets.map((n) => n.id));
  const named = nets.map((n) => ({ ...n, ...(names.networks.has(n.id) ? { name: names.networks.get(n.id) } : {}) }));
  return { json: named, text: formatNetworks(named), warnings: dockerWarning(names) };
}

// ---- endpoints ---------------------------------------------------------------------------------------------

export type NamedEndpoint = EndpointView & { container?: string; containerId?: string; network?: string };

export function formatEndpoints(eps: NamedEndpoint[]): string {
  return formatTable(
    ['endpoint id', 'container', 'network', 'type', 'address', 'mac', 'host interface'],
    eps.map((e) => [short(e.id), e.container, e.network ?? short(e.networkId), e.type, [e.address, e.addressIPv6].filter(Boolean).join(','), e.mac, e.hostIfname]),
  );
}

async function namedEndpoints(ctx: CommandContext, networkArg?: string): Promise<{ eps: NamedEndpoint[]; names: DockerNames }> {
  const nets = await ctx.daemon.networks();
  const names = await readDockerNames(ctx.docker, nets.map((n) => n.id));
  const eps = await ctx.daemon.endpoints(networkArg === undefined ? undefined : networkIdOf(networkArg, names));
  return {
    names,
    eps: eps.map((e) => {
      const c = names.containers.get(e.id);
      const network = names.networks.get(e.networkId);
      return { ...e, ...(c ? { container: c.name, containerId: c.id } : {}), ...(network ? { network } : {}) };
    }),
  };
}

export async function endpoints(ctx: CommandContext, networkArg?: string): Promise<Output> {
  const { eps, names } = await namedEndpoints(ctx, networkArg);
  return { json: eps, text: formatEndpoints(eps), warnings: dockerWarning(names) };
}

// ---- ports -------------------------------------------------------------------------------------------------

export interface PortRow {
  container?: string;
  containerId?: string;
  network?: string;
  endpointId: string;
  port: string;
  binding: EndpointView['publishedPorts'][number];
}

export function portRows(eps: NamedEndpoint[]): PortRow[] {
  return eps.flatMap((e) =>
    e.publishedPorts.map((b) => ({ ...(e.container ? { container: e.container } : {}), ...(e.containerId ? { containerId: e.containerId } : {}), ...(e.network ? { network: e.network } : {}), endpointId: e.id, port: portLine(b), binding: b })),
  );
}

export function formatPorts(rows: PortRow[], oneContainer: boolean): string {
  // For one container, exactly `docker port`'s lines.
  if (oneContainer) return rows.map((r) => `${r.port}\n`).join('');
  return formatTable(['container', 'network', 'endpoint id', 'port'], rows.map((r) => [r.container, r.network, short(r.endpointId), r.port]));
}

export async function ports(ctx: CommandContext, containerArg?: string): Promise<Output> {
  const { eps, names } = await namedEndpoints(ctx);
  let chosen = eps;
  if (containerArg !== undefined) {
    const c = await ctx.docker.container(containerArg).catch((err: Error) => {
      throw new Error(`cannot resolve container ${containerArg} through the Docker API: ${err.message}`);
    });
    if (!c) throw new Error(`no such container: ${containerArg}`);
    const ids = new Set(Object.values(c.NetworkSettings?.Networks ?? {}).map((n) => n.EndpointID));
    chosen = eps.filter((e) => ids.has(e.id));
  }
  const rows = portRows(chosen);
  return { json: rows, text: formatPorts(rows, containerArg !== undefined), warnings: dockerWarning(names) };
}

// ---- peers -------------------------------------------------------------------------------------------------

export type PeerRow = PeerView & { network?: string; lastSeenSeconds?: number };

export function peerRows(peers: PeerView[], nets: NetworkView[], fdb: Map<string, FdbEntry[]>, names: DockerNames): PeerRow[] {
  return peers.map((p) => {
    const net = nets.find((n) => n.id === p.networkId);
    const entries = net?.vxlanDevice ? (fdb.get(net.vxlanDevice) ?? []) : [];
    const silence = silenceOf(entries, p.dataAddress);
    const name = names.networks.get(p.networkId);
    return { ...p, ...(name ? { network: name } : {}), ...(silence !== undefined ? { lastSeenSeconds: silence } : {}) };
  });
}

export function formatPeers(rows: PeerRow[]): string {
  return formatTable(
    ['network', 'peer', 'source', 'data address', 'last seen'],
    rows.map((r) => [r.network ?? short(r.networkId), r.address, r.sources.join(','), r.dataAddress, r.lastSeenSeconds === undefined ? 'never' : `${formatDuration(r.lastSeenSeconds)} ago`]),
  );
}

export async function peers(ctx: CommandContext, networkArg?: string): Promise<Output> {
  const nets = await ctx.daemon.networks();
  const names = await readDockerNames(ctx.docker, nets.map((n) => n.id));
  const list = await ctx.daemon.peers(networkArg === undefined ? undefined : networkIdOf(networkArg, names));
  // "Last seen": the freshest frame the kernel learned from that VTEP (bridge -s fdb of the VXLAN device).
  const fdb = new Map<string, FdbEntry[]>();
  for (const n of nets) if (n.vxlanDevice) fdb.set(n.vxlanDevice, await readFdb(n.vxlanDevice).catch(() => []));
  const rows = peerRows(list, nets, fdb, names);
  return { json: rows, text: formatPeers(rows), warnings: dockerWarning(names) };
}
