/**
 * Human output as `docker` prints it: upper-case headers, columns padded to their widest cell plus three
 * spaces (Go's tabwriter with padding 3), the last column unpadded, "-" for an empty cell.
 */
export function formatTable(headers: string[], rows: Array<Array<string | number | undefined>>): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => headers.map((_h, i) => cellText(r[i])))];
  const widths = headers.map((_h, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** `Key:   value` lines, the values aligned (as `docker info` prints its first part). */
export function formatFields(fields: Array<[string, string | number | undefined]>): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${cellText(v)}`.trimEnd()).join('\n') + '\n';
}

function cellText(v: string | number | undefined): string {
  if (v === undefined || v === '') return '-';
  return String(v);
}

/** 1536 -> "1.5 KiB" (binary units, one decimal below 10). */
export function formatBytes(n: number | undefined): string | undefined {
  if (n === undefined) return undefined;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${u === 0 ? v : v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** 3725 -> "1h 2m 5s"; ago(iso, now) -> "12s ago". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${s % 60}s`].filter(Boolean);
  return parts.slice(0, 3).join(' ');
}

export function ago(iso: string | undefined, now: Date): string | undefined {
  if (!iso) return undefined;
  return `${formatDuration((now.getTime() - Date.parse(iso)) / 1000)} ago`;
}
