/**
 * bench/common: what the Docker-level benches share. Options from argv/env, medians and markdown tables,
 * timing, RSS, commands pinned to one CPU (taskset) inside a network namespace, iperf3 and ping runs,
 * and a private Docker host with tsnet (test/lab) that is always torn down.
 *
 * The VMs these run on have 2 cores: a cross-core wake-up costs ~47 us and unpinned runs swing up to 3x
 * (DESIGN.md), so every traffic generator is pinned, server and client on different CPUs, the cases are
 * interleaved round by round and the tables report medians.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binaries, buildPluginDir, canRunDocker, cleanupStale, DockerHost, ensureBusyboxImage, formSwarm, installManagedPlugin, eventually, pluginLines, run, stopAllHosts, Underlay } from '../test/lab';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TSNET_ENTRY = path.join(ROOT, 'dist/src/main.js');
export const IMAGE = 'bb:latest';

// ---- options ------------------------------------------------------------------------------------------------

/**
 * A numeric option: `name=N` or `--name=N` on the command line, else BENCH_<NAME> in the environment, else
 * `fallback`. Bounded to [min, max] so a typo cannot start an unbounded run.
 */
export function intOption(name: string, fallback: number, min: number, max: number): number {
  const raw = stringOption(name, String(fallback));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`option ${name}=${raw}: must be a whole number in ${min}..${max}`);
  return n;
}

export function stringOption(name: string, fallback: string): string {
  for (const a of process.argv.slice(2)) {
    const m = /^(?:--)?([\w-]+)=(.*)$/.exec(a);
    if (m && m[1] === name) return m[2]!;
  }
  return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback;
}

/** The command line that reproduces this run (printed under every table). */
export function commandLine(): string {
  return ['node', path.relative(ROOT, process.argv[1]!), ...process.argv.slice(2)].join(' ');
}

/** Runs a bench's main: an error is printed and the process exits 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

// ---- statistics and tables ----------------------------------------------------------------------------------

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Samples per case name (e.g. "tcp 1 stream Gbit/s") and per side ("tsnet" | "built-in"). */
export class Samples {
  private readonly data = new Map<string, Map<string, number[]>>();

  add(metric: string, side: string, value: number): void {
    let bySide = this.data.get(metric);
    if (!bySide) this.data.set(metric, (bySide = new Map()));
    let values = bySide.get(side);
    if (!values) bySide.set(side, (values = []));
    values.push(value);
  }

  get(metric: string, side: string): number[] {
    return this.data.get(metric)?.get(side) ?? [];
  }

  metrics(): string[] {
    return [...this.data.keys()];
  }
}

export interface Goal {
  /** The ratio tsnet/built-in must be at most (latency, time) or at least (throughput) this. */
  max?: number;
  min?: number;
}

export interface Row {
  metric: string;
  goal?: Goal;
  /** Digits after the decimal point for the values. */
  digits?: number;
}

function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}

function spread(values: number[], digits: number): string {
  if (values.length < 2) return '';
  return ` (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

/**
 * A markdown table: median (min–max) of each side, the ratio of the medians tsnet/built-in, the goal on
 * that ratio and whether it was met.
 */
export function comparisonTable(samples: Samples, rows: Row[], sides: [string, string] = ['tsnet', 'built-in']): string {
  const [a, b] = sides;
  const lines = [
    `| metric | n | ${a} median (min–max) | ${b} median (min–max) | ${a}/${b} | goal | met |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const d = row.digits ?? 2;
    const va = samples.get(row.metric, a);
    const vb = samples.get(row.metric, b);
    const ratio = median(va) / median(vb);
    const goal = row.goal?.min !== undefined ? `≥ ${row.goal.min.toFixed(2)}` : row.goal?.max !== undefined ? `≤ ${row.goal.max.toFixed(2)}` : '';
    const met = !row.goal || !Number.isFinite(ratio) ? '' : (row.goal.min === undefined || ratio >= row.goal.min) && (row.goal.max === undefined || ratio <= row.goal.max) ? 'yes' : '**no**';
    lines.push(
      `| ${row.metric} | ${Math.min(va.length, vb.length)} | ${fmt(median(va), d)}${spread(va, d)} | ${fmt(median(vb), d)}${spread(vb, d)} | ${fmt(ratio, 3)} | ${goal} | ${met} |`,
    );
  }
  return lines.join('\n');
}

