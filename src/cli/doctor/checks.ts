import type { EndpointView, NetworkView, PeerView, StatusView } from '../../protocol';
import { chainRules, FLOOD_MAC, silenceOf, type FdbEntry, type LinkFacts, type SavedRuleset } from './kernel';

/**
 * The doctor's checks: pure functions of the facts gathered from the daemon, Docker and the host. Each
 * finding is ok, warn or fail with what was seen and, when not ok, the fix.
 */
export type Level = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  level: Level;
  message: string;
  fix?: string;
}

export interface EngineFacts {
  version?: string;
  apiVersion?: string;
  firewallBackend?: string;
  error?: string;
}

export interface DoctorFacts {
  status: StatusView;
  networks: NetworkView[];
  endpoints: EndpointView[];
  peers: PeerView[];
  /** Docker's names: network ID -> name, endpoint ID -> container name. */
  networkNames: Map<string, string>;
  containerNames: Map<string, string>;
  engine: EngineFacts;
  ipForward?: string;
  /** net.bridge.bridge-nf-call-iptables; undefined when br_netfilter is not loaded. */
  brNetfilter?: string;
  /** iptables-save of tsnet's backend; undefined when it could not run. */
  ruleset?: SavedRuleset;
  /** ebtables-save of the bridge family's filter table (nft); undefined when it could not run. */
  ebtables?: string;
  /** The iptables backends whose tables hold Docker's chains (DOCKER-USER or DOCKER). */
  dockerBackends: string[];
  links: LinkFacts[];
  /** FDB of each VXLAN device, by device name. */
  fdb: Map<string, FdbEntry[]>;
  localAddresses: string[];
}

export const DISK_FAIL_BYTES = 16 * 1024 * 1024;
export const DISK_WARN_BYTES = 64 * 1024 * 1024;
export const SILENT_SECONDS = 300;

export const RESTART_FIX =
  'restart tsnet; its start-up converges the kernel and the firewall to the store: `systemctl restart tsnet` (socket install) or `docker plugin disable -f tsnet && docker plugin enable tsnet` (managed plugin)';

const DOCKER_RULE = /(-j DOCKER\b|-j DOCKER-|\bdocker0\b|\bbr-[0-9a-f]{12}\b|docker_gwbridge)/;

export function runChecks(f: DoctorFacts): Finding[] {
  return [...hostChecks(f), ...firewallChecks(f), ...engineChecks(f), ...mtuChecks(f), ...linkChecks(f), ...fdbChecks(f), ...diskChecks(f), ...peerChecks(f)];
}

function netLabel(f: DoctorFacts, id: string): string {
  const name = f.networkNames.get(id);
  return name ? `${name} (${id.slice(0, 12)})` : id.slice(0, 12);
}

function oneOk(check: string, findings: Finding[], message: string): Finding[] {
  return findings.length > 0 ? findings : [{ check, level: 'ok', message }];
}

export function hostChecks(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  out.push(
    f.ipForward === '1'
      ? { check: 'ip_forward', level: 'ok', message: 'net.ipv4.ip_forward = 1' }
      : { check: 'ip_forward', level: 'fail', message: `net.ipv4.ip_forward = ${f.ipForward ?? 'unreadable'}: no container traffic is routed`, fix: 'sysctl -w net.ipv4.ip_forward=1 (dockerd turns it on at its start)' },
  );
  out.push(
    f.brNetfilter === undefined
      ? { check: 'br_netfilter', level: 'fail', message: 'br_netfilter is not loaded: traffic between containers of one network bypasses iptables (DOCKER-USER, icc)', fix: 'modprobe br_netfilter' }
      : { check: 'br_netfilter', level: 'ok', message: `loaded (bridge-nf-call-iptables = ${f.brNetfilter}; tsnet's bridges turn it on per bridge)` },
  );
  return out;
}

