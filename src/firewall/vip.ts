import { isIPv4 } from 'node:net';
import { RestoreBatch } from './batch';
import { chainPrefix, checkInterfaceName, Markers, spec, type Rule } from './rules';
import type { Ruleset, SavedRule } from './ruleset';

/**
 * Rule text of Swarm service VIPs on tsnet networks (issue 17): Docker's overlay balances a VIP with
 * IPVS inside each container; this kernel has no IPVS, so each host balances the VIPs of its own
 * clients with NAT. Two nat chains of their own, apart from tsnet's other chains (rules.ts):
 *
 *   nat PREROUTING (first) ─▶ TSNET-VIP         per VIP, traffic entering from the network's bridge to the
 *                                                VIP is DNAT'd to one task, any protocol and port, spread
 *                                                with `-m statistic --mode random` (rule i of n takes
 *                                                1/(n-i) of what is left, the last takes the rest); a task
 *                                                of this host reaching its own VIP first, over the others
 *   nat POSTROUTING (ahead of TSNET-POSTROUTING) ─▶ TSNET-VIP-POST   VIP connections leave the nat table
 *                                                unchanged: the client's address is kept, never the anycast
 *                                                gateway's (a task on another host would answer its own
 *                                                host's gateway), so tsnet's hairpin masquerade must not
 *                                                take them
 *
 * The client's frame is DNAT'd on the bridge (br_netfilter with nf_call_iptables on tsnet's bridges) and
 * stays bridged: the kernel rewrites only its destination MAC (the task's neighbour entry), the source MAC
 * stays the client's, so nothing of the anycast gateway crosses the VXLAN. Replies come back bridged to
 * the client and conntrack turns their source back into the VIP. IPv4 only (Swarm gives IPv4 VIPs).
 *
 * The filter side needs nothing of its own: a DNAT'd connection is accepted by the network's
 * `-o <bridge> --ctstate DNAT` rule of TSNET-FWD, after DOCKER-USER, and the mangle guard lets DNAT'd
 * traffic pass.
 */

export interface VipChainNames {
  /** nat, jumped to first from PREROUTING: the DNAT rules. */
  dnat: string;
  /** nat, jumped to from POSTROUTING ahead of tsnet's TSNET-POSTROUTING: VIP connections left as they are. */
  post: string;
}

export function vipChainNames(instance: string): VipChainNames {
  const p = chainPrefix(instance);
  return { dnat: `${p}-VIP`, post: `${p}-VIP-POST` };
}

/** A VIP and the addresses of its tasks (IPv4, no prefix length). */
export interface VipService {
  vip: string;
  tasks: string[];
  /**
   * Tasks on this host. A task reaching its own service's VIP is spread over the other tasks only: sent
   * to itself, the frame would have to leave the bridge through the port it came in by.
   */
  local?: string[];
}

/** The VIPs of one network on this host. */
export interface VipNetwork {
  /** Docker's network ID (rules carry a marker made from it). */
  id: string;
  /** The network's bridge on this host. */
  bridge: string;
  services: VipService[];
}

/** The marker of a network's VIP rules: owned by the network, apart from its other rules. */
export function vipMarker(markers: Markers, networkId: string): string {
  return `${markers.network(networkId)}:vip`;
}

/** The hook marker of the VIP chains. */
export function vipHookMarker(markers: Markers): string {
  return `tsnet:${markers.instance}:vip-hook`;
}

/** A probability exactly as iptables-save prints it: stored as p * 2^31 rounded, printed with 11 digits. */
export function probabilityText(p: number): string {
  if (!(p > 0 && p <= 1)) throw new RangeError(`probability ${p} is not in (0, 1]`);
  return (Math.round(p * 0x80000000) / 0x80000000).toFixed(11);
}

function checkIPv4(address: string, what: string): string {
  if (!isIPv4(address)) throw new Error(`${what} "${address}" is not an IPv4 address`);
  return address;
}

/** The tasks in a stable order, without duplicates. */
export function orderedTasks(tasks: readonly string[]): string[] {
  return [...new Set(tasks)].sort((a, b) => ipv4Number(a) - ipv4Number(b));
}

