/**
 * bench/reconcile (issue 7): how long tsnet takes to come up with 1,000 stored endpoints (goal: < 1 s).
 *
 * Runs in a private network namespace (it re-executes itself under `unshare --net` unless already in one;
 * everything it makes in the kernel dies with the namespace) and a temporary directory (removed at the end).
 * It builds the state through the real daemon (`node dist/src/main.js` with TSNET_SOCKET/TSNET_STATE_DIR in
 * the temp dir): NetworkDriver.CreateNetwork of one bridge network, then CreateEndpoint + Join for each
 * endpoint (valid 64-hex IDs, addresses inside the subnet); SIGTERM. Then, alternating, round by round:
 *   (a) restart with every kernel object still there (reconcile verifies the bridge and each veth),
 *   (b) delete the bridge and every veth first, then restart: reconcile recreates the bridge only. A joined
 *       endpoint whose veth is gone died with its container (as after a reboot), so it is left to the leak
 *       collector; one only created (joined=0) gets its pair from its Join, which the bench then calls for
 *       every endpoint (4 in flight) and times: that is where the veth creation went,
 * and for reference (0) a start of another tsnet instance with an empty state directory in the same namespace
 * (the cost of starting node and the daemon, and of listing the other instance's links, which it leaves alone).
 * Each start is timed from spawn to the "reconciled kernel state with the store" log line (its own `ms`
 * field is reported too, and its `cpuMs`: on a busy host the wall time mostly measures the wait for a CPU)
 * and to the socket answering Plugin.Activate. After each start the bench checks that the kernel holds
 * the bridge and both ends of every veth pair ((b): the bridge only; after the Joins, every pair).
 *
 * type=vxlan makes the network a VXLAN one (VNI 42 on an underlay veth made in the namespace): its
 * device is one more network link, deleted in (b) with the bridge.
 *
 *   make build && node dist/bench/reconcile.js [endpoints=1000] [rounds=3] [joined=1] [type=bridge|vxlan]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { run, unixRequest } from '../test/lab';
import { commandLine, intOption, loadAverage, log, median, nowMs, pool, sleep, TSNET_ENTRY } from './common';

const ENDPOINTS = intOption('endpoints', 1000, 1, 1000);
const ROUNDS = intOption('rounds', 3, 1, 20);
/** joined=1 (default): endpoints went through Join, as a running container's do; joined=0: created only. */
const JOINED = intOption('joined', 1, 0, 1) === 1;
const IN_NETNS = 'TSNET_BENCH_RECONCILE_NETNS';
const TYPE = process.argv.find((a) => a.startsWith('type='))?.slice(5) ?? 'bridge';
if (TYPE !== 'bridge' && TYPE !== 'vxlan') throw new Error(`type=${TYPE}: bridge or vxlan`);
/** The network's own links: the bridge, and for vxlan its VXLAN device. */
const NETWORK_LINKS = TYPE === 'vxlan' ? 2 : 1;
const GENERIC: Record<string, string> = TYPE === 'vxlan' ? { type: 'vxlan', vni: '42', underlay: 'ul0' } : {};

const SUBNET_BASE = [10, 210];
const POOL = '10.210.0.0/20'; // 4094 addresses, more than the 1,000 endpoints allowed here
const NETWORK_ID = createHash('sha256').update('tsnet-bench-reconcile-network').digest('hex');

function endpointId(i: number): string {
  return createHash('sha256').update(`tsnet-bench-reconcile-endpoint-${i}`).digest('hex');
}

/** 10.210.0.2 upwards (10.210.0.1 is the gateway). */
function endpointAddress(i: number): string {
  const n = i + 2;
  return `${SUBNET_BASE[0]}.${SUBNET_BASE[1]}.${n >> 8}.${n & 255}/20`;
}

interface Start {
  child: ChildProcess;
  exited: Promise<void>;
  /** ms from spawn to the reconcile log line, and the line's own `ms` */
  logLineMs: number;
  reconcileMs: number;
  /** the line's `cpuMs`: the daemon's CPU time during reconcile (NaN from a tsnet that does not log it) */
  reconcileCpuMs: number;
  /** ms from spawn to a 200 from Plugin.Activate */
  answerMs: number;
}