export function firewallChecks(f: DoctorFacts): Finding[] {
  const rs = f.ruleset;
  const fw = f.status.firewall;
  if (!rs) return [{ check: 'firewall', level: 'fail', message: `iptables-${fw.backend ?? '?'}-save could not run`, fix: 'install iptables, or set TSNET_IPTABLES_BACKEND to the backend dockerd uses' }];
  const out: Finding[] = [];
  const policy = rs.policies.get('filter/FORWARD');
  out.push(
    policy === 'DROP'
      ? { check: 'forward policy', level: 'ok', message: 'filter FORWARD policy DROP (as dockerd sets it)' }
      : { check: 'forward policy', level: 'warn', message: `filter FORWARD policy ${policy ?? 'unknown'}: traffic tsnet does not decide is forwarded`, fix: 'iptables -P FORWARD DROP (dockerd sets it at its start)' },
  );

  // Hooks: each present, and tsnet's filter FORWARD hook after -j DOCKER-USER.
  const hooks: Finding[] = [];
  for (const h of fw.hooks) {
    const rules = chainRules(rs, h.table, h.chain);
    const at = rules.findIndex((r) => r.spec === h.spec);
    if (at < 0) {
      hooks.push({ check: 'hooks', level: 'fail', message: `missing in ${h.table} ${h.chain}: ${h.spec}`, fix: `tsnet's firewall check puts it back within 10 s; if it stays missing, ${RESTART_FIX}` });
      continue;
    }
    if (h.placement === 'after-docker-user') {
      const user = rules.findIndex((r) => r.spec === '-j DOCKER-USER');
      if (user < 0) hooks.push({ check: 'hooks', level: 'warn', message: `no -j DOCKER-USER in ${h.table} ${h.chain} (dockerd not started or its rules flushed)`, fix: 'restart dockerd, which re-creates its chains' });
      else if (user > at) hooks.push({ check: 'hooks', level: 'fail', message: `tsnet's hook (rule ${at + 1}) comes before -j DOCKER-USER (rule ${user + 1}) in ${h.chain}: admin rules in DOCKER-USER do not see tsnet's traffic`, fix: 'tsnet moves it within 10 s (firewall check); if it stays, restart tsnet' });
    }
  }
  out.push(...oneOk('hooks', hooks, `${fw.hooks.length} hooks in place; filter FORWARD: -j DOCKER-USER before -j ${fw.chains.find((c) => c.table === 'filter')?.chain ?? 'TSNET-FWD'}`));

  // Chains and each network's rules (a flushed chain loses them until the next start).
  const chains: Finding[] = [];
  for (const c of fw.chains) {
    if (!rs.chains.has(`${c.table}/${c.chain}`)) chains.push({ check: 'chains', level: 'fail', message: `chain ${c.table} ${c.chain} missing`, fix: RESTART_FIX });
  }
  const fwd = fw.chains.find((c) => c.table === 'filter' && /-FWD$/.test(c.chain))?.chain;
  if (fwd && rs.chains.has(`filter/${fwd}`)) {
    const rules = chainRules(rs, 'filter', fwd);
    for (const n of f.networks) {
      if (!n.firewallMarker || n.type === 'macvlan') continue;
      const marker = n.firewallMarker;
      if (!rules.some((r) => r.comment === marker || r.comment?.startsWith(`${marker}:`))) {
        chains.push({ check: 'chains', level: 'fail', message: `network ${netLabel(f, n.id)} has no rule in filter ${fwd} (chain flushed?): its traffic is dropped`, fix: RESTART_FIX });
      }
    }
  }
  // Rules with a network's marker whose network the store no longer holds.
  const known = new Set(f.networks.map((n) => n.id.slice(0, 12)));
  const netPrefix = `${fw.commentPrefix}net:`;
  const orphans = new Map<string, number>();
  for (const r of rs.rules) {
    if (!r.comment?.startsWith(netPrefix)) continue;
    const id = r.comment.slice(netPrefix.length).split(':')[0]!;
    if (!known.has(id)) orphans.set(id, (orphans.get(id) ?? 0) + 1);
  }
  for (const [id, n] of orphans) {
    chains.push({ check: 'chains', level: 'warn', message: `${n} rules carry the marker of network ${id}, which the store does not hold (orphans)`, fix: `tsnet's next start removes them (its firewall rebuild keeps only the stored networks' rules)` });
  }
  out.push(...oneOk('chains', chains, `${fw.chains.length} chains present, every network's rules in ${fwd ?? 'TSNET-FWD'}`));

  // Admin rules that can never apply.
  const admin: Finding[] = [];
  const userRules = chainRules(rs, 'filter', 'DOCKER-USER');
  const ret = userRules.findIndex((r) => r.spec === '-j RETURN');
  if (ret >= 0) {
    for (const r of userRules.slice(ret + 1)) {
      admin.push({ check: 'admin rules', level: 'fail', message: `DOCKER-USER rule "-A DOCKER-USER ${r.spec}" comes after the chain's unconditional -j RETURN: it never applies`, fix: `iptables -D DOCKER-USER ${r.spec} && iptables -I DOCKER-USER ${r.spec}` });
    }
  }
  const forward = chainRules(rs, 'filter', 'FORWARD');
  const hookAt = forward.findIndex((r) => r.comment === `${fw.commentPrefix}hook`);
  const bridges = new Set(f.networks.flatMap((n) => (n.bridge ? [n.bridge] : [])));
  if (hookAt >= 0) {
    for (const r of forward.slice(hookAt + 1)) {
      if (r.comment?.startsWith('tsnet:') || DOCKER_RULE.test(r.spec)) continue;
      const names = [...r.spec.matchAll(/(?:^|\s)-[io] (\S+)/g)].map((m) => m[1]!);
      const tsnetBridge = names.find((n) => bridges.has(n) || (n.endsWith('+') && [...bridges].some((b) => b.startsWith(n.slice(0, -1)))));
      if (tsnetBridge) {
        admin.push({ check: 'admin rules', level: 'fail', message: `"-A FORWARD ${r.spec}" names tsnet's bridge ${tsnetBridge} but comes after tsnet's hook, which decides all of its traffic first: it never applies`, fix: `put it in DOCKER-USER: iptables -D FORWARD ${r.spec} && iptables -I DOCKER-USER ${r.spec}` });
      } else if (names.length === 0) {
        admin.push({ check: 'admin rules', level: 'warn', message: `"-A FORWARD ${r.spec}" comes after tsnet's hook: it never sees tsnet networks' traffic`, fix: 'rules meant for container traffic belong in DOCKER-USER' });
      }
    }
  }
  out.push(...egressChecks(f));
  out.push(...oneOk('admin rules', admin, 'no rule in DOCKER-USER or FORWARD placed where it cannot apply'));
  return out;
}

