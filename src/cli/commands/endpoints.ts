import type { EndpointView } from '../../protocol';
import { networkIdOf, readDockerNames, type DockerNames } from '../docker-names';
import { formatTable } from '../table';
import { dockerWarning, short, type CommandContext, type Output } from './context';

// `tsnet endpoints [NETWORK]`: endpoints with their containers' names.

export type NamedEndpoint = EndpointView & { container?: string; containerId?: string; network?: string };

export function formatEndpoints(eps: NamedEndpoint[]): string {
  return formatTable(
    ['endpoint id', 'container', 'network', 'type', 'address', 'mac', 'host interface'],
    eps.map((e) => [short(e.id), e.container, e.network ?? short(e.networkId), e.type, [e.address, e.addressIPv6].filter(Boolean).join(','), e.mac, e.hostIfname]),
  );
}

export async function namedEndpoints(ctx: CommandContext, networkArg?: string): Promise<{ eps: NamedEndpoint[]; names: DockerNames }> {
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
