import type { NetworkView, PeerView } from '../../protocol';
import { networkIdOf, readDockerNames, type DockerNames } from '../docker-names';
import { readFdb, silenceOf, type FdbEntry } from '../doctor/kernel';
import { formatDuration, formatTable } from '../table';
import { dockerWarning, short, type CommandContext, type Output } from './context';

// `tsnet peers [NETWORK]`: VXLAN peers, where each came from, when last heard from.

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
