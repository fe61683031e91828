/**
 * A parser of the Prometheus text exposition format (version 0.0.4), enough to check what tsnet serves:
 * `# HELP` and `# TYPE` lines, samples `name{label="value",...} value [timestamp]` with the format's
 * escapes in label values (\\, \", \n). Throws on a line it cannot read, so a malformed exposition fails
 * the test that reads it.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type?: string;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

export function parsePromText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [] }));
    return f;
  };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const fail = (why: string) => {
      throw new Error(`metrics line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line.trim() === '') return;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (meta[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!)) fail('unknown type');
        f.type = meta[3];
      } else f.help = meta[3];
      return;
    }
    if (line.startsWith('#')) return;
    const name = NAME.exec(line)?.[0] ?? fail('no metric name');
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,?)/.exec(rest) ?? fail('bad label');
        labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(m[0].length);
        if (m[3] === '' && !rest.startsWith('}')) fail('labels not closed');
      }
      rest = rest.slice(1);
    }
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2 || !/^\s/.test(rest)) fail('bad value');
    const raw = parts[0]!;
    // Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client writes "Nan").
    const special = /^([+-]?)(inf|nan)$/i.exec(raw);
    const value = special ? (special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(raw);
    if (Number.isNaN(value) && !special) fail('value not a number');
    // Samples of histograms and summaries belong to their family (x_bucket, x_sum, x_count).
    const base = /^(.*)_(bucket|sum|count|total|created)$/.exec(name)?.[1];
    const owner = families.has(name) ? name : base !== undefined && families.has(base) ? base : name;
    family(owner).samples.push({ name, labels, value });
  });
  return families;
}

/** The value of the one sample `name` with these labels (all of them given); undefined when absent. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
