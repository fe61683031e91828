import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import ip6addr from 'ip6addr';
import { wantsFamily, type FirewallNetwork } from './network';
import type { IpFamily } from './backend';

/**
 * Pure rule text: chain names, ownership markers, and the rules of one network, written exactly the way
 * iptables-save prints them (match order, quoting, normalised addresses), so that comparing the kernel's
 * dump with the desired rules is a string comparison and an unchanged rule set costs no restore at all.
 *
 * The rule model (README.md, "Firewall"; docs/firewall-design.md has the reasoning). Instance "tsnet";
 * another instance X uses TSNET-X-…:
 *
 *   mangle FORWARD ─▶ TSNET-GUARD      drops only (and the egress mark): what must hold whatever ACCEPTs
 *                                       come later — nothing enters a tsnet bridge unless it is a reply or
 *                                       DNAT'd (a published port); --internal crosses no bridge boundary;
 *                                       traffic leaving a tsnet bridge (not DNAT'd) → TSNET-MARK
 *   mangle TSNET-MARK                   uplink bridges RETURN, then MARK EGRESS_MARK; the bridge family
 *                                       (egress-filter.ts) drops marked frames routed into any bridge, so a
 *                                       tsnet container reaches no other bridge network, whatever its name
 *   mangle INPUT ─▶ TSNET-GUARD-IN     --internal networks reach none of the host's own addresses; no
 *                                       network reaches the host's closed TCP ports (Swarm's 7947)
 *   filter FORWARD ─(after -j DOCKER-USER)─▶ TSNET-FWD   the only ACCEPTs, so an admin's DOCKER-USER
 *                                       rules see all tsnet traffic first; per network icc, replies,
 *                                       DNAT'd, out, and a final DROP of everything else in
 *   nat POSTROUTING ─▶ TSNET-POSTROUTING: per network masquerade out of the subnet, hairpin masquerade
 *   nat PREROUTING (dst-type LOCAL), OUTPUT (dst-type LOCAL, not loopback) ─▶ TSNET-DNAT: published ports
 *   filter INPUT ─(ahead of all but tsnet hooks, -p udp)─▶ TSNET-VXLAN-IN: who may send a VNI (vxlan-input.ts)
 *
 * No rule names two networks and each network owns its rules alone (its marker), so adding or removing
 * one never touches another's. Filter and mangle rules are written in both families for every network
 * (IPv6 link-local exists on every bridge); nat rules only for the families the network has subnets of.
 */

export type Table = 'filter' | 'nat' | 'mangle';

export interface Rule {
  table: Table;
  chain: string;
  /** Exactly as iptables-save prints it after `-A CHAIN `. */
  spec: string;
}

export interface ChainNames {
  fwd: string;
  guard: string;
  guardIn: string;
  mark: string;
  postrouting: string;
  dnat: string;
  vxlanIn: string;
  /** The bridge-family (ebtables) chain dropping marked frames (egress-filter.ts). */
  egress: string;
}

/** Chains of tsnet before the rule model of issue 12; start-up deletes them. */
export function legacyChains(instance: string): Array<{ table: Table; chain: string }> {
  const p = chainPrefix(instance);
  return [
    { table: 'filter', chain: `${p}-ISO` },
    { table: 'filter', chain: `${p}-ISO2` },
  ];
}

/** iptables allows 28 characters in a chain name. */
export const MAX_CHAIN_NAME = 28;
const LONGEST_SUFFIX = '-POSTROUTING';

/**
 * "TSNET" for the default instance, "TSNET-<INSTANCE>" otherwise; an instance too long for the longest
 * chain name is shortened to its first 5 characters plus 5 hex digits of its SHA-1 (stable, distinct).
 */
export function chainPrefix(instance: string): string {
  if (instance.toLowerCase() === 'tsnet') return 'TSNET';
  const room = MAX_CHAIN_NAME - 'TSNET-'.length - LONGEST_SUFFIX.length;
  let tag = instance.toUpperCase();
  if (tag.length > room) {
    const hash = createHash('sha1').update(instance).digest('hex').slice(0, 5).toUpperCase();
    tag = `${tag.slice(0, room - hash.length)}${hash}`;
  }
  return `TSNET-${tag}`;
}

