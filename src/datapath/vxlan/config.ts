import type { NetworkRecord, NetworkState, VxlanNetworkState, VxlanOptions } from '../../model/records';
import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { DataPathError } from '../datapath';
import { gatewaysOf } from '../shared/bridge-links';
import { bridgeName, isValidIfname } from '../shared/names';
import { anycastGatewayMac } from './anycast';
import { vxlanName } from './device';
import { floodPeers, subnetOf } from './flood';
import { overlayMtu, resolveUnderlay, type Underlay } from './underlay';

export type { VxlanNetworkState };

/** What the data path works with for one network: the stored state plus the derived pieces. */
export interface NetworkConfig extends VxlanNetworkState {
  family: 4 | 6;
  underlayIndex: number;
  gateways: string[];
  /** Flood destinations: configured, discovered, listed by Docker, learned from traffic. */
  peers: string[];
  /** Where peers may be learned from traffic. */
  learnScope: string[];
}

/** What the configuration of a network depends on besides its record. */
export interface ConfigContext {
  log: Logger;
  /** Swarm: the node's own data-path address (DiscoverNew Self), the default underlay address. */
  selfAddress?: string;
  /** TSNET_PEER_CIDRS; default: the subnet of the network's underlay address. */
  peerCidrs?: string[];
  /** The flood destinations the peer set adds to the configured peers (peers.ts). */
  otherPeers(networkId: string, learnScope: string[]): string[];
}

/**
 * The network's effective configuration. At creation (`stored` undefined) everything is derived
 * from the options and the host; at reconcile the stored names, VNI, port and MTU are kept and the
 * underlay is looked up again (the stored address first: it may have moved after a reboot).
 */
export async function networkConfig(net: NetworkRecord, stored: NetworkState | undefined, context: ConfigContext): Promise<NetworkConfig> {
  const { log, selfAddress } = context;
  if (net.options.type !== 'vxlan') throw new DataPathError(`network ${net.id} is not a vxlan network`);
  const options: VxlanOptions = net.options;
  const vni = options.vni ?? stored?.vni;
  if (vni === undefined) {
    throw new DataPathError(
      'a vxlan network needs -o vni=N (1-16777215) outside Swarm: run the same `docker network create -d tsnet ' +
        '-o type=vxlan -o vni=N -o peers=...` on every host (the VNI is what makes them one network)',
    );
  }
  const port = options.port;
  const storedLocal = stored?.local || undefined;
  let underlay: Underlay;
  try {
    underlay = await resolveUnderlay(options.underlay ?? storedLocal, options.underlay ? undefined : selfAddress, options.peers);
  } catch (err) {
    if (!storedLocal || options.underlay) throw err;
    // The stored address is gone: take the underlay as a new network would, and say so.
    underlay = await resolveUnderlay(undefined, selfAddress, options.peers);
    log.warn('the underlay address of the network changed', { networkId: net.id, was: storedLocal, now: underlay.local });
  }
  let mtu: number;
  if (stored?.mtu !== undefined) {
    mtu = stored.mtu;
  } else {
    const result = overlayMtu(underlay.link.mtu, underlay.family, options.mtu);
    if (result.lowered) {
      log.warn('requested MTU lowered to what the underlay carries', { networkId: net.id, requested: options.mtu, mtu: result.mtu, underlay: underlay.link.name });
    }
    mtu = result.mtu;
  }
  const localAddresses = (await nl.listAddresses()).map((a) => a.ip);
  const learnScope = context.peerCidrs ?? [subnetOf(underlay.local, underlay.prefixLen)];
  const peers = floodPeers(options.peers, context.otherPeers(net.id, learnScope), localAddresses, underlay.family);
  const bridge = stored?.bridgeName || options.bridgeName || bridgeName(net.id);
  const vxlan = stored?.vxlanName || vxlanName(net.id);
  for (const name of [bridge, vxlan]) {
    if (!isValidIfname(name)) throw new DataPathError(`invalid interface name "${name}": 1-15 characters, no '/', ':' or spaces`);
  }
  return {
    bridgeName: bridge,
    vxlanName: vxlan,
    vni,
    port,
    local: underlay.local,
    underlay: underlay.link.name,
    underlayIndex: underlay.link.index,
    family: underlay.family,
    mtu,
    gatewayMac: anycastGatewayMac(vni),
    gateways: gatewaysOf(net),
    peers,
    learnScope,
  };
}

/** What is stored for the network (what was created). */
export function stateOf(config: NetworkConfig): VxlanNetworkState {
  return {
    bridgeName: config.bridgeName,
    vxlanName: config.vxlanName,
    vni: config.vni,
    port: config.port,
    local: config.local,
    underlay: config.underlay,
    mtu: config.mtu,
    gatewayMac: config.gatewayMac,
  };
}

/** The names of the network's links as stored; undefined when createNetwork refused it (nothing was made). */
export function storedNames(net: NetworkRecord): { bridgeName: string; vxlanName: string } | undefined {
  const { bridgeName: bridge, vxlanName: vxlan } = net.datapath;
  if (!bridge || !vxlan || !isValidIfname(bridge) || !isValidIfname(vxlan)) return undefined;
  return { bridgeName: bridge, vxlanName: vxlan };
}

/** The stored overlay MTU (veths and container ends take it). */
export function storedMtu(net: NetworkRecord): number {
  const mtu = net.datapath.mtu;
  if (mtu === undefined) throw new DataPathError(`network ${net.id} has no stored overlay MTU (was it created by this tsnet?)`);
  return mtu;
}
