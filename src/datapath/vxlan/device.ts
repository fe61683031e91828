import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { DataPathError } from '../datapath';
import type { EnsuredLink } from '../shared/ensured-link';
import { foreignInterface, type LinkOwnership } from '../shared/link-ownership';
import { parseOwnerMarker } from '../shared/names';
import { applyFlood, canonicalIp, planFlood } from './flood';

/** The VXLAN device of a network: "tsx" + 12 characters of the network ID. */
export function vxlanName(networkId: string): string {
  return `tsx${networkId.slice(0, 12)}`;
}

/** Who makes the devices: links are marked through `owner`; `instance` names the owner of a clashing VNI. */
export interface DeviceContext {
  owner: LinkOwnership;
  instance: string;
  log: Logger;
}

/** What the device of a network must be. */
export interface VxlanDeviceSpec {
  networkId: string;
  vxlanName: string;
  vni: number;
  port: number;
  /** Local underlay address (IFLA_VXLAN_LOCAL). */
  local: string;
  family: 4 | 6;
  underlayIndex: number;
  mtu: number;
}

/** The VXLAN attributes of an existing device that differ from the network's. */
export function vxlanDrift(link: nl.Link, spec: Pick<VxlanDeviceSpec, 'vni' | 'port' | 'local' | 'underlayIndex'>): string[] {
  const info = link.vxlan ?? {};
  const drift: string[] = [];
  if (info.vni !== spec.vni) drift.push(`vni ${info.vni} != ${spec.vni}`);
  if ((info.port ?? 8472) !== spec.port) drift.push(`port ${info.port} != ${spec.port}`);
  if ((info.local && canonicalIp(info.local)) !== canonicalIp(spec.local)) drift.push(`local ${info.local} != ${spec.local}`);
  if (info.learning === false) drift.push('learning off');
  if (info.underlayIndex !== undefined && info.underlayIndex !== spec.underlayIndex) drift.push(`underlay #${info.underlayIndex} != #${spec.underlayIndex}`);
  return drift;
}

/**
 * The VXLAN device: marked, with the network's VNI, port, local address, underlay link and learning,
 * on the bridge with neigh_suppress, overlay MTU, up. A device whose VXLAN attributes differ (they
 * cannot be changed in place) is made again; a VNI another device already uses on this port is
 * refused with the name of its owner.
 */
export async function ensureVxlanDevice(context: DeviceContext, spec: VxlanDeviceSpec, bridge: nl.Link): Promise<EnsuredLink> {
  const { owner, log } = context;
  const name = spec.vxlanName;
  const marker = owner.netMarker(spec.networkId);
  let link = await nl.findLink(name);
  let created = false;
  const repairs: string[] = [];
  if (link) {
    owner.check(link, marker, 'vxlan');
    const drift = vxlanDrift(link, spec);
    if (drift.length > 0) {
      log.warn('vxlan device differs from the network; making it again', { networkId: spec.networkId, vxlan: name, drift });
      await nl.deleteLink(link);
      repairs.push(`recreated (${drift.join(', ')})`);
      link = undefined;
    }
  }
  if (!link) {
    await checkVniFree(context, spec);
    try {
      link = await nl.createLink({
        kind: 'vxlan',
        name,
        vni: spec.vni,
        port: spec.port,
        local: spec.local,
        learning: true,
        underlayIndex: spec.underlayIndex,
        mtu: spec.mtu,
        masterIndex: bridge.index,
      });
    } catch (err) {
      if (nl.hasCode(err, 'EEXIST')) {
        if (await nl.findLink(name)) throw foreignInterface(name);
        await checkVniFree(context, spec);
        throw new DataPathError(`VNI ${spec.vni} on UDP port ${spec.port} is already in use on this host`);
      }
      throw err;
    }
    created = repairs.length === 0;
  }
  try {
    if (link.alias !== marker) await nl.setAlias(link, marker);
    if (link.masterIndex !== bridge.index) {
      await nl.setMaster(link, bridge);
      if (!created) repairs.push(`master -> ${bridge.name}`);
    }
    if (link.mtu !== spec.mtu) {
      await nl.setMtu(link, spec.mtu);
      repairs.push(`mtu ${link.mtu} -> ${spec.mtu}`);
    }
    // ARP/ND for the bridge's own (gateway) addresses is then never flooded to the VXLAN (anycast.ts).
    await nl.setBridgePortOptions(link, { neighSuppress: true, learning: true });
    if (!link.up) {
      await nl.setLinkUp(link);
      if (!created) repairs.push('set up');
    }
  } catch (err) {
    if (created) await owner.deleteCreated(name);
    throw err;
  }
  return { link, created, repairs: created ? [] : repairs };
}

/** Refuses a VNI that another VXLAN device already uses on the same port and family. */
async function checkVniFree({ owner, instance }: DeviceContext, spec: VxlanDeviceSpec): Promise<void> {
  const marker = owner.netMarker(spec.networkId);
  for (const link of await nl.listLinks()) {
    if (link.kind !== 'vxlan' || !link.vxlan || (link.name === spec.vxlanName && link.alias === marker)) continue;
    if (link.vxlan.vni !== spec.vni || (link.vxlan.port ?? 8472) !== spec.port) continue;
    const family = link.vxlan.local === undefined ? undefined : link.vxlan.local.includes(':') ? 6 : 4;
    if (family !== undefined && family !== spec.family) continue;
    const other = parseOwnerMarker(link.alias);
    if (other && other.type === 'vxlan' && other.object === 'net') {
      throw new DataPathError(
        `VNI ${spec.vni} (UDP port ${spec.port}) is already used by tsnet vxlan network ${other.id.slice(0, 12)}` +
          `${other.instance === instance ? '' : ` of tsnet instance ${other.instance}`} on this host (interface ${link.name}); ` +
          'give this network another -o vni',
      );
    }
    throw new DataPathError(
      `VNI ${spec.vni} (UDP port ${spec.port}) is already used on this host by interface ${link.name}, which tsnet does not manage; ` +
        'give this network another -o vni (or -o vxlan_port)',
    );
  }
}

/** Makes the device's flood entries exactly `peers`. */
export async function ensureFlood(log: Logger, vxlan: nl.Link, peers: string[]): Promise<void> {
  const plan = planFlood(peers, await nl.listFdbEntries({ linkIndex: vxlan.index }));
  if (plan.add.length === 0 && plan.remove.length === 0) return;
  await applyFlood(vxlan.index, plan);
  log.info('flood entries updated', { vxlan: vxlan.name, added: plan.add, removed: plan.remove });
}
