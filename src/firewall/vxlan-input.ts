import { isIP } from 'node:net';
import type { IpFamily } from './backend';
import { canonicalCidr, spec, type ChainNames, type Markers, type Rule } from './rules';

/**
 * The input filter of a VXLAN network: who may send its VNI to this host. Without it anyone who can
 * reach the VXLAN UDP port can inject frames into the network (and, by the kernel's FDB learning,
 * become a member): VXLAN has no authentication.
 *
 * Per network, in TSNET-VXLAN-IN (hooked first in filter INPUT for UDP):
 *
 *   -s <source> -p udp --dport <port> -m u32 --u32 <VNI = vni>  ACCEPT   (one per allowed source)
 *   -p udp --dport <port> -m u32 --u32 <VNI = vni>               DROP
 *   IPv6 only: -p udp --dport <port> -m u32 ! --u32 <next header = UDP>  DROP
 *
 * The VNI is part of every match, so other VNIs on the same port (dockerd's overlay and ingress use
 * 4789 with VNIs from 4096 up) are never touched by a tsnet network's rules.
 *
 * The VNI is read at a fixed offset behind the IP header: IPv4 honours the header length (IHL), IPv6
 * assumes no extension headers (the kernel's VXLAN never sends any, and reassembly by conntrack
 * removes a fragment header before INPUT). Because a packet with extension headers would slip past
 * the VNI match, IPv6 also drops UDP to the port whose fixed header does not announce UDP right away:
 * this one rule is not VNI-specific and applies to any VXLAN on that port (none in practice).
 */
export interface VxlanInputFilter {
  /** The underlay's family: which of iptables / ip6tables holds the rules. */
  family: IpFamily;
  vni: number;
  /** VXLAN UDP destination port. */
  port: number;
  /** Addresses or CIDRs of `family` that may send this VNI (flood peers and the learning scope). */
  sources: string[];
}

const MAX_VNI = 0xffffff;

/** The u32 match of the VNI, as iptables-save prints it. */
export function vniMatch(family: IpFamily, vni: number): string {
  const v = `0x${vni.toString(16)}`;
  // IPv4: skip the IP header (IHL * 4: 0>>22&0x3C), then 8 bytes UDP + 4 bytes VXLAN flags; 3 bytes VNI.
  // IPv6: 40 bytes fixed header + 8 + 4 = 52.
  return family === 4 ? `-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=${v}"` : `-m u32 --u32 "0x34>>0x8=${v}"`;
}

/** IPv6: the fixed header's next header is not UDP (there are extension headers). */
const IPV6_EXTENSION_HEADERS = '-m u32 ! --u32 "0x4>>0x8&0xff=0x11"';

/** A source as iptables-save prints it: "ip/32" ("ip/128"), or the canonical network of a CIDR. */
export function canonicalSource(source: string, family: IpFamily): string {
  const sourceFamily = isIP(source.split('/')[0]!);
  let canonical: string | undefined;
  try {
    if (sourceFamily !== 0) canonical = canonicalCidr(source.includes('/') ? source : `${source}/${sourceFamily === 4 ? 32 : 128}`);
  } catch {
    // not a CIDR: reported below
  }
  if (canonical === undefined) throw new Error(`VXLAN input filter: source "${source}" is not an IP address or CIDR`);
  if (sourceFamily !== family) {
    throw new Error(`VXLAN input filter: source "${source}" is not IPv${family} (the underlay is IPv${family})`);
  }
  return canonical;
}

/** Throws on a filter that cannot be written as rules (before anything is changed). */
export function checkVxlanInputFilter(filter: VxlanInputFilter): void {
  if (filter.family !== 4 && filter.family !== 6) throw new Error(`VXLAN input filter: family ${String(filter.family)} is not 4 or 6`);
  if (!Number.isInteger(filter.vni) || filter.vni < 0 || filter.vni > MAX_VNI) {
    throw new Error(`VXLAN input filter: VNI ${filter.vni} is not an integer 0-${MAX_VNI}`);
  }
  if (!Number.isInteger(filter.port) || filter.port < 1 || filter.port > 65535) {
    throw new Error(`VXLAN input filter: port ${filter.port} is not an integer 1-65535`);
  }
  for (const s of filter.sources) canonicalSource(s, filter.family);
}

/** The rules of one network's input filter, in chain order (see the header). */
export function vxlanInputRules(names: ChainNames, markers: Markers, networkId: string, filter: VxlanInputFilter): Rule[] {
  checkVxlanInputFilter(filter);
  const m = markers.vxlanInput(networkId);
  const udp = `-p udp -m udp --dport ${filter.port}`;
  const vni = vniMatch(filter.family, filter.vni);
  const rule = (s: string): Rule => ({ table: 'filter', chain: names.vxlanIn, spec: s });
  const sources = [...new Set(filter.sources.map((s) => canonicalSource(s, filter.family)))];
  const rules = sources.map((s) => rule(spec([`-s ${s}`, udp, vni], m, '-j ACCEPT')));
  rules.push(rule(spec([udp, vni], m, '-j DROP')));
  if (filter.family === 6) rules.push(rule(spec([udp, IPV6_EXTENSION_HEADERS], m, '-j DROP')));
  return rules;
}
