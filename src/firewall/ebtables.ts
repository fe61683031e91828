import { CommandFailed, execCommand, type CommandRunner } from './runner';

/**
 * The bridge family of nf_tables through ebtables-nft: the tools are `ebtables-nft-save`/
 * `ebtables-nft-restore` when installed under those names, else the same tools through
 * `xtables-nft-multi` (all a managed plugin's rootfs carries). Found once, on first use.
 */
export class EbtablesTools {
  private tools?: Promise<Tools>;

  constructor(
    private readonly run: CommandRunner = execCommand,
    /** Why tsnet needs the tools, for the error when they are missing. */
    private readonly purpose: string,
  ) {}

  async save(): Promise<string> {
    const [file, args] = (await this.find()).save;
    return (await this.run(file, args)).stdout;
  }

  /** Applies a script with `--noflush` (each chain declared in it is flushed first). */
  async restore(script: string): Promise<void> {
    const [file, args] = (await this.find()).restore;
    await this.run(file, [...args, '--noflush'], script);
  }

  private find(): Promise<Tools> {
    this.tools ??= (async (): Promise<Tools> => {
      const direct: Tools = { save: ['ebtables-nft-save', []], restore: ['ebtables-nft-restore', []] };
      const multi: Tools = { save: ['xtables-nft-multi', ['ebtables-save']], restore: ['xtables-nft-multi', ['ebtables-restore']] };
      for (const tools of [direct, multi]) {
        try {
          await this.run(tools.save[0], tools.save[1]);
          return tools;
        } catch (err) {
          if (err instanceof CommandFailed && err.errno === 'ENOENT') continue;
          throw new Error(`${this.purpose} needs nf_tables' bridge family: ${(err as Error).message}`);
        }
      }
      throw new Error(`${this.purpose} needs ebtables-nft (xtables-nft-multi, Debian package iptables)`);
    })();
    this.tools.catch(() => {
      this.tools = undefined;
    });
    return this.tools;
  }
}

interface Tools {
  save: [string, string[]];
  restore: [string, string[]];
}

/** One table of an ebtables-save dump: chains (with policy) and their rules in order. */
export interface EbtablesTable {
  chains: Map<string, { policy: string; rules: string[] }>;
}

/** The `filter` table of an ebtables-save dump; `normalise` rewrites each rule (spelling differences). */
export function parseEbtablesFilter(text: string, normalise: (rule: string) => string = (r) => r): EbtablesTable {
  const chains = new Map<string, { policy: string; rules: string[] }>();
  let inFilter = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      inFilter = line === '*filter';
      continue;
    }
    if (!inFilter) continue;
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (name) chains.set(name, { policy: policy ?? 'ACCEPT', rules: [] });
      continue;
    }
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (m) {
      const chain = chains.get(m[1]!) ?? { policy: 'ACCEPT', rules: [] };
      chain.rules.push(normalise(m[2]!));
      chains.set(m[1]!, chain);
    }
  }
  return { chains };
}

/**
 * The ebtables-restore input that makes `chain` (policy RETURN) hold exactly `rules`, jumped to once
 * from each of `hookChains`, or undefined when the dump shows it already does. No rules at all: the
 * hooks and the chain go. Only `-j <chain>` rules are touched in the hook chains.
 */
export function planOwnedChain(current: EbtablesTable, chain: string, rules: string[], hookChains: readonly string[]): string | undefined {
  const jump = `-j ${chain}`;
  const existing = current.chains.get(chain);
  const hooked = (hook: string) => current.chains.get(hook)?.rules.filter((r) => r === jump).length ?? 0;
  const lines = ['*filter'];
  if (rules.length === 0) {
    for (const hook of hookChains) for (let i = 0; i < hooked(hook); i++) lines.push(`-D ${hook} ${jump}`);
    if (existing) lines.push(`-F ${chain}`, `-X ${chain}`);
    return lines.length > 1 ? `${lines.join('\n')}\n` : undefined;
  }
  const same =
    existing !== undefined &&
    existing.policy === 'RETURN' &&
    existing.rules.length === rules.length &&
    existing.rules.every((r, i) => r === rules[i]) &&
    hookChains.every((h) => hooked(h) === 1);
  if (same) return undefined;
  // A chain declaration under --noflush flushes the chain: the rules below are all it will hold.
  lines.push(`:${chain} RETURN`);
  for (const r of rules) lines.push(`-A ${chain} ${r}`);
  for (const hook of hookChains) {
    const n = hooked(hook);
    for (let i = 1; i < n; i++) lines.push(`-D ${hook} ${jump}`);
    if (n === 0) lines.push(`-I ${hook} 1 ${jump}`);
  }
  return `${lines.join('\n')}\n`;
}
