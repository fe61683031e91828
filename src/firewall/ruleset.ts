/**
 * A parsed `iptables-save` dump: the kernel's view that every firewall change is planned against.
 * Rules keep their spec exactly as iptables-save prints it (the text after `-A CHAIN `), which is also
 * what `-D CHAIN <spec>` needs to delete that rule.
 */
export interface SavedRule {
  table: string;
  chain: string;
  spec: string;
  /** The `-m comment --comment` text, unquoted; undefined when the rule has none. */
  comment?: string;
}

export interface SavedChain {
  name: string;
  /** Built-in chains have a policy (ACCEPT/DROP); user chains print '-'. */
  policy?: string;
  rules: SavedRule[];
}

export class Ruleset {
  /** table -> chain name -> chain */
  readonly tables = new Map<string, Map<string, SavedChain>>();

  chain(table: string, name: string): SavedChain | undefined {
    return this.tables.get(table)?.get(name);
  }

  hasChain(table: string, name: string): boolean {
    return this.chain(table, name) !== undefined;
  }

  /** Rules of one chain in order ([] when the chain does not exist). */
  rules(table: string, name: string): SavedRule[] {
    return this.chain(table, name)?.rules ?? [];
  }

  /** Every rule of every chain, in dump order. */
  allRules(): SavedRule[] {
    const out: SavedRule[] = [];
    for (const chains of this.tables.values()) for (const c of chains.values()) out.push(...c.rules);
    return out;
  }
}

const COMMENT = /(?:^|\s)-m comment --comment ("(?:[^"\\]|\\.)*"|\S+)/;

/** The comment text of a rule spec as iptables-save prints it (quoted or bare). */
export function commentOf(spec: string): string | undefined {
  const m = COMMENT.exec(spec);
  if (!m) return undefined;
  const raw = m[1]!;
  return raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
}

export function parseSave(text: string): Ruleset {
  const rs = new Ruleset();
  let table: Map<string, SavedChain> | undefined;
  let tableName = '';
  const chainIn = (name: string): SavedChain => {
    let c = table!.get(name);
    if (!c) {
      c = { name, rules: [] };
      table!.set(name, c);
    }
    return c;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      tableName = line.slice(1);
      table = rs.tables.get(tableName) ?? new Map();
      rs.tables.set(tableName, table);
      continue;
    }
    if (!table) continue;
    if (line === 'COMMIT') {
      table = undefined;
      continue;
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      const c = chainIn(name!);
      if (policy && policy !== '-') c.policy = policy;
      continue;
    }
    const m = /^-A (\S+)(?: (.*))?$/.exec(line);
    if (!m) continue;
    const spec = m[2] ?? '';
    chainIn(m[1]!).rules.push({ table: tableName, chain: m[1]!, spec, comment: commentOf(spec) });
  }
  return rs;
}
