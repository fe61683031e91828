// Managed-plugin and Swarm plumbing for multi-host docker-tier tests: build the plugin directory once
// per process, install it on a host (its own state directory, Docker API socket mounted), and form a
// Swarm over the hosts' underlay addresses.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DockerHost } from './docker-host';
import { eventually } from './eventually';
import { run } from './proc';

const PROJECT = path.resolve(__dirname, '../../..');
let built: Promise<string> | undefined;

/** plugin/build.sh into a directory under the project's plugin/build (gitignored); once per process. */
export function buildPluginDir(): Promise<string> {
  built ??= (async () => {
    const dir = path.join(PROJECT, 'plugin', 'build', 'tsnet-test');
    const r = await run(path.join(PROJECT, 'plugin', 'build.sh'), [dir], { timeoutMs: 300_000, cwd: PROJECT });
    if (r.code !== 0) throw new Error(`plugin/build.sh failed (${r.code}): ${r.stderr.slice(-2000)}`);
    return dir;
  })();
  return built;
}

async function docker(h: DockerHost, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await h.docker(args, { timeoutMs });
  if (r.code !== 0) throw new Error(`${h.name}: docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * docker plugin create/set/enable on one host: state in the host's scratch dir (never the machine's
 * /var/lib/tsnet), the host's own Docker API socket mounted, and the given TSNET_* settings.
 */
export async function installManagedPlugin(h: DockerHost, pluginDir: string, env: Record<string, string> = {}, name = 'tsnet'): Promise<void> {
  const state = path.join(h.dir, `plugin-state-${name}`);
  fs.mkdirSync(state, { recursive: true });
  await docker(h, ['plugin', 'create', name, pluginDir], 300_000);
  const settings = [`state.source=${state}`, `docker-socket.source=${h.socket}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  await docker(h, ['plugin', 'set', name, ...settings]);
  await docker(h, ['plugin', 'enable', name]);
}

/** A node's Swarm addresses: control plane (`--advertise-addr`) and, if different, data path (`--data-path-addr`). */
export interface SwarmAddresses {
  advertise: string;
  dataPath?: string;
}

/** Default: the host's (first) underlay address for both planes. */
const underlayAddresses = (h: DockerHost): SwarmAddresses => {
  if (!h.underlayIp) throw new Error(`${h.name}: formSwarm needs an underlay address (or an addressesOf)`);
  return { advertise: h.underlayIp };
};

function addressFlags(a: SwarmAddresses): string[] {
  return ['--advertise-addr', a.advertise, ...(a.dataPath ? ['--data-path-addr', a.dataPath] : [])];
}

/** `docker swarm join` of one host, with its addresses, to a manager listening on managerAddress:2377. */
export async function swarmJoin(h: DockerHost, token: string, managerAddress: string, addresses: SwarmAddresses = underlayAddresses(h)): Promise<void> {
  await docker(h, ['swarm', 'join', '--token', token, ...addressFlags(addresses), `${managerAddress}:2377`]);
}

/**
 * swarm init on the first host (a manager), join the rest as workers (or managers). `addressesOf` gives
 * each node's `--advertise-addr` (and `--data-path-addr`); default: its underlay address.
 */
export async function formSwarm(hosts: DockerHost[], managers = 1, addressesOf: (h: DockerHost) => SwarmAddresses = underlayAddresses): Promise<void> {
  const [leader, ...rest] = hosts;
  if (!leader) throw new Error('formSwarm: no hosts');
  const leaderAddresses = addressesOf(leader);
  await docker(leader, ['swarm', 'init', ...addressFlags(leaderAddresses)]);
  const workerToken = await docker(leader, ['swarm', 'join-token', '-q', 'worker']);
  const managerToken = await docker(leader, ['swarm', 'join-token', '-q', 'manager']);
  for (const [i, h] of rest.entries()) {
    const token = i + 1 < managers ? managerToken : workerToken;
    await swarmJoin(h, token, leaderAddresses.advertise, addressesOf(h));
  }
  await eventually(
    async () => {
      const ready = (await docker(leader, ['node', 'ls', '--format', '{{.Status}}'])).split('\n').filter((s) => s === 'Ready').length;
      if (ready !== hosts.length) throw new Error(`${ready}/${hosts.length} nodes Ready`);
    },
    { timeout: 30_000, interval: 250, what: 'every swarm node Ready' },
  );
}

/** One line the managed plugin wrote to stdout, as dockerd logs it (`msg="<json>" plugin=<id>`). */
export interface PluginLine {
  level: string;
  message: string;
  time: number;
  fields: Record<string, unknown>;
}

/** tsnet's JSON log lines from a host's dockerd log (managed plugin). */
export function pluginLines(h: DockerHost): PluginLine[] {
  const out: PluginLine[] = [];
  for (const line of h.dockerdLog().split('\n')) {
    if (!/\splugin=[0-9a-f]{64}\s*$/.test(line)) continue;
    const m = /\smsg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (!m) continue;
    try {
      const fields = JSON.parse(JSON.parse(`"${m[1]}"`)) as Record<string, unknown>;
      out.push({ level: String(fields.level), message: String(fields.message), time: Date.parse(String(fields.timestamp)), fields });
    } catch {
      // not one of tsnet's JSON lines
    }
  }
  return out;
}
