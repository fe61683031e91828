import type * as nl from '../../netlink';
import type { ParentKind, VlanParent } from '../../model/records';
import { DataPathError } from '../datapath';

export type { ParentKind, VlanParent };
import { internalParentName, parseOwnerMarker } from '../shared/names';

/**
 * The parent of a macvlan network, as pure decisions (no kernel access), so each rule is unit-tested
 * on its own: what `-o parent` names, whether a link may serve as a parent, whether tsnet created it
 * and so may remove it, and which network already uses which parent.
 */

/**
 * Docker's format for a sub-interface parent: the name up to the last '.', then a VLAN ID 1-4094
 * ("eth0.10" is VLAN 10 on eth0; "bond0.2.100" is VLAN 100 on "bond0.2"). Anything else is a plain
 * interface name.
 */
export function parseVlanParent(name: string): VlanParent | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const digits = name.slice(dot + 1);
  if (!/^\d{1,4}$/.test(digits)) return undefined;
  const vlanId = Number(digits);
  if (vlanId < 1 || vlanId > 4094) return undefined;
  return { base: name.slice(0, dot), vlanId };
}

/** The parent a network's options name: `-o parent`, or the network's own internal parent. */
export function parentNameOf(networkId: string, parentOption: string | undefined): string {
  return parentOption ?? internalParentName(networkId);
}

/** What createNetwork must do to obtain the parent, given the link of that name if there is one. */
export type ParentPlan =
  | { action: 'use'; kind: ParentKind; link: nl.Link; created: boolean }
  | { action: 'create-internal'; name: string }
  | { action: 'create-vlan'; name: string; vlan: VlanParent }
  | { action: 'refuse'; reason: string };

/**
 * The decision for a parent: an existing link is used (and counts as created by tsnet only when it
 * carries this network's own marker, which tsnet only ever puts on links it created); a missing
 * `IFACE.VLAN` is created; a missing internal parent is created; any other missing name is refused.
 */
export function planParent(
  networkId: string,
  parentOption: string | undefined,
  existing: nl.Link | undefined,
  ownMarker: string,
): ParentPlan {
  const name = parentNameOf(networkId, parentOption);
  if (existing) {
    const created = existing.alias === ownMarker;
    const kind: ParentKind = parentOption === undefined ? 'internal' : created ? 'vlan' : 'existing';
    return { action: 'use', kind, link: existing, created };
  }
  if (parentOption === undefined) return { action: 'create-internal', name };
  const vlan = parseVlanParent(parentOption);
  if (vlan) return { action: 'create-vlan', name, vlan };
  return { action: 'refuse', reason: `parent interface ${parentOption} does not exist` };
}

/**
 * Why `link` must not be a macvlan parent, or undefined if it may be. Refused: loopback; any link
 * with a tsnet marker other than this network's own (another network's bridge, veth, VXLAN, internal
 * parent or endpoint, of this or another tsnet instance); a veth whose other end carries a tsnet
 * marker (the container end of a tsnet bridge endpoint).
 */
export function parentRefusal(link: nl.Link, ownMarker: string, vethPeer?: nl.Link): string | undefined {
  if (link.alias === ownMarker) return undefined;
  if (link.name === 'lo') return `loopback interface ${link.name} is not a valid macvlan parent`;
  const owner = parseOwnerMarker(link.alias);
  if (owner) {
    const object = owner.object === 'net' ? 'network' : 'endpoint';
    return (
      `interface ${link.name} belongs to tsnet ${owner.type} ${object} ${short(owner.id)} ` +
      `(instance ${owner.instance}) and cannot be a macvlan parent`
    );
  }
  if (link.kind === 'veth' && vethPeer && vethPeer.index === link.parentIndex) {
    const peerOwner = parseOwnerMarker(vethPeer.alias);
    if (peerOwner) {
      return (
        `interface ${link.name} is the other end of tsnet's veth ${vethPeer.name} ` +
        `(${peerOwner.type} ${peerOwner.object === 'net' ? 'network' : 'endpoint'} ${short(peerOwner.id)}) ` +
        'and cannot be a macvlan parent'
      );
    }
  }
  return undefined;
}

/**
 * Whether deleting a network may remove its parent: only a link carrying the network's own marker.
 * tsnet marks only links it created (a sub-interface it made, its internal parent), so a
 * sub-interface or interface that existed before is never removed, whatever the stored state says.
 */
export function mayRemoveParent(link: nl.Link | undefined, ownMarker: string): boolean {
  return link !== undefined && link.alias === ownMarker;
}

/**
 * Which network uses which parent, as Docker refuses a second network on the same parent. It lives
 * in memory: rebuilt from the stored networks by reconcile() (which the daemon runs before serving),
 * then kept by createNetwork/deleteNetwork. Claims are synchronous, so two concurrent creates on the
 * same parent cannot both pass the check.
 */
export class ParentRegistry {
  private readonly users = new Map<string, string>();

  /** The network using `parent`, if any. */
  userOf(parent: string): string | undefined {
    return this.users.get(parent);
  }

  /**
   * Claims `parent` for `networkId`. Returns true when newly claimed (the caller releases it if its
   * create fails), false when the network already held it; throws when another network holds it.
   */
  claim(parent: string, networkId: string): boolean {
    const user = this.users.get(parent);
    if (user === networkId) return false;
    if (user !== undefined) throw new DataPathError(`network ${short(user)} already uses parent ${parent}`);
    this.users.set(parent, networkId);
    return true;
  }

  release(parent: string, networkId: string): void {
    if (this.users.get(parent) === networkId) this.users.delete(parent);
  }

  /** Replaces every claim; returns the networks that collide with an earlier one on the same parent. */
  reset(claims: { parent: string; networkId: string }[]): { parent: string; networkId: string; holder: string }[] {
    this.users.clear();
    const collisions: { parent: string; networkId: string; holder: string }[] = [];
    for (const { parent, networkId } of claims) {
      const holder = this.users.get(parent);
      if (holder !== undefined && holder !== networkId) collisions.push({ parent, networkId, holder });
      else this.users.set(parent, networkId);
    }
    return collisions;
  }
}

/** Docker's short network ID (12 characters). */
function short(id: string): string {
  return id.slice(0, 12);
}