/** The bridge family's egress filter (ebtables TSNET-EGRESS from OUTPUT): without it containers reach other bridge networks. */
export function egressChecks(f: DoctorFacts): Finding[] {
  if (!f.networks.some((n) => n.bridge)) return [];
  const chain = f.status.firewall.ebtablesChain;
  const fix = `tsnet's firewall check puts it back within 10 s; if it stays missing, ${RESTART_FIX}`;
  if (f.ebtables === undefined) return [{ check: 'egress filter', level: 'warn', message: 'ebtables-nft-save could not run: the egress filter was not checked', fix: 'install ebtables (nft)' }];
  const lines = f.ebtables.split('\n');
  if (!lines.some((l) => l.startsWith(`:${chain} `))) return [{ check: 'egress filter', level: 'fail', message: `ebtables chain ${chain} missing: containers of tsnet networks can reach other bridge networks`, fix }];
  if (!lines.some((l) => l.startsWith(`-A ${chain} `) && /-j DROP/.test(l))) return [{ check: 'egress filter', level: 'fail', message: `ebtables chain ${chain} has no DROP rule (flushed?)`, fix }];
  if (!lines.some((l) => l.startsWith('-A OUTPUT ') && l.includes(`-j ${chain}`))) return [{ check: 'egress filter', level: 'fail', message: `ebtables OUTPUT does not jump to ${chain}`, fix }];
  return [{ check: 'egress filter', level: 'ok', message: `ebtables OUTPUT -j ${chain} drops marked frames into other bridges` }];
}

export function engineChecks(f: DoctorFacts): Finding[] {
  const e = f.engine;
  const backend = f.status.firewall.backend;
  const out: Finding[] = [];
  if (e.error || !e.version) out.push({ check: 'engine', level: 'warn', message: `Docker API not reachable: ${e.error ?? 'no version'}`, fix: 'start dockerd, or give its socket with --docker-host unix:///PATH' });
  else out.push({ check: 'engine', level: 'ok', message: `Docker ${e.version} (API ${e.apiVersion ?? '?'})${e.firewallBackend ? `, firewall backend ${e.firewallBackend}` : ''}` });
  if (backend === 'nft' || backend === 'legacy') {
    const other = backend === 'nft' ? 'legacy' : 'nft';
    if (!f.dockerBackends.includes(backend) && f.dockerBackends.includes(other)) {
      out.push({ check: 'firewall backend', level: 'fail', message: `tsnet writes iptables-${backend}, dockerd iptables-${other}: DOCKER-USER and tsnet's rules live in different tables`, fix: `set TSNET_IPTABLES_BACKEND=${other} and restart tsnet` });
    } else {
      out.push({ check: 'firewall backend', level: 'ok', message: `iptables-${backend}${f.dockerBackends.includes(backend) ? ', the same as dockerd' : ''}` });
    }
  }
  return out;
}