function ipv4Number(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** The rules of one network, in chain order: DNAT rules in names.dnat, then the pass-through in names.post. */
export function vipRules(names: VipChainNames, markers: Markers, net: VipNetwork): Rule[] {
  const br = checkInterfaceName(net.bridge);
  const m = vipMarker(markers, net.id);
  const dnat: Rule[] = [];
  const post: Rule[] = [];
  for (const service of [...net.services].sort((a, b) => ipv4Number(a.vip) - ipv4Number(b.vip))) {
    const vip = checkIPv4(service.vip, 'VIP');
    const tasks = orderedTasks(service.tasks).map((t) => checkIPv4(t, 'task address'));
    if (tasks.length === 0) continue;
    const spread = (targets: string[], source?: string) =>
      targets.forEach((task, i) => {
        const left = targets.length - i;
        const statistic = left > 1 && `-m statistic --mode random --probability ${probabilityText(1 / left)}`;
        dnat.push({ table: 'nat', chain: names.dnat, spec: spec([source && `-s ${source}/32`, `-d ${vip}/32`, `-i ${br}`, statistic], m, `-j DNAT --to-destination ${task}`) });
      });
    // A local task's own connections first (its rules end unconditionally), then everyone else's.
    if (tasks.length > 1) for (const own of orderedTasks(service.local ?? []).filter((t) => tasks.includes(t))) spread(tasks.filter((t) => t !== own), own);
    spread(tasks);
    post.push({ table: 'nat', chain: names.post, spec: spec([`-o ${br}`, `-m conntrack --ctstate DNAT --ctorigdst ${vip}`], m, '-j ACCEPT') });
  }
  return [...dnat, ...post];
}

/** The jumps into the VIP chains, and where they must sit. */
export function vipHooks(names: VipChainNames, markers: Markers): Array<{ chain: 'PREROUTING' | 'POSTROUTING'; spec: string }> {
  const h = vipHookMarker(markers);
  return [
    { chain: 'PREROUTING', spec: spec([], h, `-j ${names.dnat}`) },
    { chain: 'POSTROUTING', spec: spec([], h, `-j ${names.post}`) },
  ];
}

/**
 * A hook is in place when it is present once and no other rule of the built-in chain comes before it
 * but hooks of the VIP chains of other tsnet instances (PREROUTING: dockerd's `-j DOCKER` for
 * published ports would otherwise take VIP:port when a container publishes that port; POSTROUTING:
 * tsnet's hairpin masquerade would take VIP connections).
 */
function hookInPlace(rules: readonly SavedRule[], hookSpec: string): boolean {
  const at = rules.findIndex((r) => r.spec === hookSpec);
  if (at < 0 || rules.filter((r) => r.spec === hookSpec).length !== 1) return false;
  return rules.slice(0, at).every((r) => r.comment !== undefined && /^tsnet:[A-Za-z0-9_-]{1,32}:vip-hook$/.test(r.comment));
}

/**
 * The iptables-restore input that makes the VIP chains hold exactly `rules` with their hooks first, or
 * undefined when the dump shows they already do. No rules at all: the hooks and the chains go.
 */
export function planVip(current: Ruleset, names: VipChainNames, markers: Markers, rules: readonly Rule[]): RestoreBatch | undefined {
  const batch = new RestoreBatch();
  const hooks = vipHooks(names, markers);
  const chains = [names.dnat, names.post];
  const want = (chain: string) => rules.filter((r) => r.chain === chain).map((r) => r.spec);
  const have = (chain: string) => current.rules('nat', chain).map((r) => r.spec);
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((s, i) => s === b[i]);

  if (rules.length === 0) {
    let any = false;
    for (const hook of hooks) {
      for (const r of current.rules('nat', hook.chain)) {
        if (r.spec === hook.spec) {
          batch.deleteRule('nat', hook.chain, r.spec);
          any = true;
        }
      }
    }
    for (const chain of chains) {
      if (!current.hasChain('nat', chain)) continue;
      batch.flushChain('nat', chain);
      batch.deleteChain('nat', chain);
      any = true;
    }
    return any ? batch : undefined;
  }

  let changed = false;
  for (const chain of chains) {
    if (!current.hasChain('nat', chain)) {
      batch.createChain('nat', chain);
      changed = true;
    }
    if (!same(have(chain), want(chain))) {
      if (current.hasChain('nat', chain)) batch.flushChain('nat', chain);
      for (const s of want(chain)) batch.appendRule('nat', chain, s);
      changed = true;
    }
  }
  for (const hook of hooks) {
    const builtIn = current.rules('nat', hook.chain);
    if (hookInPlace(builtIn, hook.spec)) continue;
    for (const r of builtIn) if (r.spec === hook.spec) batch.deleteRule('nat', hook.chain, r.spec);
    batch.insertRule('nat', hook.chain, 1, hook.spec);
    changed = true;
  }
  return changed ? batch : undefined;
}
