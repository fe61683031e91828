import type { EndpointRecord, MacvlanEndpointState, MacvlanMode, MacvlanNetworkState, MacvlanOptions, NetworkRecord, NodePeer} from '../../model/records';
import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { DataPathError, type DataPath, type JoinResult } from '../datapath';
import { unicastMacOf } from '../shared/endpoint-mac';
import { logRepair, type EnsuredLink } from '../shared/ensured-link';
import { foreignInterface, LinkOwnership } from '../shared/link-ownership';
import { internalParentPeerName, isValidIfname, isValidInstance, macvlanName } from '../shared/names';
import {
  mayRemoveParent,
  parentNameOf,
  parentRefusal,
  ParentRegistry,
  parseVlanParent,
  planParent,
  type ParentKind,
  type VlanParent,
} from './parent';
import { describe } from '../../model/errors';
import { DEFAULT_MTU, mtuOption } from '../shared/mtu';
import type { FirewallNetwork } from '../../firewall/network';
import { macvlanSinkOf } from '../shared/firewall-network';

/**
 * The kernel operations the macvlan data path uses: the netlink module itself in production; tests
 * may pass a recording stand-in where this kernel cannot do the real thing (802.1Q sub-interfaces).
 */
export interface LinkOps {
  findLink(ref: nl.LinkRef): Promise<nl.Link | undefined>;
  listLinks(): Promise<nl.Link[]>;
  createLink(spec: nl.LinkSpec): Promise<nl.Link>;
  deleteLink(ref: nl.LinkRef): Promise<boolean>;
  setAlias(ref: nl.LinkRef, alias: string): Promise<void>;
  setLinkUp(ref: nl.LinkRef): Promise<void>;
  setMtu(ref: nl.LinkRef, mtu: number): Promise<void>;
  setMac(ref: nl.LinkRef, mac: string): Promise<void>;
}

export interface MacvlanDataPathOptions {
  log: Logger;
  /** TSNET_INSTANCE: part of every ownership marker. */
  instance: string;
  /** Default: the netlink module. */
  kernel?: LinkOps;
  /** Rules for the sink of internal-only networks (firewall-network.ts, macvlanSinkOf); none without. */
  firewall?: MacvlanFirewall;
}

/** The firewall seam of the macvlan data path; both calls idempotent. */
export interface MacvlanFirewall {
  addNetwork(net: FirewallNetwork): Promise<void>;
  removeNetwork(net: FirewallNetwork): Promise<void>;
}


/**
 * Containers as hosts on an existing L2 segment: one macvlan link per endpoint on the network's
 * parent, created in the host namespace with the network's MTU, mode and the endpoint's MAC, and
 * handed to Docker in Join. No addresses go on any host interface (the gateway is a router on the
 * LAN), no published ports (Docker's macvlan driver ignores -p too), and firewall rules only for the
 * sink of internal-only networks (below).
 *
 * Parents, as Docker's built-in macvlan driver has them:
 * - `-o parent=IFACE`: must exist, be up and not be tsnet's (parent.ts); used as is, never changed.
 * - `-o parent=IFACE.VLAN`: used if it exists (and then never removed); else tsnet creates the 802.1Q
 *   sub-interface on IFACE, marks it and removes it with the network. Only one network may use a
 *   parent, so "the last network that uses it" is the network that created it.
 * - no parent: an internal-only network on a parent tsnet owns, created and removed with the network.
 *   Docker uses a `dummy` link; this kernel has none, so tsnet uses a veth pair (tsmp.../tsms...,
 *   both ends marked and up), which every stock kernel has. Not an empty bridge: whether a bridge
 *   without ports has carrier differs between kernels (this one reports LOWER_UP, older ones
 *   NO-CARRIER), and macvlans on a lower without carrier drop every packet; a veth pair with both ends
 *   up has carrier everywhere. Frames to unknown MACs leave through the veth and arrive at its other
 *   end in the host's stack; the firewall drops every IP packet from it (no forwarding, no host
 *   address), so like Docker's dummy it is a dead end.
 * - `--internal` with `-o parent`: the parent is not used and the network is internal-only as above
 *   (logged): "no way out" cannot hold on a LAN, where no netfilter hook sees a macvlan's frames.
 *
 * Every link tsnet creates carries an ownership marker in its alias (names.ts); nothing without our
 * marker is ever changed or deleted.
 */
