import { chainRules } from './kernel';
import { netLabel, oneOk, RESTART_FIX, type DoctorFacts, type Finding } from './facts';

// The firewall: FORWARD policy, tsnet's hooks and chains, each network's rules, the egress filter, admin rules that cannot apply.

const DOCKER_RULE = /(-j DOCKER\b|-j DOCKER-|\bdocker0\b|\bbr-[0-9a-f]{12}\b|docker_gwbridge)/;

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
