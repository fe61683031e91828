/** Every TSNET_* setting, read in one place. Defaults are documented in README.md. */
export interface Settings {
  /** Unix socket Docker connects to. */
  socketPath: string;
  /** Group (name or numeric gid) that may also use the socket; unset keeps it root-only (0600). */
  socketGroup: string | undefined;
  /** Directory of the state store and its lock file. */
  stateDir: string;
  logLevel: string;
  /** Distinguishes two tsnet installs on one host: marks interfaces, chains and stored objects. */
  instance: string;
  /** Candidate pools for networks created without --subnet, in order. */
  defaultPools: DefaultPoolSetting[];
  /** GetCapabilities scope: "local" standalone, "global" for a Swarm install. */
  scope: 'local' | 'global';
  /** iptables flavour: 'nft', 'legacy', or undefined to match the host's dockerd. */
  iptablesBackend: string | undefined;
  /** Docker Engine API socket, read by background tasks only (leak collector). */
  dockerSocket: string;
  /** How often the leak collector compares tsnet's endpoints with Docker's; 0 turns it off. */
  gcIntervalMs: number;
  /** How old an endpoint Docker does not list must be before it is released. */
  gcGraceMs: number;
  /** VNIs a Swarm manager allocates to vxlan networks (TSNET_VNI_RANGE, default 1-4095: Docker's overlay starts at 4096). */
  vniRange: VniRange;
  /**
   * Where a VXLAN peer may be taken from traffic alone (TSNET_PEER_CIDRS); undefined = the subnet of
   * each network's underlay address.
   */
  peerCidrs: string[] | undefined;
  /**
   * Swarm: the TCP port on which tsnet instances tell each other their data-path addresses
   * (TSNET_DATA_ADDR_PORT, default 7947; 0 turns the exchange off). See swarm/data-addresses.ts.
   */
  dataAddrPort: number;
  /**
   * Bridges tsnet containers may be routed into besides their own (TSNET_UPLINK_BRIDGES, comma list,
   * iptables `+` suffix wildcard), on top of the bridges holding a default route. See README "Firewall".
   */
  uplinkBridges: string[];
  /** TCP address for GET /metrics besides the plugin socket (TSNET_METRICS_ADDR `HOST:PORT`); unset: off. */
  metricsAddr?: { host: string; port: number };
}

export interface VniRange {
  first: number;
  last: number;
}

/** Parses TSNET_VNI_RANGE: "FIRST-LAST" or one VNI, inside 1-16777215. */
export function parseVniRange(text: string): VniRange {
  const m = /^\s*(\d{1,8})\s*(?:-\s*(\d{1,8})\s*)?$/.exec(text);
  const first = m ? Number(m[1]) : NaN;
  const last = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || first < 1 || last > 16777215 || first > last) {
    throw new SettingsError(`TSNET_VNI_RANGE: "${text}" is not FIRST-LAST with 1 <= FIRST <= LAST <= 16777215 (e.g. 1-4095)`);
  }
  return { first, last };
}

/**
 * Parses TSNET_PEER_CIDRS: comma-separated IPv4/IPv6 CIDRs; empty = undefined (the underlay's subnet);
 * "none" = no scope (flood peers only, nothing learned from traffic).
 */
export function parsePeerCidrs(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  if (text.trim() === 'none') return [];
  return text.split(',').map((entry) => {
    const cidr = entry.trim();
    const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(cidr);
    const v4 = m && /^\d{1,3}(\.\d{1,3}){3}$/.test(m[1]!) && m[1]!.split('.').every((b) => Number(b) <= 255);
    const v6 = m && m[1]!.includes(':');
    if (!m || (!v4 && !v6) || Number(m[2]) > (v4 ? 32 : 128)) {
      throw new SettingsError(`TSNET_PEER_CIDRS: "${cidr}" is not an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/24)`);
    }
    return cidr;
  });
}

export interface DefaultPoolSetting {
  base: string;
  size: number;
}

/** Docker's built-in default address pools (daemon default-address-pools). */
export const DOCKER_DEFAULT_POOLS: DefaultPoolSetting[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

export class SettingsError extends Error {}

/** Parses "CIDR/size,CIDR/size" e.g. "10.100.0.0/16/24,10.101.0.0/16/24". */
export function parseDefaultPools(text: string): DefaultPoolSetting[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry) => {
      const m = /^(.+\/\d{1,3})\/(\d{1,3})$/.exec(entry);
      if (!m) throw new SettingsError(`TSNET_DEFAULT_POOLS: "${entry}" is not BASE_CIDR/SIZE (e.g. 10.100.0.0/16/24)`);
      return { base: m[1]!, size: Number(m[2]) };
    });
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const scope = env.TSNET_SCOPE ?? 'local';
  if (scope !== 'local' && scope !== 'global') {
    throw new SettingsError(`TSNET_SCOPE must be "local" or "global", not "${scope}"`);
  }
  const instance = env.TSNET_INSTANCE ?? 'tsnet';
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/i.test(instance)) {
    throw new SettingsError(`TSNET_INSTANCE "${instance}" must be 1-32 letters, digits, '-' or '_'`);
  }
  return {
    socketPath: env.TSNET_SOCKET ?? '/run/docker/plugins/tsnet.sock',
    socketGroup: env.TSNET_SOCKET_GROUP || undefined,
    stateDir: env.TSNET_STATE_DIR ?? '/var/lib/tsnet',
    logLevel: env.TSNET_LOG_LEVEL ?? 'info',
    instance,
    defaultPools: env.TSNET_DEFAULT_POOLS ? parseDefaultPools(env.TSNET_DEFAULT_POOLS) : DOCKER_DEFAULT_POOLS,
    scope,
    iptablesBackend: env.TSNET_IPTABLES_BACKEND || undefined,
    dockerSocket: env.TSNET_DOCKER_SOCKET ?? '/var/run/docker.sock',
    gcIntervalMs: milliseconds(env, 'TSNET_GC_INTERVAL_MS', 60_000),
    gcGraceMs: milliseconds(env, 'TSNET_GC_GRACE_MS', 120_000),
    vniRange: env.TSNET_VNI_RANGE ? parseVniRange(env.TSNET_VNI_RANGE) : { first: 1, last: 4095 },
    peerCidrs: parsePeerCidrs(env.TSNET_PEER_CIDRS),
    dataAddrPort: parsePort(env, 'TSNET_DATA_ADDR_PORT', 7947),
    uplinkBridges: parseUplinkBridges(env.TSNET_UPLINK_BRIDGES),
    ...(env.TSNET_METRICS_ADDR ? { metricsAddr: parseMetricsAddr(env.TSNET_METRICS_ADDR) } : {}),
  };
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all addresses). */
export function parseMetricsAddr(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new SettingsError(`TSNET_METRICS_ADDR must be HOST:PORT, [IPv6]:PORT or :PORT with a port 1-65535, not "${text}"`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function parseUplinkBridges(text: string | undefined): string[] {
  const names = (text ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  for (const n of names) {
    if (!/^[A-Za-z0-9_.-]{1,15}\+?$/.test(n)) {
      throw new SettingsError(`TSNET_UPLINK_BRIDGES: "${n}" is not a bridge name (1-15 of A-Z a-z 0-9 _ . -, optionally ending in +)`);
    }
  }
  return names;
}

function milliseconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text)) throw new SettingsError(`${name} must be a whole number of milliseconds, not "${text}"`);
  return Number(text);
}

/** A TCP port setting: 1-65535, or 0 for off. */
function parsePort(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new SettingsError(`${name} must be a TCP port (1-65535) or 0 for off, not "${text}"`);
  return Number(text);
}