export class MacvlanDataPath implements DataPath<MacvlanNetworkState, MacvlanEndpointState> {
  readonly type = 'macvlan' as const;
  private readonly log: Logger;
  private readonly kernel: LinkOps;
  private readonly owner: LinkOwnership;
  private readonly parents = new ParentRegistry();
  private readonly firewall?: MacvlanFirewall;

  constructor(options: MacvlanDataPathOptions) {
    if (!isValidInstance(options.instance)) throw new Error(`invalid tsnet instance name "${options.instance}"`);
    this.log = options.log;
    this.kernel = options.kernel ?? nl;
    this.firewall = options.firewall;
    this.owner = new LinkOwnership({ log: options.log, instance: options.instance, type: this.type, kernel: this.kernel });
  }

  // ---------------------------------------------------------------------------------------------
  // Networks

  async createNetwork(net: NetworkRecord): Promise<MacvlanNetworkState> {
    const options = this.optionsOf(net);
    const mtu = mtuOption(net, 'a macvlan');
    const parentName = parentNameOf(net.id, options.parent);
    const claimed = this.parents.claim(parentName, net.id);
    let created: string | undefined;
    try {
      const { link, kind, createdParent, created: createdNow, vlan } = await this.ensureParent(net, options);
      if (createdNow) created = link.name;
      if (mtu !== undefined && mtu > link.mtu) {
        throw new DataPathError(`MTU ${mtu} is larger than the MTU ${link.mtu} of parent ${link.name}`);
      }
      const state: MacvlanNetworkState = {
        parent: link.name,
        parentIndex: link.index,
        parentKind: kind,
        createdParent,
        ...(vlan ? { vlan } : {}),
        internalOnly: kind === 'internal',
        mode: options.mode,
      };
      if (net.internal && net.options.type === 'macvlan' && net.options.parent !== undefined) {
        this.log.warn('--internal macvlan network: -o parent is not used; the network is internal-only (no way out to the LAN)', {
          networkId: net.id,
          parent: net.options.parent,
        });
      }
      if (state.internalOnly) await this.firewall?.addNetwork(macvlanSinkOf(net));
      this.log.debug('macvlan network ready', { networkId: net.id, ...state });
      return { ...state };
    } catch (err) {
      if (claimed) this.parents.release(parentName, net.id);
      if (created) await this.owner.deleteCreated(created);
      throw err;
    }
  }