export function mtuChecks(f: DoctorFacts): Finding[] {
  const link = (name?: string) => (name ? f.links.find((l) => l.name === name) : undefined);
  const out: Finding[] = [];
  for (const n of f.networks) {
    if (n.type === 'vxlan') {
      const vx = link(n.vxlanDevice);
      const under = link(n.underlay);
      if (!vx || !under) continue;
      const overhead = n.localAddress?.includes(':') ? 70 : 50;
      if (vx.mtu + overhead > under.mtu) {
        out.push({ check: 'mtu', level: 'fail', message: `network ${netLabel(f, n.id)}: ${vx.name} MTU ${vx.mtu} + ${overhead} (VXLAN) > underlay ${under.name} MTU ${under.mtu}: large packets are dropped`, fix: `recreate the network with -o com.docker.network.driver.mtu=${under.mtu - overhead}` });
      }
    } else if (n.type === 'macvlan') {
      const parent = link(n.parent);
      if (parent && n.mtu !== undefined && n.mtu > parent.mtu) {
        out.push({ check: 'mtu', level: 'fail', message: `network ${netLabel(f, n.id)}: MTU ${n.mtu} > parent ${parent.name} MTU ${parent.mtu}`, fix: `recreate the network with -o com.docker.network.driver.mtu=${parent.mtu}` });
      }
    }
    const br = link(n.bridge);
    if (br && n.mtu !== undefined && br.mtu !== n.mtu && f.endpoints.some((e) => e.networkId === n.id)) {
      out.push({ check: 'mtu', level: 'warn', message: `network ${netLabel(f, n.id)}: bridge ${br.name} MTU ${br.mtu}, the network's ${n.mtu}`, fix: `ip link set ${br.name} mtu ${n.mtu}` });
    }
  }
  return oneOk('mtu', out, 'every network fits its underlay or parent');
}

export function linkChecks(f: DoctorFacts): Finding[] {
  const byName = new Map(f.links.map((l) => [l.name, l]));
  const out: Finding[] = [];
  const expect = (name: string | undefined, marker: string | undefined, what: string, owner: string, kind?: string) => {
    if (!name) return;
    const l = byName.get(name);
    if (!l) out.push({ check: 'links', level: 'fail', message: `${what} ${name} of ${owner} is missing`, fix: RESTART_FIX });
    else if (marker && l.alias !== marker) out.push({ check: 'links', level: 'fail', message: `${what} ${name} of ${owner} does not carry tsnet's marker (alias "${l.alias ?? ''}"): another tool replaced it`, fix: `remove it (ip link del ${name}), then ${RESTART_FIX}` });
    else if (kind && l.kind !== kind) out.push({ check: 'links', level: 'fail', message: `${what} ${name} of ${owner} is a ${l.kind ?? 'plain link'}, not a ${kind}`, fix: RESTART_FIX });
  };
  const netById = new Map(f.networks.map((n) => [n.id, n]));
  for (const n of f.networks) {
    const owner = `network ${netLabel(f, n.id)}`;
    expect(n.bridge, n.linkMarker, 'bridge', owner, 'bridge');
    expect(n.vxlanDevice, n.linkMarker, 'VXLAN device', owner, 'vxlan');
    if (n.type === 'macvlan') expect(n.parent, undefined, 'parent', owner);
  }
  for (const e of f.endpoints) {
    if (e.type === 'macvlan') continue; // the macvlan link lives in the container once joined
    const owner = `endpoint ${e.id.slice(0, 12)}${f.containerNames.has(e.id) ? ` (container ${f.containerNames.get(e.id)})` : ''}`;
    const before = out.length;
    expect(e.hostIfname, e.linkMarker, 'veth', owner, 'veth');
    const bridge = netById.get(e.networkId)?.bridge;
    const l = e.hostIfname ? byName.get(e.hostIfname) : undefined;
    // A missing bridge is already a finding (its fix puts the veths back on it too).
    if (out.length === before && l && bridge && byName.has(bridge) && l.master !== bridge) {
      out.push({ check: 'links', level: 'fail', message: `veth ${l.name} of ${owner} is not on bridge ${bridge} (master ${l.master ?? 'none'})`, fix: `ip link set ${l.name} master ${bridge}` });
    }
  }
  // Links with this instance's marker that no stored network or endpoint refers to.
  const ids = new Set([...f.networks.map((n) => n.id), ...f.endpoints.map((e) => e.id)]);
  for (const l of f.links) {
    if (!l.alias?.startsWith(f.status.linkMarkerPrefix)) continue;
    const id = l.alias.split(':').pop() ?? '';
    if (!ids.has(id)) out.push({ check: 'links', level: 'warn', message: `${l.name} carries tsnet's marker "${l.alias}" but nothing in the store refers to it (an orphan)`, fix: `ip link del ${l.name} (tsnet's next start removes it too)` });
  }
  return oneOk('links', out, `${f.networks.length} networks and ${f.endpoints.length} endpoints: every bridge, VXLAN device and veth present; no orphan`);
}

