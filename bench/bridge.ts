/**
 * bench/bridge (issue 3): tsnet's bridge networks against Docker's built-in bridge driver, on one private
 * Docker host, in one run.
 *
 *  - TCP throughput between two containers on one network (iperf3, 1 and 4 streams; server pinned to CPU 0
 *    and client to CPU 1, each run in its container's network namespace with nsenter) and ICMP RTT
 *    (busybox ping, pinned), in rounds that alternate which driver goes first;
 *  - `docker run --rm --network N bb true`, alternating the drivers run by run;
 *  - `docker run -d` of N containers on one network, sequential and 8 in parallel (order tsnet, built-in,
 *    built-in, tsnet), and the plugin's resident memory after them.
 * Both networks use Docker's default IPAM with a fixed subnet, so only the driver differs.
 *
 *   make build && node dist/bench/bridge.js [rounds=3] [seconds=4] [runs=10] [creates=40] [create-rounds=1]
 *   (or BENCH_ROUNDS=... etc.; creates up to 1000: `node dist/bench/bridge.js creates=200`)
 */
import { spawn } from 'node:child_process';
import { type DockerHost } from '../test/lab';
import { unixRequest } from '../test/lab/unix-http';
import {
  commandLine,
  comparisonTable,
  containerIp,
  cpus,
  dk,
  IMAGE,
  intOption,
  iperf3,
  keyValueTable,
  linkShape,
  loadAverage,
  log,
  median,
  namedNs,
  pidNs,
  pingRtt,
  pool,
  removeContainers,
  rssKiB,
  runBench,
  Samples,
  shapeDiff,
  timed,
  withDockerHost,
} from './common';

const ROUNDS = intOption('rounds', 3, 1, 20);
const SECONDS = intOption('seconds', 4, 1, 30);
const RUNS = intOption('runs', 10, 1, 200);
const CREATES = intOption('creates', 40, 1, 1000);
const CREATE_ROUNDS = intOption('create-rounds', 1, 1, 5);
const PARALLEL = 8;
/** syscalls=1: `strace -c -f` on the plugin during the `docker run --rm` phase (slows tsnet: not for the ratio). */
const SYSCALLS = intOption('syscalls', 0, 0, 1) === 1;

interface Side {
  side: 'tsnet' | 'built-in';
  net: string;
  subnet: string;
  driverArgs: string[];
}

const SIDES: Side[] = [
  { side: 'tsnet', net: 'bts', subnet: '10.201.0.0/22', driverArgs: ['-d', 'tsnet'] },
  { side: 'built-in', net: 'bbi', subnet: '10.202.0.0/22', driverArgs: ['-d', 'bridge'] },
];

/** Both sides, the first one alternating with `i` (interleaving without a fixed order bias). */
function alternate(i: number): Side[] {
  return i % 2 === 0 ? SIDES : [...SIDES].reverse();
}

function tsnetRss(h: DockerHost): number {
  const pid = h.tsnetPid();
  if (pid === undefined) throw new Error('tsnet is not running');
  return rssKiB(pid);
}

/**
 * The client container's eth0, its host end and the network's bridge, per driver (differences here would
 * explain a throughput gap before anyone blames the plugin).
 */
async function linkShapes(h: DockerHost, s: Side, clientPid: number): Promise<Record<string, Record<string, string>>> {
  const netId = await dk(h, 'network', 'inspect', '-f', '{{.Id}}', s.net);
  const bridge = s.side === 'tsnet' ? `ts-${netId.slice(0, 10)}` : `br-${netId.slice(0, 12)}`;
  const eth0 = JSON.parse((await h.inContainerNs(`${s.net}-b`, ['ip', '-j', 'link', 'show', 'eth0'])).stdout)[0] as { link_index?: number };
  const hostLinks = JSON.parse((await h.exec(['ip', '-j', 'link', 'show'])).stdout) as { ifindex: number; ifname: string }[];
  const hostEnd = hostLinks.find((l) => l.ifindex === eth0.link_index)?.ifname;
  if (!hostEnd) throw new Error(`${s.side}: no host end of the client's veth (peer index ${eth0.link_index})`);
  return {
    'container eth0': await linkShape(pidNs(clientPid)),
    'host end of the veth': await linkShape(namedNs(h.netns), hostEnd),
    bridge: await linkShape(namedNs(h.netns), bridge),
  };
}