export function chainNames(instance: string): ChainNames {
  const p = chainPrefix(instance);
  return {
    fwd: `${p}-FWD`,
    guard: `${p}-GUARD`,
    guardIn: `${p}-GUARD-IN`,
    mark: `${p}-MARK`,
    postrouting: `${p}-POSTROUTING`,
    dnat: `${p}-DNAT`,
    vxlanIn: `${p}-VXLAN-IN`,
    egress: `${p}-EGRESS`,
  };
}

/** Every iptables chain tsnet owns, with its table, in creation order (jump targets first). */
export function ownChains(names: ChainNames): Array<{ table: Table; chain: string }> {
  return [
    { table: 'mangle', chain: names.mark },
    { table: 'mangle', chain: names.guard },
    { table: 'mangle', chain: names.guardIn },
    { table: 'filter', chain: names.fwd },
    { table: 'nat', chain: names.postrouting },
    { table: 'nat', chain: names.dnat },
    { table: 'filter', chain: names.vxlanIn },
  ];
}

/** Ownership markers carried by every tsnet rule as `-m comment --comment`. */
export class Markers {
  constructor(readonly instance: string) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(instance)) {
      throw new Error(`firewall instance "${instance}" must be 1-32 letters, digits, '-' or '_'`);
    }
  }
  /** Jumps from built-in/dockerd chains into ours. */
  get hook(): string {
    return `tsnet:${this.instance}:hook`;
  }
  /** A hook of any tsnet instance (rules another instance may keep ahead of ours). */
  static isAnyHook(comment: string | undefined): boolean {
    return comment !== undefined && /^tsnet:[A-Za-z0-9_-]{1,32}:hook$/.test(comment);
  }
  /** Fixed rules inside our chains. */
  get base(): string {
    return `tsnet:${this.instance}:base`;
  }
  network(networkId: string): string {
    return `tsnet:${this.instance}:net:${networkId.slice(0, 12)}`;
  }
  /** A VXLAN network's input filter (vxlan-input.ts); owned by the network, so removeNetwork takes it too. */
  vxlanInput(networkId: string): string {
    return `${this.network(networkId)}:vxlan`;
  }
  isVxlanInputMarker(comment: string | undefined): boolean {
    return comment !== undefined && comment.startsWith(`tsnet:${this.instance}:net:`) && comment.endsWith(':vxlan');
  }
  endpoint(networkId: string, endpointId: string): string {
    return `${this.network(networkId)}:ep:${endpointId.slice(0, 12)}`;
  }
  /** True for the network's own rules and its endpoints' rules (port mappings). */
  ownedByNetwork(comment: string | undefined, networkId: string): boolean {
    if (comment === undefined) return false;
    const m = this.network(networkId);
    return comment === m || comment.startsWith(`${m}:`);
  }
  /** The 12-character network ID of a network or endpoint marker of this instance. */
  networkOf(comment: string | undefined): string | undefined {
    if (comment === undefined) return undefined;
    const prefix = `tsnet:${this.instance}:net:`;
    if (!comment.startsWith(prefix)) return undefined;
    return comment.slice(prefix.length).split(':')[0];
  }
  isEndpointMarker(comment: string | undefined): boolean {
    return comment !== undefined && comment.startsWith(`tsnet:${this.instance}:net:`) && comment.includes(':ep:');
  }
}

