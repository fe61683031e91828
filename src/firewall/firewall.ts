import type { Logger } from '../log';
import { detectBackend, parseBackendSetting, type BackendName, type IpFamily, type IptablesBackend } from './backend';
import { RestoreBatch } from './batch';
import {
  DOCKER_USER,
  Markers,
  baseRules,
  chainNames,
  hooks,
  legacyChains,
  networkRules,
  ownChains,
  type BasePlacement,
  type ChainNames,
  type Hook,
  type Rule,
  type Table,
} from './rules';
import { EbtablesEgressFilter, type EgressFilter } from './egress-filter';
import { parseSave, type Ruleset, type SavedRule } from './ruleset';
import { execCommand, type CommandRunner } from './runner';
import { wantsFamily, type FirewallNetwork } from './network';
import { vxlanInputRules, type VxlanInputFilter } from './vxlan-input';
import { TaskStatus } from '../model/task-status';

export interface FirewallOptions {
  /** Settings' instance name (TSNET_INSTANCE); marks chains and rules. Default 'tsnet'. */
  instance?: string;
  /** TSNET_IPTABLES_BACKEND as read by the settings: 'nft' | 'legacy' | 'auto'/''/undefined = detect. */
  backend?: string;
  /** Substitute for spawning the iptables tools (unit tests). */
  runner?: CommandRunner;
  logger?: Logger;
  /**
   * The host's uplink bridges (a default route through br0/vmbr0, TSNET_UPLINK_BRIDGES): the only
   * bridges tsnet containers may be routed into besides their own. Asked at start and at every
   * ensureBase; iptables `+` suffix wildcards allowed. Default: none.
   */
  uplinkBridges?: () => Promise<readonly string[]>;
  /** The bridge-family half of egress isolation (egress-filter.ts); default ebtables-nft with `runner`. */
  egress?: EgressFilter;
  /**
   * TCP ports of the host that no tsnet container may reach on any host address (Swarm's data-address
   * port, TSNET_DATA_ADDR_PORT, where tsnet answers other nodes). Default: none.
   */
  closedHostPorts?: readonly number[];
  /**
   * The kernel's nftables ruleset generation (netlink/nft-generation.ts), undefined when unknown. With
   * the nft backend, a periodic check that finds it unchanged since the last check that found everything
   * in place (and the same uplink bridges) runs no iptables-save. Default: none (always check).
   */
  rulesetGeneration?: () => Promise<number | undefined>;
}

export class FirewallError extends Error {}

/**
 * The only place that runs iptables/ip6tables. Every operation reads the kernel's rules once
 * (iptables-save), plans the difference against the rules it wants, and applies it in one
 * `iptables-restore --noflush` process per family (atomic per table). The kernel is the state: rules are
 * found by their ownership marker (`-m comment`), never by remembered positions, so a restart, a crash
 * half-way, or a repeated call converges. Every operation also re-checks tsnet's chains and hooks.
 * Operations are serialised (one at a time per Firewall).
 */
export class Firewall {
  readonly instance: string;
  readonly names: ChainNames;
  readonly markers: Markers;
  private readonly run: CommandRunner;
  private readonly logger?: Logger;
  private readonly backendSetting: BackendName | undefined;
  private readonly readUplinks: () => Promise<readonly string[]>;
  private readonly rulesetGeneration?: () => Promise<number | undefined>;
  /** The uplink bridges last read (every operation's TSNET-MARK is planned with them). */
  private uplinks: readonly string[] = [];
  private uplinksRead = false;
  private readonly egress: EgressFilter;
  /** Why the bridge-family egress filter cannot be set (logged once per problem). */
  private egressProblem?: string;
  private backendPromise?: Promise<IptablesBackend>;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The VXLAN input filters set through this object, by network ID: ensureBase (every watch period) puts
   * back any that another tool flushed, since an empty TSNET-VXLAN-IN admits every sender.
   */
  private readonly vxlanInputs = new Map<string, { family: IpFamily; marker: string; rules: Rule[] }>();
  /** Why ip6tables cannot be used (IPv6 disabled, tool missing); undefined when it works or is untried. */
  private ipv6Problem?: Error;
  private readonly closedHostPorts: readonly number[];

