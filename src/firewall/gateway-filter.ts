import { chainPrefix } from './rules';
import { EbtablesTools, parseEbtablesFilter, planOwnedChain, type EbtablesTable } from './ebtables';
import type { CommandRunner } from './runner';
import type { Logger } from '../log';

/**
 * The anycast gateway of VXLAN networks. Every host's bridge for a network carries the same gateway
 * address and the same MAC, so a container always talks to its own host's gateway (outbound NAT and
 * published ports stay local, and a container keeps working when another host goes away). For that
 * to hold, nothing from the gateway may cross the VXLAN:
 *
 * - ARP requests and IPv6 neighbour solicitations for the gateway's address from local containers are
 *   kept off the VXLAN port by the bridge port option `neigh_suppress` (set on the VXLAN port by the
 *   data path; the kernel's br_arp_nd_proxy.c does not flood a request for one of the bridge's own
 *   addresses to suppressing ports).
 * - Every frame *from* the gateway MAC (the host's own ARP requests towards containers, replies it
 *   routes back to them, IPv6 DAD/MLD/ND of the bridge) is dropped on its way out of the VXLAN port,
 *   and frames arriving from the VXLAN with that source MAC (a peer without this filter) are dropped
 *   too. ARP requests for the gateway's IPv4 address that would leave through the VXLAN port are
 *   dropped as a second line behind `neigh_suppress`. These rules live in the bridge family of
 *   nf_tables, written with ebtables-nft (the `iptables` package's xtables-nft-multi, which tsnet
 *   already needs): one chain of tsnet's own, jumped to from INPUT, FORWARD and OUTPUT of the bridge
 *   `filter` table. The chain is rewritten whole in one atomic `ebtables-restore --noflush`.
 *
 * The kernel is the state: the chain's rules are found by the VXLAN device they name (tsnet's own
 * device names), never by remembered positions, so restarts and repeats converge.
 */

/** What the filter keeps off one network's VXLAN device. */
export interface GatewayFilterEntry {
  /** The VXLAN device (a bridge port). */
  device: string;
  /** The anycast gateway MAC. */
  mac: string;
  /** IPv4 gateway addresses (no prefix length). */
  ipv4: string[];
}

/** The seam the VXLAN data path uses (tests may substitute a recording one). All calls idempotent. */
export interface GatewayFilter {
  /** Makes the device's rules exactly those of `entry`. */
  set(entry: GatewayFilterEntry): Promise<void>;
  /** Removes every rule naming the device. */
  remove(device: string): Promise<void>;
  /** Start-up: exactly these entries' rules, nothing else (rules of devices not listed go). */
  replaceAll(entries: GatewayFilterEntry[]): Promise<void>;
}

/** Built-in chains the filter hooks into. */
export const HOOK_CHAINS = ['INPUT', 'FORWARD', 'OUTPUT'] as const;

/** The bridge-family chain of an instance: "TSNET-GW", "TSNET-<INSTANCE>-GW". */
export function gatewayChainName(instance: string): string {
  return `${chainPrefix(instance)}-GW`;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const DEVICE_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The EtherType of ARP. Written as a number: ebtables resolves names through /etc/ethertypes, which a
 * managed plugin's rootfs does not have; ebtables-save prints it as "ARP" when that file exists and as
 * "0x806" when not, and parseEbtablesSave reads both as this.
 */
const ETH_P_ARP = '0x806';

/** The rules of one entry, as ebtables-save prints them (after `-A CHAIN `; see ETH_P_ARP). */
export function gatewayRules(entry: GatewayFilterEntry): string[] {
  const mac = entry.mac.toLowerCase();
  if (!MAC_RE.test(mac)) throw new Error(`invalid gateway MAC "${entry.mac}"`);
  if (!DEVICE_RE.test(entry.device)) throw new Error(`invalid device name "${entry.device}"`);
  const rules = [`-s ${mac} -o ${entry.device} -j DROP`, `-s ${mac} -i ${entry.device} -j DROP`];
  for (const ip of entry.ipv4) {
    if (!IPV4_RE.test(ip)) throw new Error(`invalid IPv4 gateway "${ip}"`);
    rules.push(`-p ${ETH_P_ARP} -o ${entry.device} --arp-ip-dst ${ip} -j DROP`);
  }
  return rules;
}

/** The device a rule of ours names (-o or -i), or undefined. */
export function ruleDevice(rule: string): string | undefined {
  return /(?:^|\s)-[oi] (\S+)/.exec(rule)?.[1];
}

/** The `filter` table of an ebtables-save dump, ARP's EtherType spelled as gatewayRules writes it. */
export function parseEbtablesSave(text: string): EbtablesTable {
  return parseEbtablesFilter(text, (rule) => rule.replace(/(^|\s)-p (?:ARP|0x0806)(?=\s|$)/, `$1-p ${ETH_P_ARP}`));
}

/**
 * The ebtables-restore input that makes `chain` hold exactly `rules` with its hooks in place, or
 * undefined when the dump shows it already does. No rules at all: the hooks and the chain go.
 */
export function planGatewayRestore(current: EbtablesTable, chain: string, rules: string[]): string | undefined {
  return planOwnedChain(current, chain, rules, HOOK_CHAINS);
}

export interface EbtablesGatewayFilterOptions {
  instance: string;
  logger?: Logger;
  runner?: CommandRunner;
}

/**
 * GatewayFilter over ebtables-nft. The tools are `ebtables-nft-save`/`ebtables-nft-restore` when
 * installed under those names, else the same tools through `xtables-nft-multi` (all a managed
 * plugin's rootfs carries). Operations are serialised.
 */
export class EbtablesGatewayFilter implements GatewayFilter {
  readonly chain: string;
  private readonly tools: EbtablesTools;
  private readonly logger?: Logger;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: EbtablesGatewayFilterOptions) {
    this.chain = gatewayChainName(opts.instance);
    this.tools = new EbtablesTools(opts.runner, 'the anycast gateway filter of VXLAN networks');
    this.logger = opts.logger;
  }

  set(entry: GatewayFilterEntry): Promise<void> {
    const wanted = gatewayRules(entry);
    return this.update('set', (rules) => [...rules.filter((r) => ruleDevice(r) !== entry.device), ...wanted]);
  }

  remove(device: string): Promise<void> {
    return this.update('remove', (rules) => rules.filter((r) => ruleDevice(r) !== device));
  }

  replaceAll(entries: GatewayFilterEntry[]): Promise<void> {
    const wanted = entries.flatMap(gatewayRules);
    return this.update('replaceAll', () => wanted);
  }

  /** The chain's current rules (tests, diagnostics). */
  async rules(): Promise<string[]> {
    return parseEbtablesSave(await this.save()).chains.get(this.chain)?.rules ?? [];
  }

  private update(op: string, change: (rules: string[]) => string[]): Promise<void> {
    return this.exclusive(async () => {
      for (let attempt = 1; ; attempt++) {
        const current = parseEbtablesSave(await this.save());
        const next = change(current.chains.get(this.chain)?.rules ?? []);
        const script = planGatewayRestore(current, this.chain, next);
        if (script === undefined) return;
        try {
          await this.tools.restore(script);
          this.logger?.debug('gateway filter applied', { op, rules: next.length });
          return;
        } catch (err) {
          // Another tool may have changed the table between the read and the write: read again once.
          if (attempt >= 2) throw new Error(`gateway filter (${op}): ebtables-restore failed: ${(err as Error).message}\n${script}`);
          this.logger?.warn('gateway filter restore failed; re-reading and retrying', { op, err: String(err) });
        }
      }
    });
  }

  private save(): Promise<string> {
    return this.tools.save();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
