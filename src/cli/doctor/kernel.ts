import { execFile } from 'node:child_process';
import fs from 'node:fs';

/**
 * What the doctor and `tsnet peers` read from the host, with the host's own tools (the command runs as
 * root on the host; a managed plugin shares the host's network namespace, so both see one kernel).
 * Each read is one bounded command with a timeout.
 */
export function runTool(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

export interface LinkFacts {
  name: string;
  kind?: string;
  alias?: string;
  mtu: number;
  master?: string;
  up: boolean;
}

export async function readLinks(): Promise<LinkFacts[]> {
  const raw = JSON.parse(await runTool('ip', ['-d', '-j', 'link', 'show'])) as Array<Record<string, unknown>>;
  return raw.map((l) => {
    const link: LinkFacts = { name: String(l.ifname), mtu: Number(l.mtu), up: Array.isArray(l.flags) && (l.flags as string[]).includes('UP') };
    const kind = (l.linkinfo as { info_kind?: string } | undefined)?.info_kind;
    if (kind) link.kind = kind;
    if (typeof l.ifalias === 'string') link.alias = l.ifalias;
    if (typeof l.master === 'string') link.master = l.master;
    return link;
  });
}

export interface FdbEntry {
  mac: string;
  dst?: string;
  permanent: boolean;
  /** Seconds since the kernel last refreshed the entry from a received frame. */
  updated?: number;
}

export async function readFdb(device: string): Promise<FdbEntry[]> {
  const raw = JSON.parse(await runTool('bridge', ['-s', '-j', 'fdb', 'show', 'dev', device])) as Array<Record<string, unknown>>;
  return raw.map((e) => {
    const entry: FdbEntry = { mac: String(e.mac), permanent: e.state === 'permanent' };
    if (typeof e.dst === 'string') entry.dst = e.dst;
    if (typeof e.updated === 'number') entry.updated = e.updated;
    return entry;
  });
}

export const FLOOD_MAC = '00:00:00:00:00:00';

/** Seconds since a frame from this VTEP was learned (the freshest learned entry); undefined: none learned. */
export function silenceOf(entries: readonly FdbEntry[], vtep: string): number | undefined {
  const learned = entries.filter((e) => e.dst === vtep && !e.permanent && e.mac !== FLOOD_MAC && e.updated !== undefined);
  return learned.length === 0 ? undefined : Math.min(...learned.map((e) => e.updated!));
}

export function readSysctl(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `iptables-save` of one backend ('nft', 'legacy', or 'default' = the plain name); undefined when it cannot run. */
export async function iptablesSave(backend: string | undefined): Promise<string | undefined> {
  const cmd = backend === 'nft' || backend === 'legacy' ? `iptables-${backend}-save` : 'iptables-save';
  return runTool(cmd, []).catch(() => undefined);
}

// ---- iptables-save text ------------------------------------------------------------------------------------

export interface SavedRule {
  table: string;
  chain: string;
  /** As printed after `-A CHAIN `. */
  spec: string;
  comment?: string;
}

export interface SavedRuleset {
  policies: Map<string, string>;
  chains: Set<string>;
  rules: SavedRule[];
}

/** Parses iptables-save output: chains (`table/chain`), built-in policies and rules in order. */
export function parseIptablesSave(text: string): SavedRuleset {
  const out: SavedRuleset = { policies: new Map(), chains: new Set(), rules: [] };
  let table = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith(':')) {
      const [chain, policy] = line.slice(1).split(/\s+/);
      out.chains.add(`${table}/${chain}`);
      if (policy && policy !== '-') out.policies.set(`${table}/${chain}`, policy);
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      const spec = sp < 0 ? '' : rest.slice(sp + 1);
      const m = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(spec);
      const rule: SavedRule = { table, chain, spec };
      const comment = m ? (m[1] ?? m[2]) : undefined;
      if (comment !== undefined) rule.comment = comment;
      out.rules.push(rule);
    }
  }
  return out;
}

export function chainRules(rs: SavedRuleset, table: string, chain: string): SavedRule[] {
  return rs.rules.filter((r) => r.table === table && r.chain === chain);
}

/** Every address of the host (bare IPs). */
export async function readAddresses(): Promise<string[]> {
  const raw = JSON.parse(await runTool('ip', ['-j', 'addr', 'show'])) as Array<{ addr_info?: Array<{ local?: string }> }>;
  return raw.flatMap((l) => (l.addr_info ?? []).flatMap((a) => (a.local ? [a.local] : [])));
}