  constructor(opts: FirewallOptions = {}) {
    this.instance = opts.instance ?? 'tsnet';
    this.markers = new Markers(this.instance);
    this.names = chainNames(this.instance);
    this.run = opts.runner ?? execCommand;
    this.logger = opts.logger;
    this.backendSetting = parseBackendSetting(opts.backend);
    this.readUplinks = opts.uplinkBridges ?? (async () => []);
    this.rulesetGeneration = opts.rulesetGeneration;
    this.egress = opts.egress ?? new EbtablesEgressFilter({ instance: this.instance, runner: opts.runner });
    this.closedHostPorts = [...(opts.closedHostPorts ?? [])];
  }

  /** The iptables flavour in use (detected once, on first use). */
  backend(): Promise<IptablesBackend> {
    this.backendPromise ??= detectBackend(this.run, this.backendSetting, this.logger);
    return this.backendPromise;
  }

  /**
   * Creates tsnet's chains and base rules if missing and (re)places the hooks from FORWARD, DOCKER-USER
   * (when dockerd created it), nat POSTROUTING, PREROUTING and OUTPUT. Idempotent and cheap when
   * nothing is missing (one iptables-save per family, no restore): call it at start and periodically.
   * Also restores the VXLAN input filters set through this object if they went missing or changed.
   * IPv6 problems are logged, not thrown (a host without IPv6 still gets IPv4).
   */
  ensureBase(): Promise<void> {
    const plan = (family: IpFamily) => (rs: Ruleset, b: RestoreBatch) => {
      this.planBase(rs, family, b);
      for (const f of this.vxlanInputs.values()) {
        if (f.family === family) this.planOwned(rs, b, (c) => c === f.marker, f.rules);
      }
    };
    return this.exclusive(async () => {
      await this.refreshUplinks();
      await this.apply(4, 'ensureBase', plan(4));
      await this.applyOptional6('ensureBase', plan(6));
      await this.ensureEgress().catch(() => undefined);
    });
  }

  /** The periodic base check's last run (`tsnet status`). */
  readonly checkTask = new TaskStatus('firewall check');
  /** How many periodic checks found something missing or moved and rewrote it (metrics). */
  repairs = 0;
  /** ensureBase batches applied (a check that applied one repaired something). */
  private baseWrites = 0;

