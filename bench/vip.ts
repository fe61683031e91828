/**
 * bench/vip (issue 17): a Swarm service reached through its VIP (tsnet's NAT balancing) against the same
 * service reached by its tasks' own addresses, on a 3-node Swarm of private Docker hosts (the managed plugin,
 * TSNET_SCOPE=global; nothing leaves the lab's underlay). A 3-replica busybox httpd service, one task per node,
 * and a client container on h1. Per rep, interleaved (the order alternating rep by rep), `requests` HTTP/1.0
 * requests one after the other, each on a new TCP connection, from a Node client run in the client's network
 * namespace (pinned to the client CPU):
 *   vip     to the VIP (spread by the VIP rules over the three tasks: 1/3 on h1, 2/3 across the VXLAN);
 *   direct  to the three task addresses in turn (the same mix, no VIP rules).
 * Reported: request rate, p50 and p99 latency (medians over the reps); ratio vip/direct (goal p50 ≤ 1.10).
 * Docker's own overlay balances VIPs with IPVS, which this kernel lacks, so there is no built-in VIP to set
 * beside it: the task addresses are the baseline.
 *
 *   make build && node dist/bench/vip.js [reps=5] [requests=500]
 */
import { eventually } from '../test/lab';
import { commandLine, cpus, dk, IMAGE, intOption, keyValueTable, loadAverage, log, median, pinnedArgv, pidNs, ratioTable, runBench, Samples, withSwarmLab, type Row } from './common';
import { run } from '../test/lab/proc';

const REPS = intOption('reps', 5, 1, 20);
const REQUESTS = intOption('requests', 500, 10, 10_000);
const NET = 'vipb';
const SVC = 'web';

const RATE = 'requests/s (new connection each)';
const P50 = 'latency p50, ms';
const P99 = 'latency p99, ms';

/** `n` sequential HTTP/1.0 requests to the targets in turn; prints {ms: [...], failures}. */
const CLIENT = `
const net = require('net'); const targets = process.argv[1].split(','); const n = Number(process.argv[2]);
const one = (host) => new Promise((res) => { const t0 = process.hrtime.bigint(); let got = '';
  const s = net.connect(80, host); s.setTimeout(2000, () => s.destroy());
  s.on('connect', () => s.write('GET / HTTP/1.0\\r\\n\\r\\n')); s.on('data', (c) => (got += c));
  s.on('error', () => {}); s.on('close', () => res(got.includes('200') ? Number(process.hrtime.bigint() - t0) / 1e6 : -1)); });
(async () => { const ms = []; let failures = 0; const t0 = Date.now();
  for (let i = 0; i < n; i++) { const v = await one(targets[i % targets.length]); if (v < 0) failures++; else ms.push(v); }
  console.log(JSON.stringify({ ms, failures, wallMs: Date.now() - t0 })); })();`;

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  const samples = new Samples();
  const loads: Array<[string, string]> = [['start', loadAverage()]];
  let failures = 0;
  await withSwarmLab({ name: 'bvip', count: 3, underlayNet: '10.222.0' }, async ({ hosts }) => {
    const [h1] = [hosts[0]!];
    await dk(h1, 'network', 'create', '-d', 'tsnet:latest', '--ipam-driver', 'tsnet:latest', '--attachable', '-o', 'type=vxlan', '--subnet', '10.91.0.0/24', NET);
    await dk(h1, 'service', 'create', '--detach', '--name', SVC, '--network', NET, '--replicas', '3', '--replicas-max-per-node', '1', '--no-resolve-image',
      IMAGE, 'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www');
    await dk(h1, 'run', '-d', '--name', 'client', '--network', NET, IMAGE, 'sleep', '3600');
    const vip = (await dk(h1, 'service', 'inspect', '-f', '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}', SVC)).split(' ')[0]!.split('/')[0]!;
    const clientNs = pidNs(await h1.containerPid('client'));
    const tasks = await eventually(async () => {
      const view = JSON.parse(await dk(h1, 'network', 'inspect', '--verbose', NET)) as Array<{ Services?: Record<string, { Tasks?: Array<{ EndpointIP: string }> }> }>;
      const ips = (view[0]?.Services?.[SVC]?.Tasks ?? []).map((t) => t.EndpointIP);
      if (ips.length !== 3) throw new Error(`${ips.length} tasks listed`);
      return ips;
    }, { timeout: 90_000, interval: 500, what: '3 tasks in the verbose network view' });
    const measure = async (targets: string[], n: number) => {
      const argv = pinnedArgv(cpus().client, clientNs, [process.execPath, '-e', CLIENT, targets.join(','), String(n)]);
      const r = await run(argv[0]!, argv.slice(1), { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`client failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as { ms: number[]; failures: number; wallMs: number };
    };
    await eventually(async () => {
      const r = await measure([vip], 3);
      if (r.failures) throw new Error('the VIP does not answer yet');
    }, { timeout: 60_000, interval: 500, what: 'the VIP answering' });
    await measure([vip], 50); // warm-up (neighbours, FDB)
    await measure(tasks, 50);
    loads.push(['lab up, service running', loadAverage()]);
    for (let rep = 0; rep < REPS; rep++) {
      const cases: Array<[string, string[]]> = [['vip', [vip]], ['direct', tasks]];
      if (rep % 2) cases.reverse();
      for (const [side, targets] of cases) {
        const r = await measure(targets, REQUESTS);
        failures += r.failures;
        samples.add(RATE, side, (r.ms.length / r.wallMs) * 1000);
        samples.add(P50, side, percentile(r.ms, 50));
        samples.add(P99, side, percentile(r.ms, 99));
        log(`rep ${rep + 1}/${REPS} ${side}: p50 ${percentile(r.ms, 50).toFixed(3)} ms, ${r.failures} failures`);
      }
    }
    loads.push(['end', loadAverage()]);
  });
  const rows: Row[] = [{ metric: RATE, digits: 0, goal: { min: 0.9 } }, { metric: P50, digits: 3, goal: { max: 1.1 } }, { metric: P99, digits: 3 }];
  console.log(`\n### bench/vip: a Swarm service through its VIP vs by task address (3-node Swarm of private dockerds, one run)\n`);
  console.log(ratioTable(samples, rows, ['vip', 'direct'], [['vip', 'direct']]));
  console.log('');
  console.log(keyValueTable(['load average (1, 5, 15 min)', 'at'], loads.map(([k, v]) => [v, k])));
  console.log(`\nreps=${REPS}, ${REQUESTS} sequential requests per case and rep (new TCP connection each), client on CPU ${cpus().client}, ` +
    `failures ${failures}; p50 of vip/direct: ${(median(samples.get(P50, 'vip')) / median(samples.get(P50, 'direct'))).toFixed(3)}`);
  console.log(`command: \`${commandLine()}\``);
}

runBench(main);
