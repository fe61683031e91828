import type { CommandContext, Output } from '../commands/context';
import { readEngine } from '../commands/status';
import { readDockerNames } from '../docker-names';
import { formatTable } from '../table';
import { runChecks, type DoctorFacts, type Finding } from './checks';
import { iptablesSave, parseIptablesSave, readAddresses, readFdb, readLinks, readSysctl, runTool, type FdbEntry } from './kernel';

/** Gathers the facts: the daemon's view, Docker's names and version, and the host's kernel and firewall. */
export async function gatherFacts(ctx: CommandContext): Promise<DoctorFacts> {
  const [status, networks, endpoints, peers] = await Promise.all([ctx.daemon.status(), ctx.daemon.networks(), ctx.daemon.endpoints(), ctx.daemon.peers()]);
  const [names, engine] = await Promise.all([readDockerNames(ctx.docker, networks.map((n) => n.id)), readEngine(ctx.docker)]);
  const saved = await iptablesSave(status.firewall.backend);
  const dockerBackends: string[] = [];
  for (const b of ['nft', 'legacy']) {
    const text = await runTool(`iptables-${b}-save`, ['-t', 'filter']).catch(() => '');
    if (/^:DOCKER(-USER)? /m.test(text)) dockerBackends.push(b);
  }
  const fdb = new Map<string, FdbEntry[]>();
  for (const n of networks) if (n.vxlanDevice) fdb.set(n.vxlanDevice, await readFdb(n.vxlanDevice).catch(() => []));
  const facts: DoctorFacts = {
    status,
    networks,
    endpoints,
    peers,
    networkNames: names.networks,
    containerNames: new Map([...names.containers].map(([ep, c]) => [ep, c.name])),
    engine,
    dockerBackends,
    links: await readLinks(),
    fdb,
    localAddresses: await readAddresses(),
  };
  const ipForward = readSysctl('/proc/sys/net/ipv4/ip_forward');
  if (ipForward !== undefined) facts.ipForward = ipForward;
  const brNetfilter = readSysctl('/proc/sys/net/bridge/bridge-nf-call-iptables');
  if (brNetfilter !== undefined) facts.brNetfilter = brNetfilter;
  if (saved !== undefined) facts.ruleset = parseIptablesSave(saved);
  const ebtables = await runTool('ebtables-nft-save', []).catch(() => runTool('xtables-nft-multi', ['ebtables-save'])).catch(() => undefined);
  if (ebtables !== undefined) facts.ebtables = ebtables;
  return facts;
}

export function formatFindings(findings: Finding[]): string {
  const table = formatTable(['check', 'result', 'detail'], findings.map((f) => [f.check, f.level, f.message]));
  const fixes = findings.filter((f) => f.level !== 'ok' && f.fix);
  const counts = (['ok', 'warn', 'fail'] as const).map((l) => `${findings.filter((f) => f.level === l).length} ${l}`).join(', ');
  const fixText = fixes.length === 0 ? '' : `\nFixes:\n${fixes.map((f) => `  ${f.check}: ${f.fix}`).join('\n')}\n`;
  return `${table}${fixText}\n${counts}\n`;
}

export async function doctor(ctx: CommandContext): Promise<Output> {
  const findings = runChecks(await gatherFacts(ctx));
  const failed = findings.some((f) => f.level === 'fail');
  return { json: { ok: !failed, findings }, text: formatFindings(findings), exitCode: failed ? 1 : 0 };
}
