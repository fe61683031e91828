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
 * Chain layout (instance "tsnet"; another instance X uses TSNET-X-…):
 *
 *   filter FORWARD ──(pos 1, or right after dockerd's own top jumps)───▶ TSNET-FWD
 *   filter DOCKER-USER (when dockerd made it) ──(pos 1)──────────────▶ TSNET-FWD
 *     TSNET-FWD   1: -j TSNET-ISO                      (base: isolation is decided before any accept)
 *                 then per network: established/DNAT'd in, intra-bridge (icc), out, everything else in: DROP
 *     TSNET-ISO   per network: leaving the bridge for another interface, not DNAT'd → TSNET-ISO2
 *                 internal networks: anything crossing the bridge boundary → DROP
 *     TSNET-ISO2  per network: -o <bridge> DROP; base: -o docker0 / -o br-+ DROP (dockerd's bridges)
 *   nat POSTROUTING ─▶ TSNET-POSTROUTING: per network masquerade out of the subnet, hairpin masquerade
 *   nat PREROUTING (dst-type LOCAL), OUTPUT (dst-type LOCAL, not loopback) ─▶ TSNET-DNAT: published ports
 *   filter INPUT ──(pos 1, -p udp)──▶ TSNET-VXLAN-IN: per VXLAN network, who may send its VNI (vxlan-input.ts)
 *
 * Isolation design (two stages, like dockerd's DOCKER-ISOLATION-STAGE-1/2): stage 1 holds one rule per
 * network that sends packets *leaving* that bridge for any other interface into stage 2; stage 2 holds
 * one DROP per tsnet bridge plus dockerd's bridges. Traffic out to the uplink passes both (nothing in
 * stage 2 matches it), each network owns exactly one rule in each chain (so add/remove never touches
 * another network's rules), and no rule names two networks. Packets that were DNAT'd (a published port,
 * ours or dockerd's, reached through a host address) are exempt: publishing means "reachable from
 * anywhere", as it is for an outside client. The reverse direction (dockerd's bridge → ours) is closed
 * by each network's final `-o <bridge> DROP` (nothing enters a bridge unless it is a reply or DNAT'd).
 * Internal networks drop every packet crossing their bridge boundary already in TSNET-ISO, before any
 * other network's ACCEPT can see it, so the outcome does not depend on rule order between networks.
 */

export type Table = 'filter' | 'nat';

export interface Rule {
  table: Table;
  chain: string;
  /** Exactly as iptables-save prints it after `-A CHAIN `. */
  spec: string;
}

export interface ChainNames {
  fwd: string;
  iso: string;
  iso2: string;
  postrouting: string;
  dnat: string;
  vxlanIn: string;
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
    iso: `${p}-ISO`,
    iso2: `${p}-ISO2`,
    postrouting: `${p}-POSTROUTING`,
    dnat: `${p}-DNAT`,
    vxlanIn: `${p}-VXLAN-IN`,
  };
}

/** Every chain tsnet owns, with its table, in creation order (jump targets first). */
export function ownChains(names: ChainNames): Array<{ table: Table; chain: string }> {
  return [
    { table: 'filter', chain: names.iso2 },
    { table: 'filter', chain: names.iso },
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

/** The rules one network owns for one family, in chain order. [] when the family is not programmed. */
export function networkRules(names: ChainNames, markers: Markers, family: IpFamily, net: FirewallNetwork): Rule[] {
  if (!wantsFamily(net, family)) return [];
  const br = checkInterfaceName(net.bridge);
  const m = markers.network(net.id);
  const { icc, masquerade } = net;
  const iccTarget = icc ? '-j ACCEPT' : '-j DROP';
  const filter = (chain: string, s: string): Rule => ({ table: 'filter', chain, spec: s });
  const nat = (chain: string, s: string): Rule => ({ table: 'nat', chain, spec: s });
  const rules: Rule[] = [];
  if (net.internal) {
    // Nothing crosses the bridge boundary, in either direction; decided in stage 1 (see header).
    rules.push(filter(names.iso, spec([`-i ${br}`, `! -o ${br}`], m, '-j DROP')));
    rules.push(filter(names.iso, spec([`! -i ${br}`, `-o ${br}`], m, '-j DROP')));
    rules.push(filter(names.iso2, spec([`-o ${br}`], m, '-j DROP')));
    rules.push(filter(names.fwd, spec([`-i ${br}`, `-o ${br}`], m, iccTarget)));
    return rules;
  }
  rules.push(filter(names.iso, spec([`-i ${br}`, `! -o ${br}`, '-m conntrack ! --ctstate DNAT'], m, `-j ${names.iso2}`)));
  rules.push(filter(names.iso2, spec([`-o ${br}`], m, '-j DROP')));
  // Replies, and connections to published ports (DNAT'd by us: also hairpin from the same bridge).
  rules.push(filter(names.fwd, spec([`-o ${br}`, '-m conntrack --ctstate RELATED,ESTABLISHED'], m, '-j ACCEPT')));
  rules.push(filter(names.fwd, spec([`-o ${br}`, '-m conntrack --ctstate DNAT'], m, '-j ACCEPT')));
  rules.push(filter(names.fwd, spec([`-i ${br}`, `-o ${br}`], m, iccTarget)));
  rules.push(filter(names.fwd, spec([`-i ${br}`, `! -o ${br}`], m, '-j ACCEPT')));
  // Nothing else enters: unsolicited traffic routed to container addresses stays out even when the
  // FORWARD policy is ACCEPT (no dockerd on the host).
  rules.push(filter(names.fwd, spec([`-o ${br}`], m, '-j DROP')));
  for (const subnet of net.subnets[family]) {
    if (masquerade) rules.push(nat(names.postrouting, spec([`-s ${subnet}`, `! -o ${br}`], m, '-j MASQUERADE')));
    // Hairpin: a container reaching a published port of a neighbour (or itself) through a host address.
    // Without it the reply would go straight back over the bridge with the wrong source.
    rules.push(nat(names.postrouting, spec([`-s ${subnet}`, `-o ${br}`, '-m conntrack --ctstate DNAT'], m, '-j MASQUERADE')));
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

/** Dockerd's bridges: its default bridge and its user networks' br-<id>. */
export const DOCKER_BRIDGES = ['docker0', 'br-+'];

/** Fixed rules inside tsnet's own chains. */
export function baseRules(names: ChainNames, markers: Markers, foreignBridges: string[]): BaseRules[] {
  return [
    { table: 'filter', chain: names.fwd, placement: 'first', specs: [spec([], markers.base, `-j ${names.iso}`)] },
    {
      table: 'filter',
      chain: names.iso2,
      placement: 'any',
      specs: foreignBridges.map((b) => spec([`-o ${checkForeignBridge(b)}`], markers.base, '-j DROP')),
    },
  ];
}

function checkForeignBridge(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}\+?$/.test(name)) throw new Error(`bridge pattern "${name}" is not usable in iptables rules`);
  return name;
}

/**
 * Where a hook must sit in its chain:
 *  - 'first': rule 1 (DOCKER-USER);
 *  - 'forward': rule 1 or preceded only by dockerd's `-j DOCKER-USER` (whose chain starts with our hook
 *    anyway) and `-j DOCKER-ISOLATION-STAGE-1` (drops only) jumps — dockerd moves those to the top on
 *    every start, and fighting it gains nothing;
 *  - 'any': present (nat chains, where order does not decide anything between tsnet and dockerd).
 * INPUT is 'first' so that no earlier ACCEPT of the VXLAN port lets a stranger past the input filter.
 */
export type HookPlacement = 'first' | 'forward' | 'any';

export interface Hook {
  table: Table;
  chain: string;
  spec: string;
  placement: HookPlacement;
  /** Only installed when the chain exists (dockerd's DOCKER-USER). */
  optional: boolean;
}

export const DOCKER_USER = 'DOCKER-USER';

export function hooks(names: ChainNames, markers: Markers, family: IpFamily): Hook[] {
  const h = markers.hook;
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  return [
    { table: 'filter', chain: 'FORWARD', spec: spec([], h, `-j ${names.fwd}`), placement: 'forward', optional: false },
    { table: 'filter', chain: DOCKER_USER, spec: spec([], h, `-j ${names.fwd}`), placement: 'first', optional: true },
    { table: 'nat', chain: 'POSTROUTING', spec: spec([], h, `-j ${names.postrouting}`), placement: 'any', optional: false },
    {
      table: 'nat',
      chain: 'PREROUTING',
      spec: spec(['-m addrtype --dst-type LOCAL'], h, `-j ${names.dnat}`),
      placement: 'any',
      optional: false,
    },
    {
      // Loopback destinations are left to the port holder's userland proxy (see ports.ts).
      table: 'nat',
      chain: 'OUTPUT',
      spec: spec([`! -d ${loopback}`, '-m addrtype --dst-type LOCAL'], h, `-j ${names.dnat}`),
      placement: 'any',
      optional: false,
    },
    { table: 'filter', chain: 'INPUT', spec: spec(['-p udp'], h, `-j ${names.vxlanIn}`), placement: 'first', optional: false },
  ];
}
