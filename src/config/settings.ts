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
  };
}

function milliseconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text)) throw new SettingsError(`${name} must be a whole number of milliseconds, not "${text}"`);
  return Number(text);
}