  /** Calls ensureBase every intervalMs (errors logged); returns the function that stops it. */
  watch(intervalMs: number): () => void {
    const timer = setInterval(() => {
      const before = this.baseWrites;
      this.checkTask
        .track(() => this.checkBase(), () => {
          if (this.baseWrites === before) return 'intact';
          this.repairs += 1;
          return 'repaired';
        })
        .catch((e) => this.logger?.error('firewall base check failed', { error: String(e) }));
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Periodic checks that ran no iptables-save: the ruleset generation had not moved (metrics, tests). */
  unchangedChecks = 0;
  /** The ruleset generation and uplink bridges of the last check that found everything in place. */
  private verified?: { generation: number; uplinks: string };

  /**
   * One periodic check: ensureBase, unless the nft backend is in use and neither the kernel's ruleset
   * generation nor the uplink bridges moved since a check found everything in place. The generation is
   * read before ensureBase's iptables-save, so a change made during the check moves it for the next one.
   */
  async checkBase(): Promise<void> {
    const generation = this.rulesetGeneration && (await this.backend()).name === 'nft' ? await this.rulesetGeneration() : undefined;
    if (generation !== undefined && this.verified?.generation === generation) {
      const uplinks = await this.readUplinks().then((u) => [...new Set(u)].sort().join(), () => undefined);
      if (uplinks === this.verified.uplinks) {
        this.unchangedChecks += 1;
        return;
      }
    }
    this.verified = undefined;
    const writes = this.baseWrites;
    await this.ensureBase();
    if (generation !== undefined && this.baseWrites === writes && !this.ipv6Problem && !this.egressProblem) {
      this.verified = { generation, uplinks: this.uplinks.join() };
    }
  }

  /**
   * Programs one network's forwarding, isolation and masquerade rules in both families (a network
   * without IPv6 pools still has IPv6 link-local traffic; ip6tables failing is then logged, not thrown).
   * Replaces whatever rules the network's marker owns if they differ; a repeat is a no-op. Fails when
   * the bridge-family egress filter cannot be set: isolation from other bridges would be missing.
   */
  addNetwork(net: FirewallNetwork): Promise<void> {
    const v4 = networkRules(this.names, this.markers, 4, net, this.closedHostPorts);
    const v6 = networkRules(this.names, this.markers, 6, net, this.closedHostPorts);
    const marker = this.markers.network(net.id);
    return this.exclusive(async () => {
      if (!this.uplinksRead) await this.refreshUplinks();
      await this.apply(4, 'addNetwork', (rs, b) => {
        this.planBase(rs, 4, b);
        this.planOwned(rs, b, (c) => c === marker, v4);
      });
      const plan6 = (rs: Ruleset, b: RestoreBatch) => {
        this.planBase(rs, 6, b);
        this.planOwned(rs, b, (c) => c === marker, v6);
      };
      if (wantsFamily(net, 6)) await this.apply(6, 'addNetwork', plan6);
      else await this.applyOptional6('addNetwork', plan6);
      await this.ensureEgress();
    });
  }

  /**
   * Deletes every rule carrying the network's marker, including its endpoints' port mappings
   * (`…:net:<id>:ep:<id>`), in both families; nothing else (removal is by marker).
   */
  removeNetwork(net: Pick<FirewallNetwork, 'id' | 'subnets'>): Promise<void> {
    const owned = (c: string | undefined) => this.markers.ownedByNetwork(c, net.id);
    return this.exclusive(async () => {
      this.vxlanInputs.delete(net.id);
      await this.apply(4, 'removeNetwork', (rs, b) => {
        this.planBase(rs, 4, b);
        this.planRemove(rs, b, owned);
      });
      const plan = (rs: Ruleset, b: RestoreBatch) => {
        this.planBase(rs, 6, b);
        this.planRemove(rs, b, owned);
      };
      if (wantsFamily(net, 6)) await this.apply(6, 'removeNetwork', plan);
      else await this.applyOptional6('removeNetwork', plan);
    });
  }

  /**
   * Rewrites every tsnet chain from scratch for exactly these networks (start-up reconcile): chains whose
   * content differs are flushed and refilled in the same atomic restore, hooks are re-placed, rules of
   * networks not listed disappear. Port mappings (TSNET-DNAT) and VXLAN input filters (TSNET-VXLAN-IN) of
   * listed networks are kept as they are — the port publisher and the VXLAN data path re-assert them
   * (their reconcile); those of unlisted networks go.
   * Other tools' chains and rules are not touched. Running it twice leaves the same rules.
   */
  rebuild(nets: FirewallNetwork[]): Promise<void> {
    return this.exclusive(async () => {
      const listed = new Set(nets.map((n) => n.id));
      for (const id of [...this.vxlanInputs.keys()]) if (!listed.has(id)) this.vxlanInputs.delete(id);
      await this.refreshUplinks();
      await this.apply(4, 'rebuild', (rs, b) => this.planRebuild(rs, 4, b, nets));
      const plan = (rs: Ruleset, b: RestoreBatch) => this.planRebuild(rs, 6, b, nets);
      if (nets.some((n) => wantsFamily(n, 6))) await this.apply(6, 'rebuild', plan);
      else await this.applyOptional6('rebuild', plan);
      if (nets.length > 0) await this.ensureEgress();
    });
  }

  /**
   * Makes a VXLAN network's input filter (vxlan-input.ts) exactly `filter`, in the underlay's family,
   * and removes the network's filter from the other family (an underlay that changed family). A bad
   * filter is refused before anything changes; a repeat is one iptables-save per family, no restore.
   */
  async setVxlanInput(networkId: string, filter: VxlanInputFilter): Promise<void> {
    const rules = vxlanInputRules(this.names, this.markers, networkId, filter);
    const marker = this.markers.vxlanInput(networkId);
    const owned = (c: string | undefined) => c === marker;
    const other: IpFamily = filter.family === 4 ? 6 : 4;
    await this.exclusive(async () => {
      await this.apply(filter.family, 'setVxlanInput', (rs, b) => {
        this.planBase(rs, filter.family, b);
        this.planOwned(rs, b, owned, rules);
      });
      this.vxlanInputs.set(networkId, { family: filter.family, marker, rules });
      const clearOther = (rs: Ruleset, b: RestoreBatch) => this.planRemove(rs, b, owned);
      if (other === 4) await this.apply(4, 'setVxlanInput', clearOther);
      else await this.applyOptional6('setVxlanInput', clearOther);
    });
  }

  /** Deletes a VXLAN network's input filter in both families (removeNetwork does too). */
  removeVxlanInput(networkId: string): Promise<void> {
    const marker = this.markers.vxlanInput(networkId);
    const plan = (rs: Ruleset, b: RestoreBatch) => this.planRemove(rs, b, (c) => c === marker);
    return this.exclusive(async () => {
      this.vxlanInputs.delete(networkId);
      await this.apply(4, 'removeVxlanInput', plan);
      await this.applyOptional6('removeVxlanInput', plan);
    });
  }

  /**
   * For the port publisher: makes the rules carrying exactly `marker` equal `rules` (all of them must be in
   * tsnet's chains and carry that marker). [] removes them.
   */
  replaceOwnedRules(family: IpFamily, marker: string, rules: Rule[]): Promise<void> {
    return this.exclusive(() =>
      this.apply(family, 'replaceOwnedRules', (rs, b) => {
        this.planBase(rs, family, b);
        this.planOwned(rs, b, (c) => c === marker, rules);
      }),
    );
  }

  /** Deletes the rules whose marker satisfies `owned` (port publisher's prune). */
  removeOwnedRules(family: IpFamily, owned: (comment: string | undefined) => boolean): Promise<void> {
    return this.exclusive(() =>
      this.apply(family, 'removeOwnedRules', (rs, b) => {
        this.planBase(rs, family, b);
        this.planRemove(rs, b, owned);
      }),
    );
  }

  /**
   * Removes everything of this instance, in both families: the hooks in other chains, then tsnet's own
   * chains (flushed and deleted). For a shutdown with no network left, so that `docker plugin disable` +
   * `rm` leave the host's rules as they were. Other instances' and tools' rules are not touched.
   */
  removeAll(): Promise<void> {
    return this.exclusive(async () => {
      this.vxlanInputs.clear();
      await this.apply(4, 'removeAll', (rs, b) => this.planRemoveAll(rs, b));
      await this.applyOptional6('removeAll', (rs, b) => this.planRemoveAll(rs, b));
      await this.egress.remove().catch((e) => this.logger?.warn('egress filter not removed', { error: String(e) }));
    });
  }

  /** The kernel's current rules for one family (diagnostics and tests). */
  async readRuleset(family: IpFamily): Promise<Ruleset> {
    return parseSave(await this.save(family));
  }

  async save(family: IpFamily): Promise<string> {
    const backend = await this.backend();
    return (await this.run(backend.save(family), [])).stdout;
  }

  // ---- planning -------------------------------------------------------------------------------------

  private planBase(rs: Ruleset, family: IpFamily, batch: RestoreBatch): void {
    for (const { table, chain } of ownChains(this.names)) {
      if (!rs.hasChain(table, chain)) batch.createChain(table, chain);
    }
    const base = this.markers.base;
    const wanted = baseRules(this.names, this.markers, this.uplinks);
    for (const { table, chain } of ownChains(this.names)) {
      const specs = wanted.filter((b) => b.table === table && b.chain === chain).flatMap((b) => b.specs);
      const placement = wanted.find((b) => b.table === table && b.chain === chain)?.placement ?? 'any';
      ensureSequence(batch, rs, table, chain, (r) => r.comment === base, specs, placement);
    }
    this.planLegacyRemoval(rs, batch);
    this.planHooks(rs, family, batch);
  }

  /** Chains of the rule model before issue 12 (TSNET-ISO, TSNET-ISO2) go; their jumps were base rules. */
  private planLegacyRemoval(rs: Ruleset, batch: RestoreBatch): void {
    for (const { table, chain } of legacyChains(this.instance)) {
      if (!rs.hasChain(table, chain)) continue;
      batch.flushChain(table, chain);
      batch.deleteChain(table, chain);
    }
  }

  /**
   * Each hook present once where its placement wants it (rules.ts, HookPlacement); a hook of ours in
   * any other chain (DOCKER-USER before issue 12) goes. Only our own hooks are ever deleted or inserted,
   * so no rule of another tool or instance changes its place.
   */
  private planHooks(rs: Ruleset, family: IpFamily, batch: RestoreBatch): void {
    const marker = this.markers.hook;
    const wanted = hooks(this.names, this.markers, family);
    for (const r of rs.allRules()) {
      if (r.comment !== marker || !isTable(r.table)) continue;
      if (!wanted.some((h) => h.table === r.table && h.chain === r.chain)) batch.deleteRule(r.table, r.chain, r.spec);
    }
    for (const h of wanted) {
      const rules = rs.rules(h.table, h.chain);
      const mine = rules.map((r, i) => ({ r, i })).filter(({ r }) => r.comment === marker);
      const position = hookPosition(h, rules, mine.map(({ i }) => i));
      if (position === undefined) continue;
      for (const { r } of mine) batch.deleteRule(h.table, h.chain, r.spec);
      batch.insertRule(h.table, h.chain, position, h.spec);
    }
  }

  /** Makes the rules matching `owned` in each chain equal the desired rules for that chain. */
  private planOwned(rs: Ruleset, batch: RestoreBatch, owned: (c: string | undefined) => boolean, rules: Rule[]): void {
    const chains = new Map<string, { table: Table; chain: string; specs: string[] }>();
    const key = (t: string, c: string) => `${t}\0${c}`;
    for (const { table, chain } of ownChains(this.names)) chains.set(key(table, chain), { table, chain, specs: [] });
    for (const r of rules) {
      const k = key(r.table, r.chain);
      const entry = chains.get(k);
      if (!entry) throw new FirewallError(`rule for ${r.table}/${r.chain} is not in a tsnet chain`);
      entry.specs.push(r.spec);
    }
    for (const { table, chain, specs } of chains.values()) {
      ensureSequence(batch, rs, table, chain, (r) => owned(r.comment), specs, 'any');
    }
  }

  private planRemove(rs: Ruleset, batch: RestoreBatch, owned: (c: string | undefined) => boolean): void {
    for (const r of rs.allRules()) {
      if (owned(r.comment) && isTable(r.table)) batch.deleteRule(r.table, r.chain, r.spec);
    }
  }

  private planRemoveAll(rs: Ruleset, batch: RestoreBatch): void {
    const own = ownChains(this.names);
    const isOwn = (table: string, chain: string) => own.some((o) => o.table === table && o.chain === chain);
    for (const r of rs.allRules()) {
      if (r.comment === this.markers.hook && !isOwn(r.table, r.chain) && isTable(r.table)) {
        batch.deleteRule(r.table, r.chain, r.spec);
      }
    }
    for (const { table, chain } of own) {
      if (!rs.hasChain(table, chain)) continue;
      batch.flushChain(table, chain);
      batch.deleteChain(table, chain);
    }
    this.planLegacyRemoval(rs, batch);
  }

  private planRebuild(rs: Ruleset, family: IpFamily, batch: RestoreBatch, nets: FirewallNetwork[]): void {
    const desired = new Map<string, string[]>();
    const key = (t: string, c: string) => `${t}\0${c}`;
    for (const { table, chain } of ownChains(this.names)) desired.set(key(table, chain), []);
    for (const b of baseRules(this.names, this.markers, this.uplinks)) desired.get(key(b.table, b.chain))!.push(...b.specs);
    for (const net of nets) {
      for (const r of networkRules(this.names, this.markers, family, net, this.closedHostPorts)) desired.get(key(r.table, r.chain))!.push(r.spec);
    }
    const listed = new Set(nets.map((n) => n.id.slice(0, 12)));
    const ports = rs.rules('nat', this.names.dnat).filter((r) => {
      const id = this.markers.networkOf(r.comment);
      return id !== undefined && listed.has(id) && this.markers.isEndpointMarker(r.comment);
    });
    desired.get(key('nat', this.names.dnat))!.push(...ports.map((r) => r.spec));
    const inputFilters = rs.rules('filter', this.names.vxlanIn).filter((r) => {
      const id = this.markers.networkOf(r.comment);
      return id !== undefined && listed.has(id) && this.markers.isVxlanInputMarker(r.comment);
    });
    desired.get(key('filter', this.names.vxlanIn))!.push(...inputFilters.map((r) => r.spec));
    for (const { table, chain } of ownChains(this.names)) {
      const specs = desired.get(key(table, chain))!;
      const current = rs.chain(table, chain);
      if (!current) batch.createChain(table, chain);
      else if (sameSpecs(current.rules.map((r) => r.spec), specs)) continue;
      else batch.flushChain(table, chain);
      for (const s of specs) batch.appendRule(table, chain, s);
    }
    this.planLegacyRemoval(rs, batch);
    this.planHooks(rs, family, batch);
  }

  private async refreshUplinks(): Promise<void> {
    try {
      const uplinks = [...new Set(await this.readUplinks())].sort();
      // Checked here, so that a bad name costs a log line and keeps the last good set.
      baseRules(this.names, this.markers, uplinks);
      if (uplinks.join() !== this.uplinks.join()) this.logger?.info('uplink bridges', { bridges: uplinks });
      this.uplinks = uplinks;
      this.uplinksRead = true;
    } catch (e) {
      this.logger?.warn('uplink bridges not read; keeping the last known', { error: String(e), bridges: this.uplinks });
    }
  }

  private async ensureEgress(): Promise<void> {
    try {
      await this.egress.ensure();
      this.egressProblem = undefined;
    } catch (e) {
      const problem = String(e);
      if (problem !== this.egressProblem) this.logger?.error('egress filter not set: tsnet networks are not isolated from other bridges', { error: problem });
      this.egressProblem = problem;
      throw new FirewallError(`isolating tsnet networks from other bridges failed: ${(e as Error).message}`);
    }
  }

  // ---- execution ------------------------------------------------------------------------------------

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Reads, plans, applies. A failed restore is planned again once from a fresh read: another tool may
   * have changed a chain between the read and the restore (a `-D` of a rule that just vanished fails the
   * whole table, atomically, so nothing half-applied remains).
   */
  private async apply(family: IpFamily, op: string, plan: (rs: Ruleset, batch: RestoreBatch) => void): Promise<void> {
    const backend = await this.backend();
    for (let attempt = 1; ; attempt++) {
      const rs = parseSave(await this.save(family));
      const batch = new RestoreBatch();
      plan(rs, batch);
      if (batch.isEmpty()) return;
      const started = Date.now();
      try {
        await this.run(backend.restore(family), backend.restoreArgs(), batch.render());
        if (op === 'ensureBase') this.baseWrites += 1;
        this.logger?.debug('firewall batch applied', { op, family, commands: batch.size, ms: Date.now() - started });
        return;
      } catch (e) {
        if (attempt >= 2) {
          const text = batch.render();
          throw new FirewallError(
            `${op}: applying ${backend.restore(family)} batch failed: ${(e as Error).message}\n` +
              (text.length > 4000 ? `${text.slice(0, 4000)}…` : text),
          );
        }
        this.logger?.warn('firewall batch failed, re-reading and retrying', { op, family, error: String(e) });
      }
    }
  }

  /** IPv6 work that must not fail the operation when ip6tables is unusable on this host. */
  private async applyOptional6(op: string, plan: (rs: Ruleset, batch: RestoreBatch) => void): Promise<void> {
    try {
      await this.apply(6, op, plan);
      this.ipv6Problem = undefined;
    } catch (e) {
      if (!this.ipv6Problem) this.logger?.warn('ip6tables unusable; IPv6 rules skipped', { op, error: String(e) });
      this.ipv6Problem = e as Error;
    }
  }
}

function isTable(table: string): table is Table {
  return table === 'filter' || table === 'nat' || table === 'mangle';
}

/**
 * Where a hook must be (re)inserted, 1-based and counted after our own copies are deleted; undefined when
 * it is present once, as it should be, where its placement accepts it.
 */
export function hookPosition(h: Hook, rules: ReadonlyArray<{ spec: string; comment?: string }>, mine: readonly number[]): number | undefined {
  const dockerUser = h.placement === 'after-docker-user' ? rules.findIndex((r) => r.spec === `-j ${DOCKER_USER}`) : -1;
  const single = mine.length === 1 && rules[mine[0]!]!.spec === h.spec;
  if (single) {
    const at = mine[0]!;
    if (h.placement === 'any') return undefined;
    if (h.placement === 'after-docker-user' && at > dockerUser) return undefined;
    if (h.placement === 'ahead' && rules.slice(0, at).every((r) => Markers.isAnyHook(r.comment))) return undefined;
  }
  if (dockerUser < 0) return 1;
  return dockerUser - mine.filter((i) => i < dockerUser).length + 2;
}

function sameSpecs(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/**
 * Makes the owned rules of one chain equal `desired`, in order: at the top of the chain ('first') or
 * anywhere ('any'). When they already are, nothing is emitted; otherwise all owned rules are deleted and
 * the desired ones inserted/appended.
 */
function ensureSequence(
  batch: RestoreBatch,
  rs: Ruleset,
  table: Table,
  chain: string,
  owned: (r: SavedRule) => boolean,
  desired: string[],
  placement: BasePlacement,
): void {
  const rules = rs.rules(table, chain);
  const current = rules.filter(owned);
  let ok = sameSpecs(
    current.map((r) => r.spec),
    desired,
  );
  if (ok && placement === 'first') ok = rules.slice(0, desired.length).every(owned);
  if (ok) return;
  for (const r of current) batch.deleteRule(table, chain, r.spec);
  desired.forEach((s, i) => {
    if (placement === 'first') batch.insertRule(table, chain, i + 1, s);
    else batch.appendRule(table, chain, s);
  });
}