class Daemon {
  /** Distinct instances: an empty daemon of the same instance would prune the other's links as orphans. */
  constructor(readonly dir: string, readonly instance: string) {}

  get socket(): string {
    return path.join(this.dir, 'tsnet.sock');
  }

  /** Spawns the daemon and waits (≤ 60 s) for both the reconcile log line and the socket's answer. */
  async start(): Promise<Start> {
    const t0 = nowMs();
    const child = spawn(process.execPath, [TSNET_ENTRY], {
      env: {
        ...process.env,
        TSNET_SOCKET: this.socket,
        TSNET_STATE_DIR: path.join(this.dir, 'state'),
        TSNET_LOG_LEVEL: 'info',
        TSNET_INSTANCE: this.instance,
        TSNET_GC_INTERVAL_MS: '0',
        TSNET_DOCKER_SOCKET: path.join(this.dir, 'no-docker.sock'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    let logLine: { at: number; ms: number; cpuMs: number } | undefined;
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (output.length < 20_000) output += line + '\n';
      if (logLine) return;
      try {
        const j = JSON.parse(line);
        if (j.message === 'reconciled kernel state with the store') logLine = { at: nowMs() - t0, ms: Number(j.ms), cpuMs: Number(j.cpuMs) };
      } catch {
        /* not JSON */
      }
    });
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));

    let answerMs: number | undefined;
    const deadline = t0 + 60_000;
    while (answerMs === undefined) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`tsnet exited during start:\n${output.slice(-3000)}`);
      if (nowMs() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`tsnet did not answer within 60 s:\n${output.slice(-3000)}`);
      }
      try {
        if ((await unixRequest(this.socket, 'POST', '/Plugin.Activate', '', 1000)).status === 200) answerMs = nowMs() - t0;
      } catch {
        await sleep(2);
      }
    }
    for (let i = 0; !logLine && i < 500; i++) await sleep(2); // the line is written before listening; let it arrive
    if (!logLine) throw new Error(`no "reconciled kernel state with the store" line in tsnet's output:\n${output.slice(-3000)}`);
    return { child, exited, logLineMs: logLine.at, reconcileMs: logLine.ms, reconcileCpuMs: logLine.cpuMs, answerMs };
  }

  async call(endpoint: string, body: unknown): Promise<unknown> {
    const r = await unixRequest(this.socket, 'POST', `/${endpoint}`, body, 30_000);
    if (r.status !== 200) throw new Error(`${endpoint}: HTTP ${r.status} ${r.body}`);
    return r.json;
  }
}

async function stop(s: Start): Promise<void> {
  s.child.kill('SIGTERM');
  await Promise.race([s.exited, sleep(15_000)]);
  if (s.child.exitCode === null && s.child.signalCode === null) {
    s.child.kill('SIGKILL');
    await Promise.race([s.exited, sleep(5000)]);
  }
}

async function tsLinks(): Promise<string[]> {
  const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith('ts'));
}

/** The network's links and both ends of every endpoint's veth pair (bridgeOnly: the network's links). */
async function checkKernel(what: string, bridgeOnly = false): Promise<void> {
  const n = (await tsLinks()).length;
  const want = bridgeOnly ? NETWORK_LINKS : NETWORK_LINKS + 2 * ENDPOINTS;
  if (n !== want) throw new Error(`${what}: expected ${want} tsnet links, found ${n}`);
}

/** Deletes the bridge and every veth pair (one end takes the other with it), in one `ip -batch`. */
async function deleteKernelObjects(): Promise<void> {
  const links = await tsLinks();
  const batch = links.filter((l) => l.startsWith('ts-') || l.startsWith('tsv') || l.startsWith('tsx')).map((l) => `link del ${l}`).join('\n') + '\n';
  await run('ip', ['-force', '-batch', '-'], { input: batch, allowFail: true, timeoutMs: 120_000 });
  const left = await tsLinks();
  if (left.length) throw new Error(`links left after deleting: ${left.slice(0, 5).join(' ')}…`);
}

