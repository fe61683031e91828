import type { NetworkDriver } from '../driver/driver';
import { ownerMarker } from '../datapath/shared/names';
import { Markers } from '../firewall/rules';
import type { EndpointRecord, NetworkRecord } from '../model/records';
import { INSPECT_PATHS, type EndpointView, type NetworkView, type PeerView, type StatusView } from '../protocol';

/**
 * tsnet's read-only API (protocol/inspect.ts): views of the stored networks and endpoints, the daemon's
 * status and the VXLAN peers, from the store and memory only. No Docker API call and no kernel dump
 * happens here (a request handler must never wait on dockerd).
 */
export interface InspectSources {
  driver: NetworkDriver;
  instance: string;
  status: () => Promise<StatusView>;
  peers: () => PeerView[];
}

export const INSPECT_ROUTES: readonly string[] = Object.values(INSPECT_PATHS);

export function networkView(net: NetworkRecord, endpoints: number, instance: string): NetworkView {
  const o = net.options;
  const d = net.datapath;
  const view: NetworkView = {
    id: net.id,
    type: net.type,
    subnets: [...net.ipv4, ...net.ipv6].map((c) => c.pool),
    gateways: [...net.ipv4, ...net.ipv6].flatMap((c) => (c.gateway ? [c.gateway.split('/')[0]!] : [])),
    internal: net.internal,
    ipv6: net.enableIPv6,
    endpoints,
    createdAt: net.createdAt,
    linkMarker: ownerMarker({ instance, type: net.type, object: 'net', id: net.id }),
  };
  const mtu = d.mtu ?? o.mtu;
  if (mtu !== undefined) view.mtu = mtu;
  if (d.bridgeName) view.bridge = d.bridgeName;
  if (o.type === 'macvlan') {
    if (d.parent) view.parent = d.parent;
    view.macvlanMode = d.mode ?? o.mode;
  }
  if (o.type === 'vxlan') {
    const vni = d.vni ?? o.vni;
    if (vni !== undefined) view.vni = vni;
    if (d.vxlanName) view.vxlanDevice = d.vxlanName;
    view.vxlanPort = d.port ?? o.port;
    if (d.underlay) view.underlay = d.underlay;
    if (d.local) view.localAddress = d.local;
    view.staticPeers = [...o.peers];
  }
  // What firewalledNetworks() gives rules to: networks on a bridge and internal-only macvlan networks.
  if (d.bridgeName || (o.type === 'macvlan' && d.internalOnly === true)) view.firewallMarker = new Markers(instance).network(net.id);
  return view;
}

export function endpointView(ep: EndpointRecord, type: NetworkRecord['type'], instance: string): EndpointView {
  const d = ep.datapath;
  const view: EndpointView = {
    id: ep.id,
    networkId: ep.networkId,
    type,
    mac: ep.macAddress,
    joined: ep.sandboxKey !== undefined,
    publishedPorts: d.publishedPorts ?? [],
    exposedPorts: ep.exposedPorts,
    createdAt: ep.createdAt,
    linkMarker: ownerMarker({ instance, type, object: 'ep', id: ep.id }),
  };
  if (ep.address) view.address = ep.address;
  if (ep.addressIPv6) view.addressIPv6 = ep.addressIPv6;
  // A macvlan link is the container's own interface once joined: no host side then.
  const host = d.hostIfname ?? (ep.sandboxKey === undefined ? d.ifname : undefined);
  if (host) view.hostIfname = host;
  return view;
}

/** The network whose ID is `idOrPrefix` or the only one starting with it; undefined when none or several. */
export function findNetwork(driver: NetworkDriver, idOrPrefix: string): NetworkRecord | undefined {
  const exact = driver.network(idOrPrefix);
  if (exact) return exact;
  const matches = driver.networks().filter((n) => n.id.startsWith(idOrPrefix));
  return matches.length === 1 ? matches[0] : undefined;
}

export type InspectAnswer = { status: number; body: unknown };

/** Answers one GET of the read-only API; undefined when `path` is not one of its paths. */
export async function answerInspect(sources: InspectSources, path: string, query: Record<string, unknown>): Promise<InspectAnswer | undefined> {
  const { driver, instance } = sources;
  switch (path) {
    case INSPECT_PATHS.status:
      return { status: 200, body: await sources.status() };
    case INSPECT_PATHS.networks:
      return { status: 200, body: driver.networks().map((n) => networkView(n, driver.endpoints(n.id).length, instance)) };
    case INSPECT_PATHS.endpoints: {
      const wanted = typeof query.network === 'string' && query.network !== '' ? query.network : undefined;
      const nets = wanted === undefined ? driver.networks() : [findNetwork(driver, wanted)].filter((n): n is NetworkRecord => n !== undefined);
      if (wanted !== undefined && nets.length === 0) return { status: 404, body: { Err: `no tsnet network ${wanted} (or more than one starts with it)` } };
      return { status: 200, body: nets.flatMap((n) => driver.endpoints(n.id).map((ep) => endpointView(ep, n.type, instance))) };
    }
    case INSPECT_PATHS.peers: {
      const wanted = typeof query.network === 'string' && query.network !== '' ? findNetwork(driver, query.network) : undefined;
      if (typeof query.network === 'string' && query.network !== '' && !wanted) return { status: 404, body: { Err: `no tsnet network ${query.network} (or more than one starts with it)` } };
      const peers = sources.peers();
      return { status: 200, body: wanted ? peers.filter((p) => p.networkId === wanted.id) : peers };
    }
    default:
      return undefined;
  }
}