/** Builds a spec: the parts in iptables-save's order, then the comment, then the target. */
export function spec(parts: Array<string | false | undefined>, comment: string, target: string): string {
  return [...parts.filter((p): p is string => !!p), `-m comment --comment "${comment}"`, target].join(' ');
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function checkInterfaceName(name: string): string {
  if (!IFNAME.test(name)) {
    throw new Error(`interface name "${name}" is not usable in iptables rules (1-15 of A-Z a-z 0-9 _ . -)`);
  }
  return name;
}

/** An address as iptables-save prints it (IPv6 compressed, lower case). */
export function canonicalAddress(address: string): string {
  const family = isIP(address);
  if (family === 0) throw new Error(`"${address}" is not an IP address`);
  return family === 4 ? address : ip6addr.parse(address).toString();
}

/** "ip/len" → the network "net/len" as iptables-save prints it. */
export function canonicalCidr(cidr: string): string {
  const [address, lenText] = cidr.split('/');
  const family = isIP(address ?? '');
  const len = Number(lenText);
  if (family === 0 || !/^\d{1,3}$/.test(lenText ?? '') || len > (family === 4 ? 32 : 128)) {
    throw new Error(`"${cidr}" is not a CIDR`);
  }
  const network = ip6addr.createCIDR(address!, len).address().toString();
  return `${family === 4 ? network : ip6addr.parse(network).toString()}/${len}`;
}

export function familyOf(address: string): IpFamily | undefined {
  const f = isIP(address.split('/')[0] ?? '');
  return f === 4 ? 4 : f === 6 ? 6 : undefined;
}

/**
 * The bit of the packet mark that says "forwarded out of a tsnet bridge, not DNAT'd". One bit, clear of
 * kube-proxy's (0x4000, 0x8000), Tailscale's (0xff0000) and wg-quick's (0xca6c); instances share it.
 */
export const EGRESS_MARK = '0x8000000';

/**
 * The rules one network owns for one family, in chain order. `closedHostPorts`: TCP ports of the host
 * that containers of the network may not reach on any host address (Swarm's data-address port, 7947: a
 * container must not hold it shut nor ask it), dropped in TSNET-GUARD-IN as they arrive from the bridge.
 */
export function networkRules(
  names: ChainNames,
  markers: Markers,
  family: IpFamily,
  net: FirewallNetwork,
  closedHostPorts: readonly number[] = [],
): Rule[] {
  const br = checkInterfaceName(net.bridge);
  const m = markers.network(net.id);
  const iccTarget = net.icc ? '-j ACCEPT' : '-j DROP';
  const rule = (table: Table, chain: string) => (parts: Array<string | false | undefined>, target: string): Rule => ({
    table,
    chain,
    spec: spec(parts, m, target),
  });
  const guard = rule('mangle', names.guard);
  const guardIn = rule('mangle', names.guardIn);
  const fwd = rule('filter', names.fwd);
  const postrouting = rule('nat', names.postrouting);
  if (net.internal) {
    return [
      // Interface based, not address based: covers every prefix, link-local included.
      guard([`-i ${br}`, `! -o ${br}`], '-j DROP'),
      guard([`! -i ${br}`, `-o ${br}`], '-j DROP'),
      // The host's own addresses (the gateway, the LAN address, a proxy listening there) are a way out
      // too. Replies to connections the host opened, and IPv6 neighbour discovery, still pass.
      guardIn([`-i ${br}`, '-m conntrack --ctstate RELATED,ESTABLISHED'], '-j RETURN'),
      ...(family === 6
        ? [135, 136].map((type) => guardIn([`-i ${br}`, '-p ipv6-icmp', `-m icmp6 --icmpv6-type ${type}`], '-j RETURN'))
        : []),
      guardIn([`-i ${br}`], '-j DROP'),
      fwd([`-i ${br}`, `-o ${br}`], iccTarget),
      fwd([`-i ${br}`], '-j DROP'),
      fwd([`-o ${br}`], '-j DROP'),
    ];
  }
  const rules: Rule[] = [
    // Before any routing decision matters: the host's closed ports, whatever address they are asked on.
    ...closedHostPorts.map((port) => guardIn([`-i ${br}`, '-p tcp', `-m tcp --dport ${checkPort(port)}`], '-j DROP')),
    // Only replies and published ports (ours or dockerd's, reached through a host address) enter.
    guard([`! -i ${br}`, `-o ${br}`, '-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT'], '-j DROP'),
    guard([`-i ${br}`, `! -o ${br}`, '-m conntrack ! --ctstate DNAT'], `-j ${names.mark}`),
    // Published ports before icc: a neighbour's published port reached through a host address stays
    // reachable with icc=false, as through Docker's userland proxy (its default).
    fwd([`-o ${br}`, '-m conntrack --ctstate RELATED,ESTABLISHED'], '-j ACCEPT'),
    fwd([`-o ${br}`, '-m conntrack --ctstate DNAT'], '-j ACCEPT'),
    fwd([`-i ${br}`, `-o ${br}`], iccTarget),
    fwd([`-i ${br}`, `! -o ${br}`], '-j ACCEPT'),
    // Nothing else enters, even with the mangle guard flushed and the FORWARD policy ACCEPT.
    fwd([`-o ${br}`], '-j DROP'),
  ];
  if (!wantsFamily(net, family)) return rules;
  for (const subnet of net.subnets[family]) {
    if (net.masquerade) rules.push(postrouting([`-s ${subnet}`, `! -o ${br}`], '-j MASQUERADE'));
    // Hairpin: a container reaching a published port of a neighbour (or itself) through a host address.
    // Without it the reply would go straight back over the bridge with the wrong source.
    rules.push(postrouting([`-s ${subnet}`, `-o ${br}`, '-m conntrack --ctstate DNAT'], '-j MASQUERADE'));
  }
  return rules;
}

export type BasePlacement = 'first' | 'any';

export interface BaseRules {
  table: Table;
  chain: string;
  placement: BasePlacement;
  specs: string[];
}

/**
 * Fixed rules inside tsnet's own chains: TSNET-MARK lets traffic to the host's uplink bridges go
 * unmarked (a host whose LAN or default route is a bridge, br0/vmbr0), then marks everything else.
 */
export function baseRules(names: ChainNames, markers: Markers, uplinkBridges: readonly string[]): BaseRules[] {
  return [
    {
      table: 'mangle',
      chain: names.mark,
      placement: 'any',
      specs: [
        ...uplinkBridges.map((b) => spec([`-o ${checkBridgePattern(b)}`], markers.base, '-j RETURN')),
        spec([], markers.base, `-j MARK --set-xmark ${EGRESS_MARK}/${EGRESS_MARK}`),
      ],
    },
  ];
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is not usable in iptables rules (1-65535)`);
  return port;
}

/** An interface name, or a prefix with iptables' `+` wildcard. */
export function checkBridgePattern(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}\+?$/.test(name)) throw new Error(`bridge name "${name}" is not usable in iptables rules (1-15 of A-Z a-z 0-9 _ . -, optionally ending in +)`);
  return name;
}

/**
 * Where a hook must sit in its chain:
 *  - 'after-docker-user': present once and, when the chain holds dockerd's `-j DOCKER-USER`, below it,
 *    so every admin rule there sees the traffic before tsnet's ACCEPTs; placed right after that jump
 *    (or first without one), but never moved while it is anywhere below it;
 *  - 'ahead': preceded by nothing but hooks of tsnet instances (INPUT: no earlier ACCEPT of the VXLAN
 *    port lets a stranger past the input filter; two instances keep each other's order);
 *  - 'any': present once (drop-only mangle chains, nat chains: order decides nothing there).
 */
export type HookPlacement = 'after-docker-user' | 'ahead' | 'any';

export interface Hook {
  table: Table;
  chain: string;
  spec: string;
  placement: HookPlacement;
}

export const DOCKER_USER = 'DOCKER-USER';

export function hooks(names: ChainNames, markers: Markers, family: IpFamily): Hook[] {
  const h = markers.hook;
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  return [
    { table: 'mangle', chain: 'FORWARD', spec: spec([], h, `-j ${names.guard}`), placement: 'any' },
    { table: 'mangle', chain: 'INPUT', spec: spec([], h, `-j ${names.guardIn}`), placement: 'any' },
    { table: 'filter', chain: 'FORWARD', spec: spec([], h, `-j ${names.fwd}`), placement: 'after-docker-user' },
    { table: 'nat', chain: 'POSTROUTING', spec: spec([], h, `-j ${names.postrouting}`), placement: 'any' },
    {
      table: 'nat',
      chain: 'PREROUTING',
      spec: spec(['-m addrtype --dst-type LOCAL'], h, `-j ${names.dnat}`),
      placement: 'any',
    },
    {
      // Loopback destinations are left to the port holder's userland proxy (see ports.ts).
      table: 'nat',
      chain: 'OUTPUT',
      spec: spec([`! -d ${loopback}`, '-m addrtype --dst-type LOCAL'], h, `-j ${names.dnat}`),
      placement: 'any',
    },
    { table: 'filter', chain: 'INPUT', spec: spec(['-p udp'], h, `-j ${names.vxlanIn}`), placement: 'ahead' },
  ];
}
