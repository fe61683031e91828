import type { EndpointView } from '../../protocol';
import { portLine } from '../ports';
import { formatTable } from '../table';
import { dockerWarning, short, type CommandContext, type Output } from './context';
import { namedEndpoints, type NamedEndpoint } from './endpoints';

// `tsnet ports [CONTAINER]`: published ports as `docker port` prints them.

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