export function fdbChecks(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  const locals = new Set(f.localAddresses);
  for (const n of f.networks) {
    if (n.type !== 'vxlan' || !n.vxlanDevice) continue;
    const entries = f.fdb.get(n.vxlanDevice);
    if (!entries) continue;
    const v6 = n.localAddress?.includes(':') ?? false;
    const wanted = new Set(f.peers.filter((p) => p.networkId === n.id).map((p) => p.dataAddress).filter((a) => !locals.has(a) && a.includes(':') === v6));
    const flood = new Set(entries.filter((e) => e.mac === FLOOD_MAC && e.dst).map((e) => e.dst!));
    for (const dst of flood) {
      if (!wanted.has(dst)) out.push({ check: 'fdb', level: 'warn', message: `network ${netLabel(f, n.id)}: stale flood entry on ${n.vxlanDevice} to ${dst}, which is no peer`, fix: `bridge fdb del ${FLOOD_MAC} dev ${n.vxlanDevice} dst ${dst}` });
    }
    for (const dst of wanted) {
      if (!flood.has(dst)) out.push({ check: 'fdb', level: 'fail', message: `network ${netLabel(f, n.id)}: no flood entry on ${n.vxlanDevice} to peer ${dst}: broadcasts (ARP) never reach it`, fix: RESTART_FIX });
    }
  }
  return oneOk('fdb', out, 'every VXLAN device floods to exactly its peers');
}

export function diskChecks(f: DoctorFacts): Finding[] {
  const free = f.status.store.diskFreeBytes;
  const dir = f.status.stateDir;
  if (free === undefined) return [{ check: 'state dir', level: 'warn', message: `free space of ${dir} unknown` }];
  const mib = (b: number) => (b >= 1024 ** 3 ? `${Math.round(b / 1024 ** 3 * 10) / 10} GiB` : `${Math.round(b / 1024 / 102.4) / 10} MiB`);
  if (free < DISK_FAIL_BYTES) return [{ check: 'state dir', level: 'fail', message: `${mib(free)} free for ${dir}: new networks and endpoints are refused below a few MiB`, fix: `free space on the file system of ${dir} (at least ${mib(DISK_WARN_BYTES)})` }];
  if (free < DISK_WARN_BYTES) return [{ check: 'state dir', level: 'warn', message: `${mib(free)} free for ${dir}`, fix: `free space on the file system of ${dir}` }];
  return [{ check: 'state dir', level: 'ok', message: `${mib(free)} free for ${dir}` }];
}

export function peerChecks(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  const locals = new Set(f.localAddresses);
  for (const p of f.peers) {
    if (locals.has(p.dataAddress)) continue;
    const n = f.networks.find((x) => x.id === p.networkId);
    if (!n?.vxlanDevice) continue;
    const silence = silenceOf(f.fdb.get(n.vxlanDevice) ?? [], p.dataAddress);
    if (silence === undefined) out.push({ check: 'peers', level: 'warn', message: `network ${netLabel(f, n.id)}: peer ${p.dataAddress} (${p.sources.join(',')}) never heard from (normal while no container runs there)`, fix: `check that UDP ${n.vxlanPort ?? 4789} reaches ${p.dataAddress} and comes back` });
    else if (silence > SILENT_SECONDS) out.push({ check: 'peers', level: 'warn', message: `network ${netLabel(f, n.id)}: peer ${p.dataAddress} silent for ${silence}s`, fix: `check that UDP ${n.vxlanPort ?? 4789} reaches ${p.dataAddress} and comes back` });
  }
  return oneOk('peers', out, f.peers.length === 0 ? 'no VXLAN peer' : 'every VXLAN peer heard from recently');
}
