import type { Table } from './rules';

interface TableSection {
  create: string[];
  remove: string[];
  flush: string[];
  drop: string[];
  add: string[];
}

/**
 * One `iptables-restore --noflush` input: every change of one operation, applied by one process, each
 * table atomically (its COMMIT). Lines are emitted per table in phases: new chains first (so jumps to
 * them are valid), then deletions (which still see the rules the plan read), then flushes, then chain
 * deletions (after every flush, so no chain of the batch still jumps to them), then inserts/appends in
 * the order they were asked for.
 */
export class RestoreBatch {
  private readonly sections = new Map<Table, TableSection>();

  private section(table: Table): TableSection {
    let s = this.sections.get(table);
    if (!s) {
      s = { create: [], remove: [], flush: [], drop: [], add: [] };
      this.sections.set(table, s);
    }
    return s;
  }

  createChain(table: Table, chain: string): void {
    this.section(table).create.push(`-N ${chain}`);
  }

  deleteRule(table: Table, chain: string, spec: string): void {
    this.section(table).remove.push(`-D ${chain} ${spec}`.trimEnd());
  }

  flushChain(table: Table, chain: string): void {
    this.section(table).flush.push(`-F ${chain}`);
  }

  /** Deletes an (emptied) chain; flush it in the same batch. */
  deleteChain(table: Table, chain: string): void {
    this.section(table).drop.push(`-X ${chain}`);
  }

  /** Inserts at a 1-based position (evaluated after this batch's deletions and flushes). */
  insertRule(table: Table, chain: string, position: number, spec: string): void {
    this.section(table).add.push(`-I ${chain} ${position} ${spec}`.trimEnd());
  }

  appendRule(table: Table, chain: string, spec: string): void {
    this.section(table).add.push(`-A ${chain} ${spec}`.trimEnd());
  }

  isEmpty(): boolean {
    for (const s of this.sections.values()) {
      if (s.create.length + s.remove.length + s.flush.length + s.drop.length + s.add.length > 0) return false;
    }
    return true;
  }

  /** Number of rule/chain commands (for logs). */
  get size(): number {
    let n = 0;
    for (const s of this.sections.values()) n += s.create.length + s.remove.length + s.flush.length + s.drop.length + s.add.length;
    return n;
  }

  render(): string {
    const out: string[] = [];
    for (const table of ['mangle', 'filter', 'nat'] as Table[]) {
      const s = this.sections.get(table);
      if (!s) continue;
      const lines = [...s.create, ...s.remove, ...s.flush, ...s.drop, ...s.add];
      if (lines.length === 0) continue;
      out.push(`*${table}`, ...lines, 'COMMIT');
    }
    return out.length ? `${out.join('\n')}\n` : '';
  }
}