async function build(d: Daemon): Promise<number> {
  const s = await d.start();
  const t0 = nowMs();
  try {
    await d.call('NetworkDriver.CreateNetwork', {
      NetworkID: NETWORK_ID,
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': GENERIC },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: POOL, Gateway: '10.210.0.1/20', AuxAddresses: {} }],
      IPv6Data: [],
    });
    await pool(ENDPOINTS, 4, async (i) => {
      const id = endpointId(i);
      await d.call('NetworkDriver.CreateEndpoint', { NetworkID: NETWORK_ID, EndpointID: id, Interface: { Address: endpointAddress(i), AddressIPv6: '', MacAddress: '' }, Options: {} });
      if (JOINED) await d.call('NetworkDriver.Join', { NetworkID: NETWORK_ID, EndpointID: id, SandboxKey: `/var/run/docker/netns/bench${i}`, Options: {} });
      if ((i + 1) % 250 === 0) log(`${i + 1}/${ENDPOINTS} endpoints`);
    });
  } finally {
    await stop(s);
  }
  return nowMs() - t0;
}

interface Row {
  logLine: number[];
  reconcile: number[];
  reconcileCpu: number[];
  answer: number[];
}

async function measure(d: Daemon, row: Row, check: boolean, what: string, bridgeOnly = false): Promise<void> {
  const s = await d.start();
  try {
    row.logLine.push(s.logLineMs);
    row.reconcile.push(s.reconcileMs);
    row.reconcileCpu.push(s.reconcileCpuMs);
    row.answer.push(s.answerMs);
    if (check) await checkKernel(what, bridgeOnly);
    log(`${what}: reconcile ${s.reconcileMs} ms (CPU ${s.reconcileCpuMs} ms), spawn → log line ${s.logLineMs.toFixed(0)} ms, spawn → answer ${s.answerMs.toFixed(0)} ms`);
  } finally {
    await stop(s);
  }
}

interface JoinTimes {
  totalMs: number;
  medianMs: number;
  cpuMs: number;
}

/** CPU time (user + system) of a process so far, in ms (clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Starts the daemon and Joins every endpoint (4 in flight), each of which recreates its veth pair. */
async function joinAll(d: Daemon, what: string): Promise<JoinTimes> {
  const s = await d.start();
  try {
    const cpu0 = processCpuMs(s.child.pid!);
    const each: number[] = [];
    const t0 = nowMs();
    await pool(ENDPOINTS, 4, async (i) => {
      const t = nowMs();
      await d.call('NetworkDriver.Join', { NetworkID: NETWORK_ID, EndpointID: endpointId(i), SandboxKey: `/var/run/docker/netns/bench${i}`, Options: {} });
      each.push(nowMs() - t);
    });
    const times = { totalMs: nowMs() - t0, medianMs: median(each), cpuMs: processCpuMs(s.child.pid!) - cpu0 };
    await checkKernel(`${what} after the Joins`);
    log(`${what}: ${ENDPOINTS} Joins recreated their pairs in ${times.totalMs.toFixed(0)} ms (median ${times.medianMs.toFixed(1)} ms, daemon CPU ${times.cpuMs} ms)`);
    return times;
  } finally {
    await stop(s);
  }
}