/** A plain two-column markdown table. */
export function keyValueTable(header: [string, string], rows: Array<[string, string | number]>): string {
  return [`| ${header[0]} | ${header[1]} |`, '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

// ---- time, memory ---------------------------------------------------------------------------------------------

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = nowMs();
  const value = await fn();
  return { ms: nowMs() - t0, value };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resident memory of a process in KiB (VmRSS of /proc/PID/status). */
export function rssKiB(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line.split(/\s+/)[1]);
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Runs `count` jobs with at most `parallel` in flight; resolves when all are done (rejects on the first error). */
export async function pool(count: number, parallel: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

// ---- pinned commands in a network namespace -------------------------------------------------------------------

/** argv prefix that enters a network namespace: a process's (`nsenter -t PID -n`) or a named one (`ip netns exec`). */
export type NsPrefix = string[];

export function pidNs(pid: number): NsPrefix {
  return [binaries().nsenter, '-t', String(pid), '-n', '--'];
}

export function namedNs(name: string): NsPrefix {
  return [binaries().ip, 'netns', 'exec', name];
}

/** `taskset -c CPU <ns prefix> cmd...` */
export function pinnedArgv(cpu: number, ns: NsPrefix, cmd: string[]): string[] {
  return ['taskset', '-c', String(cpu), ...ns, ...cmd];
}

/** CPUs for server and client: 0 and 1 (the same CPU on a 1-CPU machine, which the table then says). */
export function cpus(): { server: number; client: number } {
  const n = os.cpus().length;
  return { server: 0, client: n > 1 ? 1 : 0 };
}

/**
 * One iperf3 TCP test: the server (`-s -1`, one test then exit) pinned to the server CPU in `serverNs`,
 * the client pinned to the client CPU in `clientNs`; returns the receiver's Gbit/s. Every wait is bounded.
 */
export async function iperf3(opts: { serverNs: NsPrefix; clientNs: NsPrefix; target: string; streams: number; seconds: number; port?: number }): Promise<number> {
  const { server: serverCpu, client: clientCpu } = cpus();
  const port = String(opts.port ?? 5201);
  const [cmd, ...args] = pinnedArgv(serverCpu, opts.serverNs, ['iperf3', '-s', '-1', '-p', port]);
  const server = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let serverErr = '';
  server.stderr!.on('data', (b: Buffer) => (serverErr += b.toString()));
  const serverExited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  try {
    const clientArgv = pinnedArgv(clientCpu, opts.clientNs, [
      'iperf3', '-c', opts.target, '-p', port, '-t', String(opts.seconds), '-P', String(opts.streams), '-J',
    ]);
    for (let attempt = 0; ; attempt++) {
      const r = await run(clientArgv[0]!, clientArgv.slice(1), { allowFail: true, timeoutMs: (opts.seconds + 20) * 1000 });
      if (r.code === 0) {
        const j = JSON.parse(r.stdout);
        const bps = j.end?.sum_received?.bits_per_second;
        if (typeof bps === 'number') return bps / 1e9;
        r.stderr += String(j.error ?? 'no end.sum_received in the JSON');
      }
      // The server may not listen yet: retry a refused connection for up to 5 s.
      const refused = /unable to connect|Connection refused|No route to host/i.test(r.stdout + r.stderr);
      if (!refused || attempt >= 50 || server.exitCode !== null) {
        throw new Error(`iperf3 client failed (${r.code}): ${(r.stdout + r.stderr).slice(-1500)}\nserver: ${serverErr.slice(-500)}`);
      }
      await sleep(100);
    }
  } finally {
    await Promise.race([serverExited, sleep(3000)]);
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL');
      await Promise.race([serverExited, sleep(2000)]);
    }
  }
}

/**
 * ICMP round trips with busybox ping (the binary the test image carries) pinned to the client CPU in `ns`:
 * `count` + 1 echoes `intervalS` apart; the first (it may include neighbour resolution) is dropped; returns
 * the mean of the rest in ms.
 */
export async function pingRtt(ns: NsPrefix, target: string, count = 20, intervalS = 0.2): Promise<number> {
  const argv = pinnedArgv(cpus().client, ns, [binaries().busybox, 'ping', '-c', String(count + 1), '-i', String(intervalS), '-W', '2', target]);
  const r = await run(argv[0]!, argv.slice(1), { timeoutMs: (count * intervalS + 15) * 1000 });
  const times = [...r.stdout.matchAll(/seq=(\d+) .*time=([\d.]+) ms/g)].filter((m) => m[1] !== '0').map((m) => Number(m[2]));
  if (times.length < count / 2) throw new Error(`ping ${target}: only ${times.length} replies:\n${r.stdout}`);
  return times.reduce((s, t) => s + t, 0) / times.length;
}

// ---- a private Docker host with tsnet -------------------------------------------------------------------------

/**
 * Starts a DockerHost (private dockerd in its own namespaces) with the busybox image and tsnet as a socket
 * plugin, runs `body`, and always stops the host (also on SIGINT/SIGTERM). Exits with a clear message when
 * this machine cannot run dockerd.
 */
export async function withDockerHost<T>(name: string, tsnetEnv: Record<string, string>, body: (h: DockerHost) => Promise<T>): Promise<T> {
  const can = canRunDocker();
  if (!can.ok) throw new Error(`cannot run this bench here: ${can.reason}`);
  for (const bin of ['taskset', 'iperf3']) {
    if ((await run('sh', ['-c', `command -v ${bin}`], { allowFail: true })).code !== 0) throw new Error(`${bin} is missing (make bench installs iperf3)`);
  }
  await cleanupStale();
  let host: DockerHost | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: tearing down`);
    void (host?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    host = await DockerHost.start({ name, tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'info', ...tsnetEnv } } });
    await ensureBusyboxImage(host, IMAGE);
    await host.startTsnet();
    return await body(host);
  } catch (e) {
    if (host) process.stderr.write(`--- tsnet log (tail) ---\n${host.tsnetLog().slice(-3000)}\n`);
    throw e;
  } finally {
    await host?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** docker CLI on the host; throws with stderr on failure. */
export async function dk(h: DockerHost, ...args: string[]): Promise<string> {
  const r = await h.docker(args, { allowFail: true, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

export async function containerIp(h: DockerHost, container: string, network: string): Promise<string> {
  return dk(h, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);
}

/** Removes containers by name, in one `docker rm -f`, ignoring the ones that do not exist. */
export async function removeContainers(h: DockerHost, names: string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 100) await h.docker(['rm', '-f', ...names.slice(i, i + 100)], { allowFail: true, timeoutMs: 300_000 });
}

/** The machine's load when a bench starts (other work on a 2-core VM skews results: the table says so). */
export function loadAverage(): string {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

// ---- link attributes ------------------------------------------------------------------------------------------

const SHAPE_KEYS = ['mtu', 'qdisc', 'txqlen', 'num_tx_queues', 'num_rx_queues', 'gso_max_size', 'gso_max_segs', 'tso_max_size', 'tso_max_segs', 'gro_max_size', 'gso_ipv4_max_size', 'gro_ipv4_max_size'];

/** Per-object identities and timers, which always differ between two links. */
const VOLATILE = /timer|(_id|_port|_port_no|_path_cost|\.no|\.id|_addr|designated_\w+)$/;

/**
 * The attributes of a link that bear on throughput (MTU, queues, GSO/GRO/TSO limits, the kind's own data such as
 * the macvlan mode), read with `ip -d -j link show` in a namespace: two drivers' links should not differ here.
 */
export async function linkShape(ns: NsPrefix, ifname = 'eth0'): Promise<Record<string, string>> {
  const argv = [...ns, binaries().ip, '-d', '-j', 'link', 'show', ifname];
  const [l] = JSON.parse((await run(argv[0]!, argv.slice(1))).stdout) as Array<Record<string, any>>;
  const out: Record<string, string> = {};
  for (const k of SHAPE_KEYS) if (l?.[k] !== undefined) out[k] = String(l[k]);
  if (l?.linkinfo?.info_kind) out.kind = String(l.linkinfo.info_kind);
  for (const [k, v] of Object.entries((l?.linkinfo?.info_data ?? {}) as Record<string, unknown>)) out[`${out.kind}.${k}`] = JSON.stringify(v);
  for (const [k, v] of Object.entries((l?.linkinfo?.info_slave_data ?? {}) as Record<string, unknown>)) out[`port.${k}`] = JSON.stringify(v);
  for (const k of Object.keys(out)) if (VOLATILE.test(k)) delete out[k];
  return out;
}

/** "none", or the attributes that differ: `key a/b`. */
export function shapeDiff(a: Record<string, string>, b: Record<string, string>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const diff = keys.filter((k) => a[k] !== b[k]).map((k) => `${k} ${a[k] ?? '-'}/${b[k] ?? '-'}`);
  return diff.length ? diff.join(', ') : 'none';
}

// ---- tables over more than two sides ----------------------------------------------------------------------------

/**
 * A markdown table over any number of sides: median (min–max) of each, then the listed ratios of the medians
 * (`[a, b]` is a/b). A row's goal applies to the first ratio. A side without samples in a row shows "–".
 */
export function ratioTable(samples: Samples, rows: Row[], sides: string[], ratios: Array<[string, string]>): string {
  const goalCol = ratios.length ? `goal (${ratios[0]![0]}/${ratios[0]![1]})` : 'goal';
  const lines = [
    `| metric | n | ${sides.map((s) => `${s} median (min–max)`).join(' | ')} | ${ratios.map(([a, b]) => `${a}/${b}`).join(' | ')} | ${goalCol} | met |`,
    `|---|---|${sides.map(() => '---|').join('')}${ratios.map(() => '---|').join('')}---|---|`,
  ];
  for (const row of rows) {
    const d = row.digits ?? 2;
    const counts = sides.map((s) => samples.get(row.metric, s).length).filter((n) => n > 0);
    const cells = sides.map((s) => {
      const v = samples.get(row.metric, s);
      return v.length ? `${fmt(median(v), d)}${spread(v, d)}` : '–';
    });
    const ratioValues = ratios.map(([a, b]) => median(samples.get(row.metric, a)) / median(samples.get(row.metric, b)));
    const first = ratioValues[0] ?? NaN;
    const goal = row.goal?.min !== undefined ? `≥ ${row.goal.min.toFixed(2)}` : row.goal?.max !== undefined ? `≤ ${row.goal.max.toFixed(2)}` : '';
    const met = !row.goal || !Number.isFinite(first) ? '' : (row.goal.min === undefined || first >= row.goal.min) && (row.goal.max === undefined || first <= row.goal.max) ? 'yes' : '**no**';
    lines.push(`| ${row.metric} | ${counts.length ? Math.min(...counts) : 0} | ${cells.join(' | ')} | ${ratioValues.map((r) => (Number.isFinite(r) ? fmt(r, 3) : '–')).join(' | ')} | ${goal} | ${met} |`);
  }
  return lines.join('\n');
}

// ---- a Swarm of private Docker hosts with the tsnet managed plugin ---------------------------------------------

/** iperf3 and taskset on PATH, or a clear error (the lab below runs both). */
export async function requireBenchTools(): Promise<void> {
  for (const bin of ['taskset', 'iperf3']) {
    if ((await run('sh', ['-c', `command -v ${bin}`], { allowFail: true })).code !== 0) throw new Error(`${bin} is missing (make bench installs iperf3)`);
  }
}

/** Has tsnet (the managed plugin, logging through dockerd) logged its DiscoverNew Self with its underlay address? */
function pluginKnowsSelf(h: DockerHost): boolean {
  return pluginLines(h).some((l) => l.message === 'node discovered' && l.fields.self === true && l.fields.address === h.underlayIp);
}

export interface SwarmLab {
  underlay: Underlay;
  /** h1 (the manager), h2, h3 … (workers), on the underlay at `<net>.1`, `<net>.2`, … */
  hosts: DockerHost[];
}

/**
 * `count` private Docker hosts on one underlay bridge (test/lab), the busybox image on each, tsnet built as
 * the managed plugin (plugin/build.sh) and enabled on every host with TSNET_SCOPE=global, a Swarm with h1 as the
 * manager, every node reporting the plugin to the scheduler; runs `body` and always tears everything down (also
 * on SIGINT/SIGTERM). Nothing connects the underlay to the machine's own network.
 */
export async function withSwarmLab<T>(opts: { name: string; count: number; underlayNet: string; pluginEnv?: Record<string, string> }, body: (lab: SwarmLab) => Promise<T>): Promise<T> {
  const can = canRunDocker();
  if (!can.ok) throw new Error(`cannot run this bench here: ${can.reason}`);
  await requireBenchTools();
  await cleanupStale();
  let underlay: Underlay | undefined;
  const hosts: DockerHost[] = [];
  let stopping: Promise<void> | undefined;
  const teardown = () =>
    (stopping ??= (async () => {
      await stopAllHosts(); // also a host whose start was still under way
      await underlay?.destroy();
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: tearing down`);
    void teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    underlay = await Underlay.create(opts.name);
    const building = buildPluginDir();
    // Every host lands in `hosts` as soon as it is up, and all starts settle before a failure is thrown,
    // so the teardown stops every host that came up even if another failed.
    const started = await Promise.allSettled([
      building,
      ...Array.from({ length: opts.count }, async (_, i) => {
        const h = await DockerHost.start({ name: `h${i + 1}`, underlay: underlay!.attach(`${opts.underlayNet}.${i + 1}/24`) });
        hosts[i] = h;
        await ensureBusyboxImage(h, IMAGE);
      }),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const pluginDir = await building;
    await Promise.all(hosts.map((h) => installManagedPlugin(h, pluginDir, { TSNET_SCOPE: 'global', TSNET_LOG_LEVEL: 'info', ...opts.pluginEnv })));
    await formSwarm(hosts);
    for (const h of hosts) {
      await eventually(() => assert.ok(pluginKnowsSelf(h), 'no DiscoverNew Self in the plugin log yet'), { timeout: 30_000, interval: 250, what: `${h.name}: tsnet's DiscoverNew Self` });
    }
    // The scheduler places tasks only on nodes that report the plugin.
    const manager = hosts[0]!;
    await eventually(
      async () => {
        const ids = (await dk(manager, 'node', 'ls', '-q')).split('\n');
        const described = await Promise.all(ids.map((id) => dk(manager, 'node', 'inspect', '-f', '{{range .Description.Engine.Plugins}}{{.Type}}={{.Name}} {{end}}', id)));
        assert.ok(described.every((d) => /Network=tsnet(:latest)?\b/.test(d)), `plugins per node: ${described.join(' | ')}`);
      },
      { timeout: 30_000, interval: 250, what: 'every node reporting the tsnet network plugin' },
    );
    return await body({ underlay, hosts });
  } catch (e) {
    for (const h of hosts) {
      if (!h) continue;
      const lines = h.dockerdLog().split('\n').filter((l) => l.includes(' plugin=') || /level=(error|warning)/.test(l));
      process.stderr.write(`--- dockerd log of ${h.name}, plugin and warning lines (last 30) ---\n${lines.slice(-30).join('\n')}\n`);
    }
    throw e;
  } finally {
    await teardown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