async function dataPath(h: DockerHost, samples: Samples, linkDiffs: Array<[string, string]>): Promise<void> {
  const peers = new Map<string, { serverPid: number; clientPid: number; serverIp: string }>();
  for (const s of SIDES) {
    for (const c of ['a', 'b']) await dk(h, 'run', '-d', '--name', `${s.net}-${c}`, '--network', s.net, IMAGE, 'sleep', '3600');
    peers.set(s.side, {
      serverPid: await h.containerPid(`${s.net}-a`),
      clientPid: await h.containerPid(`${s.net}-b`),
      serverIp: await containerIp(h, `${s.net}-a`, s.net),
    });
  }
  const shapes = await Promise.all(SIDES.map((s) => linkShapes(h, s, peers.get(s.side)!.clientPid)));
  for (const what of Object.keys(shapes[0]!)) linkDiffs.push([what, shapeDiff(shapes[0]![what]!, shapes[1]![what]!)]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of alternate(round)) {
      const p = peers.get(s.side)!;
      const pair = { serverNs: pidNs(p.serverPid), clientNs: pidNs(p.clientPid), target: p.serverIp, seconds: SECONDS };
      const one = await iperf3({ ...pair, streams: 1 });
      const four = await iperf3({ ...pair, streams: 4 });
      const rtt = await pingRtt(pidNs(p.clientPid), p.serverIp, 20, 0.2);
      samples.add('TCP 1 stream, Gbit/s', s.side, one);
      samples.add('TCP 4 streams, Gbit/s', s.side, four);
      samples.add('ping RTT, ms', s.side, rtt);
      log(`round ${round + 1}/${ROUNDS} ${s.side}: ${one.toFixed(2)} / ${four.toFixed(2)} Gbit/s, RTT ${rtt.toFixed(3)} ms`);
    }
  }
  await removeContainers(h, SIDES.flatMap((s) => [`${s.net}-a`, `${s.net}-b`]));
}

/** tsnet_call_duration_seconds sum and count per call, read from the plugin's /metrics. */
async function callTimes(h: DockerHost): Promise<Map<string, { count: number; sum: number }>> {
  const r = await unixRequest(h.pluginSocketPath(), 'GET', '/metrics', undefined, 10_000);
  const out = new Map<string, { count: number; sum: number }>();
  for (const m of r.body.matchAll(/^tsnet_call_duration_seconds_(sum|count)\{call="([^"]+)"\} ([\d.e+-]+)$/gm)) {
    const e = out.get(m[2]!) ?? { count: 0, sum: 0 };
    e[m[1] === 'sum' ? 'sum' : 'count'] = Number(m[3]);
    out.set(m[2]!, e);
  }
  return out;
}

/** What the plugin answered during the tsnet `docker run --rm`s: calls per container and their mean time. */
function perContainerCalls(before: Map<string, { count: number; sum: number }>, after: Map<string, { count: number; sum: number }>, containers: number): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  let total = 0;
  for (const [call, a] of [...after].sort()) {
    const b = before.get(call) ?? { count: 0, sum: 0 };
    const n = a.count - b.count;
    if (n <= 0 || !call.startsWith('/NetworkDriver.')) continue; // not the bench's own /metrics reads
    const ms = ((a.sum - b.sum) * 1000);
    total += ms;
    rows.push([call, `${(n / containers).toFixed(1)} per container, mean ${(ms / n).toFixed(2)} ms`]);
  }
  rows.push(['all calls, per container', `${(total / containers).toFixed(2)} ms of answering (the rest of a run is dockerd's, containerd's and runc's)`]);
  return rows;
}

async function runLatency(h: DockerHost, samples: Samples, calls: Array<[string, string]>): Promise<void> {
  for (const s of SIDES) await dk(h, 'run', '--rm', '--network', s.net, IMAGE, 'true'); // warm-up
  const before = await callTimes(h);
  let strace: ReturnType<typeof spawn> | undefined;
  let straceOut = '';
  if (SYSCALLS) {
    strace = spawn('strace', ['-c', '-f', '-p', String(h.tsnetPid())], { stdio: ['ignore', 'ignore', 'pipe'] });
    strace.stderr!.on('data', (b: Buffer) => (straceOut += b.toString()));
    await new Promise((r) => setTimeout(r, 500));
  }
  for (let i = 0; i < RUNS; i++) {
    for (const s of alternate(i)) {
      const { ms } = await timed(() => dk(h, 'run', '--rm', '--network', s.net, IMAGE, 'true'));
      samples.add('docker run --rm true, ms', s.side, ms);
    }
  }
  calls.push(...perContainerCalls(before, await callTimes(h), RUNS));
  if (strace) {
    const exited = new Promise((r) => strace!.once('exit', r));
    strace.kill('SIGINT');
    await exited;
    log(`strace -c -f of tsnet over ${RUNS} tsnet runs (and ${RUNS} built-in ones):\n${straceOut}`);
  }
  log(`docker run --rm: tsnet ${median(samples.get('docker run --rm true, ms', 'tsnet')).toFixed(0)} ms, ` +
    `built-in ${median(samples.get('docker run --rm true, ms', 'built-in')).toFixed(0)} ms`);
}

