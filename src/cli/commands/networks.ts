import type { NetworkView } from '../../protocol';
import { readDockerNames } from '../docker-names';
import { formatTable } from '../table';
import { dockerWarning, short, type CommandContext, type Output } from './context';

// `tsnet networks`: the stored networks with Docker's names.

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