async function inNetns(): Promise<void> {
  const load = loadAverage();
  await run('ip', ['link', 'set', 'lo', 'up']);
  if (TYPE === 'vxlan') {
    // An underlay for the VXLAN device (the namespace has no default route to take it from).
    await run('ip', ['link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1']);
    await run('ip', ['addr', 'add', '10.250.0.1/24', 'dev', 'ul0']);
    await run('ip', ['link', 'set', 'ul0', 'up']);
    await run('ip', ['link', 'set', 'ul1', 'up']);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-reconcile-'));
  try {
    const d = new Daemon(path.join(dir, 'full'), 'tsbench');
    const empty = new Daemon(path.join(dir, 'empty'), 'tsbench-empty');
    fs.mkdirSync(d.dir);
    fs.mkdirSync(empty.dir);
    log(`building 1 network with ${ENDPOINTS} endpoints through the daemon`);
    const buildMs = await build(d);
    await checkKernel('after building');
    const rows: Record<'empty' | 'verify' | 'recreate', Row> = {
      empty: { logLine: [], reconcile: [], reconcileCpu: [], answer: [] },
      verify: { logLine: [], reconcile: [], reconcileCpu: [], answer: [] },
      recreate: { logLine: [], reconcile: [], reconcileCpu: [], answer: [] },
    };
    const joins: JoinTimes[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['verify', 'recreate', 'empty'] as const) : (['empty', 'recreate', 'verify'] as const);
      for (const c of order) {
        if (c === 'empty') await measure(empty, rows.empty, false, `round ${r + 1} (0) empty state`);
        if (c === 'verify') await measure(d, rows.verify, true, `round ${r + 1} (a) objects present`);
        if (c === 'recreate') {
          await deleteKernelObjects();
          await measure(d, rows.recreate, true, `round ${r + 1} (b) objects deleted`, true);
          if (!JOINED) joins.push(await joinAll(d, `round ${r + 1} (b)`));
          // Start the next case from a freshly built state (joined endpoints' veths are not brought back).
          await deleteKernelObjects();
          fs.rmSync(d.dir, { recursive: true, force: true });
          fs.mkdirSync(d.dir);
          await build(d);
        }
      }
    }
    const cell = (v: number[]) => `${median(v).toFixed(0)} (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`;
    const met = (v: number[]) => (median(v) < 1000 ? 'yes' : '**no**');
    console.log(`\n### bench/reconcile: tsnet start-up with 1 network and ${ENDPOINTS} stored endpoints (private netns)\n`);
    console.log('| start | n | reconcile, logged ms | its CPU, ms | spawn → reconcile log line, ms | spawn → socket answers, ms | reconcile < 1 s |');
    console.log('|---|---|---|---|---|---|---|');
    const label = { empty: `(0) empty state dir, another instance's ${1 + 2 * ENDPOINTS} links in the netns`, verify: `(a) ${ENDPOINTS} endpoints, kernel objects present (verify)`, recreate: JOINED ? `(b) ${ENDPOINTS} joined endpoints, bridge and veths deleted (reboot: bridge recreated, dead endpoints left to the collector)` : `(b) ${ENDPOINTS} created endpoints, bridge and veths deleted (bridge recreated, veths left to each Join)` };
    for (const c of ['verify', 'recreate', 'empty'] as const) {
      const row = rows[c];
      console.log(`| ${label[c]} | ${row.answer.length} | ${cell(row.reconcile)} | ${cell(row.reconcileCpu)} | ${cell(row.logLine)} | ${cell(row.answer)} | ${c === 'empty' ? '' : met(row.reconcile)} |`);
    }
    if (joins.length > 0) {
      console.log(
        `\nafter (b): ${ENDPOINTS} x Join, each recreating its endpoint's veth pair (4 in flight): ${cell(joins.map((j) => j.totalMs))} ms in all, ` +
          `${cell(joins.map((j) => j.medianMs))} ms per Join (median), the daemon's CPU ${cell(joins.map((j) => j.cpuMs))} ms in all.`,
      );
    }
    console.log(`\nmedian (min–max) over ${ROUNDS} rounds, cases interleaved; building the state (CreateNetwork + ${ENDPOINTS} x CreateEndpoint/Join, 4 in flight) took ` +
      `${(buildMs / 1000).toFixed(1)} s; load average at start ${load}.`);
    console.log(`command: \`${commandLine()}\``);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  if (process.env[IN_NETNS] === '1') {
    inNetns().catch((err) => {
      console.error(err);
      process.exit(1);
    });
    return;
  }
  // Re-execute in a private network namespace: whatever the daemon creates dies with it.
  const r = spawnSync('unshare', ['--net', '--', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [IN_NETNS]: '1' },
    timeout: 30 * 60_000,
  });
  if (r.error) {
    console.error(`cannot run under unshare --net: ${r.error.message}`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}

main();
