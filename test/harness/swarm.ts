// Managed-plugin and Swarm plumbing for multi-host docker-tier tests: build the plugin directory once
// per process, install it on a host (its own state directory, Docker API socket mounted), and form a
// Swarm over the hosts' underlay addresses.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DockerHost } from './docker-host';
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

/** swarm init on the first host (a manager), join the rest as workers (or managers). */
export async function formSwarm(hosts: DockerHost[], managers = 1): Promise<void> {
  const [leader, ...rest] = hosts;
  if (!leader?.underlayIp) throw new Error('formSwarm: hosts need underlay addresses');
  await docker(leader, ['swarm', 'init', '--advertise-addr', leader.underlayIp]);
  const workerToken = await docker(leader, ['swarm', 'join-token', '-q', 'worker']);
  const managerToken = await docker(leader, ['swarm', 'join-token', '-q', 'manager']);
  for (const [i, h] of rest.entries()) {
    const token = i + 1 < managers ? managerToken : workerToken;
    await docker(h, ['swarm', 'join', '--token', token, '--advertise-addr', h.underlayIp!, `${leader.underlayIp}:2377`]);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = (await docker(leader, ['node', 'ls', '--format', '{{.Status}}'])).split('\n').filter((s) => s === 'Ready').length;
    if (ready === hosts.length) return;
    if (Date.now() > deadline) throw new Error(`swarm: ${ready}/${hosts.length} nodes Ready after 30 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