async function creates(h: DockerHost, samples: Samples, memory: Array<[string, string]>): Promise<void> {
  memory.push(['tsnet RSS before the create phases', `${(tsnetRss(h) / 1024).toFixed(1)} MiB`]);
  const seqMetric = `${CREATES} x docker run -d sequential, s`;
  const parMetric = `${CREATES} x docker run -d, ${PARALLEL} in parallel, s`;
  const perMetric = 'docker run -d (sequential), per container ms';
  for (let round = 0; round < CREATE_ROUNDS; round++) {
    const order: Array<[Side, number]> = [
      [SIDES[0]!, 1],
      [SIDES[1]!, 1],
      [SIDES[1]!, PARALLEL],
      [SIDES[0]!, PARALLEL],
    ];
    for (const [s, parallel] of round % 2 ? [...order].reverse() : order) {
      const names = Array.from({ length: CREATES }, (_, i) => `${s.net}-n${i}`);
      const { ms } = await timed(() =>
        pool(CREATES, parallel, async (i) => {
          const one = await timed(() => dk(h, 'run', '-d', '--name', names[i]!, '--network', s.net, IMAGE, 'sleep', '3600'));
          if (parallel === 1) samples.add(perMetric, s.side, one.ms);
        }),
      );
      samples.add(parallel === 1 ? seqMetric : parMetric, s.side, ms / 1000);
      if (s.side === 'tsnet') {
        memory.push([`tsnet RSS with ${CREATES} containers (${parallel === 1 ? 'sequential' : `${PARALLEL} parallel`}, round ${round + 1})`, `${(tsnetRss(h) / 1024).toFixed(1)} MiB`]);
      }
      const rm = await timed(() => removeContainers(h, names));
      samples.add(`docker rm -f of ${CREATES}, s`, s.side, rm.ms / 1000);
      log(`${s.side} ${parallel === 1 ? 'sequential' : 'parallel'}: ${(ms / 1000).toFixed(1)} s for ${CREATES}, rm ${(rm.ms / 1000).toFixed(1)} s`);
    }
  }
  memory.push(['tsnet RSS after removing them', `${(tsnetRss(h) / 1024).toFixed(1)} MiB`]);
}

async function main(): Promise<void> {
  const load = loadAverage();
  const samples = new Samples();
  const memory: Array<[string, string]> = [];
  const linkDiffs: Array<[string, string]> = [];
  const calls: Array<[string, string]> = [];
  let engine = 'unknown';
  await withDockerHost('bbench', {}, async (h) => {
    engine = `Docker ${await dk(h, 'version', '-f', '{{.Server.Version}}')}`;
    for (const s of SIDES) await dk(h, 'network', 'create', ...s.driverArgs, '--subnet', s.subnet, s.net);
    memory.push(['tsnet RSS at start (networks created)', `${(tsnetRss(h) / 1024).toFixed(1)} MiB`]);
    log(`data path: ${ROUNDS} rounds of iperf3 -t ${SECONDS} (1 and 4 streams) and 20 pings per driver`);
    await dataPath(h, samples, linkDiffs);
    log(`docker run --rm: ${RUNS} per driver, interleaved`);
    await runLatency(h, samples, calls);
    log(`creates: ${CREATES} containers per phase, ${CREATE_ROUNDS} round(s)`);
    await creates(h, samples, memory);
    for (const s of SIDES) await dk(h, 'network', 'rm', s.net);
  });

  const { server, client } = cpus();
  console.log(`\n### bench/bridge: tsnet bridge vs Docker's built-in bridge (one private dockerd, one run)\n`);
  console.log(comparisonTable(samples, [
    { metric: 'TCP 1 stream, Gbit/s', goal: { min: 0.97 } },
    { metric: 'TCP 4 streams, Gbit/s', goal: { min: 0.97 } },
    // RTT: 0.97 of the built-in's performance is an RTT at most 1/0.97 of its RTT.
    { metric: 'ping RTT, ms', goal: { max: 1 / 0.97 }, digits: 3 },
    // Issue 15: no slower than Docker's own bridge.
    { metric: 'docker run --rm true, ms', goal: { max: 1.0 }, digits: 0 },
    { metric: `${CREATES} x docker run -d sequential, s`, goal: { max: 1.15 } },
    { metric: `${CREATES} x docker run -d, ${PARALLEL} in parallel, s`, goal: { max: 1.15 } },
    { metric: 'docker run -d (sequential), per container ms', digits: 0 },
    { metric: `docker rm -f of ${CREATES}, s` },
  ]));
  console.log('');
  console.log(keyValueTable(['plugin call during `docker run --rm` (tsnet_call_duration_seconds)', 'per container'], calls));
  console.log('');
  console.log(keyValueTable(['plugin memory', 'VmRSS'], memory));
  console.log('');
  console.log(keyValueTable(['link (ip -d link)', 'attributes that differ, tsnet/built-in'], linkDiffs));
  console.log(`\nrounds=${ROUNDS} (data path), iperf3 -t ${SECONDS}, runs=${RUNS}, creates=${CREATES} x ${CREATE_ROUNDS} round(s); ` +
    `iperf3 server on CPU ${server}, client and ping on CPU ${client}; ratios are tsnet/built-in of the medians ` +
    `(RTT goal: ≤ 1/0.97); engine ${engine}; load average at start ${load}.`);
  console.log(`command: \`${commandLine()}\``);
}

runBench(main);