  async deleteNetwork(net: NetworkRecord): Promise<void> {
    const options = this.optionsOf(net);
    if (options.parent === undefined) await this.firewall?.removeNetwork(macvlanSinkOf(net));
    const parentName = parentNameOf(net.id, options.parent);
    this.parents.release(parentName, net.id);
    const link = await this.kernel.findLink(parentName);
    if (link && mayRemoveParent(link, this.owner.netMarker(net.id))) {
      // Deleting a veth end deletes its peer; deleting a parent deletes any macvlan still on it.
      await this.kernel.deleteLink(link);
      this.log.info('removed the parent tsnet created for the network', { networkId: net.id, parent: parentName });
    } else if (link && net.datapath.createdParent === true) {
      this.log.warn('parent not removed: it does not carry this network\'s marker', {
        networkId: net.id,
        parent: parentName,
        alias: link.alias,
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Endpoints

  async createEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<MacvlanEndpointState> {
    const parent = await this.parentFor(net);
    const { link } = await this.ensureEndpoint(net, ep, parent);
    const state: MacvlanEndpointState = { ifname: link.name };
    return { ...state };
  }

  async deleteEndpoint(_net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    const name = this.endpointNameOf(ep);
    // No link: never made, or already gone (with its container or its parent).
    await this.owner.deleteIfOurs(name, this.owner.epMarker(ep.id), 'macvlan not deleted: it is not marked as this endpoint\'s', {
      endpointId: ep.id,
      link: name,
    });
  }

  /** Hands Docker the endpoint's macvlan; one gone since CreateEndpoint is made again first. */
  async join(net: NetworkRecord, ep: EndpointRecord, _sandboxKey: string): Promise<JoinResult> {
    const name = this.endpointNameOf(ep);
    const link = await this.kernel.findLink(name);
    if (!link || link.alias !== this.owner.epMarker(ep.id)) {
      if (!link) this.log.warn('macvlan link missing at Join; recreating it', { networkId: net.id, endpointId: ep.id, link: name });
      await this.ensureEndpoint(net, ep, await this.parentFor(net));
    }
    return { srcName: name };
  }

  /** Nothing to do: Docker moves the link back to the host namespace when the sandbox goes. */
  async leave(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}

  /** Containers are hosts on the LAN: no NAT, no published ports (Docker's macvlan ignores -p too). */
  async programExternalConnectivity(_net: NetworkRecord, _ep: EndpointRecord): Promise<Partial<MacvlanEndpointState>> {
    return {};
  }

  async revokeExternalConnectivity(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}

  /** Macvlan networks are per host: peers do not matter. */
  async discoverNew(_peer: NodePeer): Promise<void> {}

  async discoverDelete(_peer: NodePeer): Promise<void> {}

  // ---------------------------------------------------------------------------------------------
  // Reconcile

  /**
   * Converges the kernel to the stored macvlan networks and endpoints:
   * - rebuilds the parent registry (which network uses which parent) from the stored networks;
   * - parents tsnet owns (internal veth pairs, sub-interfaces it created) exist, marked and up;
   *   a user's parent that is missing or down is logged (tsnet cannot make it) and its endpoints
   *   are left alone;
   * - every endpoint not joined to a sandbox has its macvlan link (a joined endpoint's link lives
   *   in the container's namespace and is not looked for);
   * - links with this instance's macvlan markers that no stored record refers to are deleted.
   * Keeps going past failures and throws one error listing those of objects tsnet owns.
   */
  async reconcile(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<void> {
    const ours = nets.filter((n) => n.type === this.type);
    const failures: string[] = [];

    const collisions = this.parents.reset(ours.map((n) => ({ parent: parentNameOf(n.id, this.optionsOf(n).parent), networkId: n.id })));
    for (const c of collisions) {
      this.log.error('reconcile: two stored networks use the same parent', { parent: c.parent, networkId: c.networkId, other: c.holder });
    }

    const parents = new Map<string, nl.Link>();
    for (const net of ours) {
      try {
        const parent = await this.reconcileParent(net);
        if (parent) parents.set(net.id, parent);
      } catch (err) {
        failures.push(`network ${net.id}: ${describe(err)}`);
        this.log.error('reconcile: network parent not repaired', { networkId: net.id, err: describe(err) });
      }
    }

    for (const ep of eps) {
      const net = ours.find((n) => n.id === ep.networkId);
      const parent = parents.get(ep.networkId);
      if (!net || !parent) continue;
      if (ep.sandboxKey !== undefined) continue; // the link is inside the container
      try {
        const result = await this.ensureEndpoint(net, ep, parent);
        logRepair(this.log, result, 'macvlan', { networkId: net.id, endpointId: ep.id, link: result.link.name });
      } catch (err) {
        failures.push(`endpoint ${ep.id}: ${describe(err)}`);
        this.log.error('reconcile: endpoint not repaired', { networkId: ep.networkId, endpointId: ep.id, err: describe(err) });
      }
    }

    // Endpoints first; then parents (deleting one veth end takes the other, which then reports ENODEV).
    failures.push(...(await this.owner.pruneOrphans({ net: new Set(ours.map((n) => n.id)), ep: new Set(eps.map((e) => e.id)) })));

    if (failures.length > 0) {
      throw new Error(`macvlan reconcile left ${failures.length} problem(s): ${failures.join('; ')}`);
    }
  }

  /** The parent of a stored network, repaired if tsnet owns it; undefined if it is the user's and unusable. */
  private async reconcileParent(net: NetworkRecord): Promise<nl.Link | undefined> {
    const options = this.optionsOf(net);
    const name = parentNameOf(net.id, options.parent);
    const link = await this.kernel.findLink(name);
    const owned = options.parent === undefined || net.datapath.createdParent === true || link?.alias === this.owner.netMarker(net.id);
    if (!owned) {
      const problem = !link ? 'does not exist' : !link.up ? 'is down' : undefined;
      if (problem) {
        // Not tsnet's to make or change: say so, and keep the rest of tsnet running.
        this.log.error(`reconcile: parent ${name} ${problem}; the network's containers have no connectivity until it is back`, {
          networkId: net.id,
          parent: name,
        });
        return undefined;
      }
      return link;
    }
    const { link: parent, created } = await this.ensureParent(net, options);
    if (created) this.log.info('reconcile: recreated missing parent', { networkId: net.id, parent: name });
    return parent;
  }

  // ---------------------------------------------------------------------------------------------
  // Create-or-verify

  /**
   * Resolves the network's parent, creating it when tsnet must (sub-interface, internal parent).
   * `createdParent`: tsnet made it (now or before) and removes it with the network; `created`: made
   * by this call (and deleted again by this call on failure).
   */
  private async ensureParent(
    net: NetworkRecord,
    options: MacvlanOptions,
  ): Promise<{ link: nl.Link; kind: ParentKind; createdParent: boolean; created: boolean; vlan?: VlanParent }> {
    const marker = this.owner.netMarker(net.id);
    const name = parentNameOf(net.id, options.parent);
    const plan = planParent(net.id, options.parent, await this.kernel.findLink(name), marker);
    switch (plan.action) {
      case 'refuse':
        throw new DataPathError(plan.reason);
      case 'create-internal': {
        const { link, created } = await this.ensureInternalParent(net);
        return { link, kind: 'internal', createdParent: true, created };
      }
      case 'create-vlan': {
        const link = await this.createVlanParent(net, plan.name, plan.vlan);
        return { link, kind: 'vlan', createdParent: true, created: true, vlan: plan.vlan };
      }
      case 'use': {
        if (plan.kind === 'internal') {
          const { link } = await this.ensureInternalParent(net);
          return { link, kind: 'internal', createdParent: true, created: false };
        }
        await this.checkParent(plan.link, marker);
        if (plan.created) {
          // Our own sub-interface from an earlier call: converge it.
          if (!plan.link.up) await this.kernel.setLinkUp(plan.link);
          const vlan = parseVlanParent(plan.link.name);
          return { link: plan.link, kind: 'vlan', createdParent: true, created: false, ...(vlan ? { vlan } : {}) };
        }
        if (!plan.link.up) throw new DataPathError(`parent interface ${plan.link.name} is down`);
        return { link: plan.link, kind: 'existing', createdParent: false, created: false };
      }
    }
  }

  /** Refuses a link tsnet must not touch as a parent (parent.ts). */
  private async checkParent(link: nl.Link, marker: string): Promise<void> {
    const peer = link.kind === 'veth' && link.parentIndex !== undefined && link.parentNetnsId === undefined
      ? await this.kernel.findLink(link.parentIndex)
      : undefined;
    const refusal = parentRefusal(link, marker, peer);
    if (refusal) throw new DataPathError(refusal);
  }

  /**
   * Creates the 802.1Q sub-interface `name` (VLAN `vlan.vlanId` on `vlan.base`), marked as this
   * network's and up. Deleted again if a later step fails.
   */
  private async createVlanParent(net: NetworkRecord, name: string, vlan: VlanParent): Promise<nl.Link> {
    const base = await this.kernel.findLink(vlan.base);
    if (!base) throw new DataPathError(`parent interface ${name} does not exist, and neither does ${vlan.base} to create it on`);
    await this.checkParent(base, this.owner.netMarker(net.id));
    if (!base.up) throw new DataPathError(`cannot create 802.1q sub-interface ${name}: ${vlan.base} is down`);
    let link: nl.Link;
    try {
      link = await this.kernel.createLink({ kind: 'vlan', name, parentIndex: base.index, vlanId: vlan.vlanId, up: true });
    } catch (err) {
      if (nl.hasCode(err, 'EEXIST')) throw new DataPathError(`parent interface ${name} appeared while tsnet was creating it; try again`);
      const hint = nl.hasCode(err, 'ENOTSUP', 'EOPNOTSUPP') ? ' (is the 8021q module available?)' : '';
      throw new DataPathError(`kernel refused to create 802.1q sub-interface ${name}: ${describe(err)}${hint}`);
    }
    try {
      await this.kernel.setAlias(link, this.owner.netMarker(net.id));
    } catch (err) {
      await this.owner.deleteCreated(name);
      throw err;
    }
    this.log.info('created 802.1q sub-interface for the network', { networkId: net.id, parent: name, base: vlan.base, vlanId: vlan.vlanId });
    return { ...link, alias: this.owner.netMarker(net.id) };
  }

  /**
   * The internal parent of a parent-less network: a veth pair tsmp<id> / tsms<id>, both ends marked
   * and up, with the network's MTU (default 1500). Deleted again if a later step fails.
   */
  private async ensureInternalParent(net: NetworkRecord): Promise<EnsuredLink> {
    const name = parentNameOf(net.id, undefined);
    const peerName = internalParentPeerName(net.id);
    const marker = this.owner.netMarker(net.id);
    const mtu = mtuOption(net, 'a macvlan') ?? DEFAULT_MTU;

    let link = await this.kernel.findLink(name);
    let created = false;
    if (link) {
      this.owner.check(link, marker, 'veth');
    } else {
      try {
        link = await this.kernel.createLink({ kind: 'veth', name, mtu, peer: { name: peerName, mtu } });
      } catch (err) {
        if (nl.hasCode(err, 'EEXIST')) throw foreignInterface((await this.kernel.findLink(peerName)) ? peerName : name);
        throw err;
      }
      created = true;
    }

    const repairs: string[] = [];
    try {
      if (link.alias !== marker) await this.kernel.setAlias(link, marker);
      const peer = await this.kernel.findLink(peerName);
      if (!peer || peer.index !== link.parentIndex || link.parentNetnsId !== undefined) {
        throw new DataPathError(`internal parent ${name} of network ${net.id} has lost its other end ${peerName}`);
      }
      if (peer.alias !== marker) await this.kernel.setAlias(peer, marker);
      for (const end of [link, peer]) {
        if (end.mtu !== mtu) {
          await this.kernel.setMtu(end, mtu);
          repairs.push(`${end.name} mtu ${end.mtu} -> ${mtu}`);
        }
        if (!end.up) {
          await this.kernel.setLinkUp(end);
          repairs.push(`${end.name} set up`);
        }
      }
    } catch (err) {
      if (created) await this.owner.deleteCreated(name);
      throw err;
    }
    return { link: { ...link, alias: marker, mtu, up: true }, created, repairs: created ? [] : repairs };
  }

  /**
   * Makes the endpoint's macvlan exist on `parent`: marked, with the network's mode and MTU and the
   * endpoint's MAC. One of ours on the wrong parent or in the wrong mode (the parent was recreated)
   * is replaced; a link this call creates is deleted again if a later step fails.
   */
  private async ensureEndpoint(net: NetworkRecord, ep: EndpointRecord, parent: nl.Link): Promise<EnsuredLink> {
    const options = this.optionsOf(net);
    const name = this.endpointNameOf(ep);
    const marker = this.owner.epMarker(ep.id);
    const mode = options.mode;
    const mtu = this.endpointMtu(net, parent);
    const mac = unicastMacOf(ep);
    const passthru = mode === 'passthru';

    let link = await this.kernel.findLink(name);
    const repairs: string[] = [];
    if (link) {
      this.owner.check(link, marker, 'macvlan');
      if (link.parentIndex !== parent.index || link.parentNetnsId !== undefined || link.macvlan?.mode !== mode) {
        repairs.push(`replaced (parent #${link.parentIndex ?? '?'} mode ${link.macvlan?.mode ?? '?'})`);
        await this.kernel.deleteLink(link.index);
        link = undefined;
      }
    }

    let created = false;
    if (!link) {
      if (passthru) await this.checkPassthruFree(parent, name);
      try {
        // passthru: the kernel gives the link the parent's MAC (Docker sets the endpoint's in the sandbox).
        link = await this.kernel.createLink({ kind: 'macvlan', name, parentIndex: parent.index, mode, mtu, ...(passthru ? {} : { mac }) });
      } catch (err) {
        throw await this.endpointCreateError(err, name, parent, mode, mac);
      }
      created = true;
    }

    try {
      if (link.alias !== marker) await this.kernel.setAlias(link, marker);
      if (link.mtu !== mtu) {
        await this.kernel.setMtu(link, mtu);
        repairs.push(`mtu ${link.mtu} -> ${mtu}`);
      }
      if (!passthru && link.mac !== mac) {
        await this.kernel.setMac(link, mac);
        repairs.push(`mac ${link.mac ?? '?'} -> ${mac}`);
      }
    } catch (err) {
      if (created) await this.owner.deleteCreated(name);
      throw err;
    }
    return { link, created, repairs: created ? [] : repairs };
  }

  /** The kernel allows one macvlan per parent in passthru mode; say so before it answers EINVAL. */
  private async checkPassthruFree(parent: nl.Link, name: string): Promise<void> {
    const other = (await this.kernel.listLinks()).find((l) => l.kind === 'macvlan' && l.parentIndex === parent.index && l.name !== name);
    if (other) {
      throw new DataPathError(`macvlan passthru mode takes one endpoint per parent, and ${parent.name} already has ${other.name}`);
    }
  }

  private async endpointCreateError(err: unknown, name: string, parent: nl.Link, mode: MacvlanMode, mac: string): Promise<Error> {
    if (nl.hasCode(err, 'EEXIST')) return foreignInterface(name);
    if (nl.hasCode(err, 'EBUSY')) {
      return new DataPathError(`cannot put a macvlan on ${parent.name}: it is in use by another device (a bridge, bond or other upper device)`);
    }
    if (nl.hasCode(err, 'EADDRINUSE')) return new DataPathError(`MAC address ${mac} is already in use on ${parent.name}`);
    if (nl.hasCode(err, 'EINVAL') && mode === 'passthru') {
      return new DataPathError(`macvlan passthru mode takes one endpoint per parent, and ${parent.name} already has a macvlan`);
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /** The network's parent for an endpoint: a parent tsnet owns is recreated if it has gone missing. */
  private async parentFor(net: NetworkRecord): Promise<nl.Link> {
    const options = this.optionsOf(net);
    const name = parentNameOf(net.id, options.parent);
    const owned = options.parent === undefined || net.datapath.createdParent === true;
    if (!(await this.kernel.findLink(name))) {
      if (!owned) throw new DataPathError(`parent interface ${name} of network ${short(net.id)} does not exist`);
      this.log.warn('parent tsnet created for the network is missing; recreating it', { networkId: net.id, parent: name });
    }
    return (await this.ensureParent(net, options)).link;
  }

  // ---------------------------------------------------------------------------------------------
  // Names, options

  private optionsOf(net: NetworkRecord): MacvlanOptions {
    if (net.options.type !== 'macvlan') throw new Error(`network ${net.id} is a ${net.options.type} network, not macvlan`);
    if (net.options.parent !== undefined && !isValidIfname(net.options.parent)) {
      throw new DataPathError(`invalid parent interface name "${net.options.parent}"`);
    }
    // An internal network never uses a LAN parent (class comment).
    if (net.internal && net.options.parent !== undefined) return { ...net.options, parent: undefined };
    return net.options;
  }

  private endpointNameOf(ep: EndpointRecord): string {
    const name = ep.datapath.ifname || macvlanName(ep.id);
    if (!isValidIfname(name)) throw new DataPathError(`endpoint ID "${ep.id}" gives an invalid interface name "${name}"`);
    return name;
  }


  /** The network's MTU, else the parent's; never larger than the parent's. */
  private endpointMtu(net: NetworkRecord, parent: nl.Link): number {
    const mtu = mtuOption(net, 'a macvlan');
    if (mtu === undefined) return parent.mtu;
    if (mtu > parent.mtu) throw new DataPathError(`MTU ${mtu} is larger than the MTU ${parent.mtu} of parent ${parent.name}`);
    return mtu;
  }
}

function short(id: string): string {
  return id.slice(0, 12);
}

