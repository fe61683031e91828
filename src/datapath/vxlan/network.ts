import type { GatewayFilter, GatewayFilterEntry } from '../../firewall/gateway-filter';
import type { Logger } from '../../log';
import type { NetworkRecord, VxlanNetworkState } from '../../model/records';
import { describe } from '../../model/errors';
import type { BridgeFirewall } from '../bridge/bridge';
import { ensureBridge } from '../shared/bridge-links';
import { logRepair, type EnsuredLink } from '../shared/ensured-link';
import type { LinkOwnership } from '../shared/link-ownership';
import type { NetworkConfig } from './config';
import { ensureFlood, ensureVxlanDevice } from './device';
import type { VxlanInputFilters } from './input-filter';
import { firewallNetworkOf } from '../shared/firewall-network';

/** What a network's pieces are made with. */
export interface NetworkParts {
  log: Logger;
  instance: string;
  owner: LinkOwnership;
  firewall?: BridgeFirewall;
  inputFilters: VxlanInputFilters;
  gatewayFilter: GatewayFilter;
}

export interface EnsureNetworkOptions {
  /** Where the network's gateway filter rules go: set at once, or collected for one replaceAll (reconcile). */
  gatewayRules(entry: GatewayFilterEntry): Promise<void>;
  /** Logs what was repaired on links that existed (reconcile). */
  logRepairs?: boolean;
  /** When a step fails, deletes the links this call created and the rules it may have set (create). */
  undoOnFailure?: boolean;
}

/**
 * Makes the network whole on this host, creating or repairing what is missing or differs: the bridge
 * with the anycast gateway, the VXLAN device on it, its flood entries, the VXLAN input filter, the
 * gateway filter and the bridge's firewall rules. Idempotent: createNetwork, the repair of a missing
 * bridge and reconcile all call it.
 */
export async function ensureNetwork(
  parts: NetworkParts,
  net: NetworkRecord,
  config: NetworkConfig,
  options: EnsureNetworkOptions,
): Promise<{ bridge: EnsuredLink; vxlan: EnsuredLink }> {
  const made: string[] = [];
  try {
    const bridge = await ensureBridge(parts.owner, {
      name: config.bridgeName,
      marker: parts.owner.netMarker(net.id),
      mtu: config.mtu,
      mac: config.gatewayMac,
      gateways: config.gateways,
    });
    if (bridge.created) made.unshift(config.bridgeName);
    if (options.logRepairs) logRepair(parts.log, bridge, 'bridge', { networkId: net.id, bridge: config.bridgeName });
    const vxlan = await ensureVxlanDevice(parts, { ...config, networkId: net.id }, bridge.link);
    if (vxlan.created) made.unshift(config.vxlanName);
    if (options.logRepairs) logRepair(parts.log, vxlan, 'vxlan device', { networkId: net.id, vxlan: config.vxlanName });
    await ensureFlood(parts.log, vxlan.link, config.peers);
    await parts.inputFilters.ensure(net.id, config, config.peers, true);
    await options.gatewayRules(gatewayFilterEntry(config));
    await parts.firewall?.addNetwork(firewallNetworkOf(net, config.bridgeName));
    return { bridge, vxlan };
  } catch (err) {
    if (options.undoOnFailure && made.length > 0) await undo(parts, net, config, made);
    throw err;
  }
}

/** After a failed create: the rules that may have been set and the links that were made go again. */
async function undo(parts: NetworkParts, net: NetworkRecord, config: NetworkConfig, made: string[]): Promise<void> {
  const failed = (what: string, name: string) => (err: unknown) =>
    parts.log.error(`clean-up after a failed call: ${what} not removed`, { link: name, err: describe(err) });
  await parts.firewall?.removeNetwork(firewallNetworkOf(net, config.bridgeName)).catch(failed('firewall rules', config.bridgeName));
  await parts.inputFilters.remove(net.id).catch(failed('vxlan input filter', config.vxlanName));
  await parts.gatewayFilter.remove(config.vxlanName).catch(failed('gateway filter', config.vxlanName));
  for (const name of made) await parts.owner.deleteCreated(name);
}

/** Removes the network's rules and links (links only when they carry the network's marker). */
export async function removeNetwork(parts: NetworkParts, net: NetworkRecord, names: Pick<VxlanNetworkState, 'bridgeName' | 'vxlanName'>): Promise<void> {
  await parts.firewall?.removeNetwork(firewallNetworkOf(net, names.bridgeName));
  await parts.inputFilters.remove(net.id);
  await parts.gatewayFilter.remove(names.vxlanName);
  const marker = parts.owner.netMarker(net.id);
  // The VXLAN device first (its FDB goes with it), then the bridge.
  for (const name of [names.vxlanName, names.bridgeName]) {
    await parts.owner.deleteIfOurs(name, marker, 'link not deleted: it is not marked as this network\'s', { networkId: net.id, link: name });
  }
}

/** The gateway filter rules of a network: its gateway's frames and ARP stay off the VXLAN (anycast.ts). */
export function gatewayFilterEntry(config: Pick<NetworkConfig, 'vxlanName' | 'gatewayMac' | 'gateways'>): GatewayFilterEntry {
  return { device: config.vxlanName, mac: config.gatewayMac, ipv4: config.gateways.filter((g) => !g.includes(':')).map((g) => g.split('/')[0]!) };
}

/** The same from the stored state alone (a network reconcile could not repair keeps its rules). */
export function storedGatewayFilterEntry(net: NetworkRecord, vxlanName: string): GatewayFilterEntry | undefined {
  const mac = net.datapath.gatewayMac;
  if (mac === undefined) return undefined;
  const ipv4 = net.ipv4.map((p) => p.gateway).filter((g): g is string => !!g).map((g) => g.split('/')[0]!);
  return { device: vxlanName, mac, ipv4 };
}
