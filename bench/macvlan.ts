/**
 * bench/macvlan (issue 4): tsnet's macvlan networks (-d tsnet -o type=macvlan) against Docker's built-in
 * macvlan driver on the same parent, on one private Docker host, in one run.
 *
 * The "LAN": a veth pair; the near end (mvp0, up, no address) is the parent in the Docker host's namespace,
 * the far end (lan0) sits in a namespace this bench creates (tsnbm-<random>) and plays an existing host on
 * the segment with one address in each network's subnet (192.168.77.2 for tsnet's, 192.168.78.2 for the
 * built-in's; both kept out of the pools with --aux-address). Both networks use bridge mode and Docker's
 * default IPAM. When Docker and tsnet refuse to share the parent, each round creates and removes the
 * networks in turn instead (the table says which was used).
 *
 * Per round and driver (the first driver alternating): TCP throughput container->container and
 * container->LAN host (iperf3, 1 and 4 streams; server pinned to CPU 0, client to CPU 1), ICMP RTT for both
 * paths (busybox ping, pinned), and `docker run --rm --network N bb true`.
 *
 *   make build && node dist/bench/macvlan.js [rounds=3] [seconds=4] [runs=4]   (runs: docker runs per round)
 */
import { randomBytes } from 'node:crypto';
import { type DockerHost, run } from '../test/lab';
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
  namedNs,
  pidNs,
  pingRtt,
  removeContainers,
  runBench,
  Samples,
  shapeDiff,
  timed,
  withDockerHost,
} from './common';

const ROUNDS = intOption('rounds', 3, 1, 20);
const SECONDS = intOption('seconds', 4, 1, 30);
const RUNS = intOption('runs', 4, 0, 100);

const PARENT = 'mvp0';
const LAN_IF = 'lan0';

interface Side {
  side: 'tsnet' | 'built-in';
  net: string;
  subnet: string;
  gateway: string;
  lanHost: string;
  driverArgs: string[];
}

const SIDES: Side[] = [
  { side: 'tsnet', net: 'mts', subnet: '192.168.77.0/24', gateway: '192.168.77.1', lanHost: '192.168.77.2', driverArgs: ['-d', 'tsnet', '-o', 'type=macvlan'] },
  { side: 'built-in', net: 'mbi', subnet: '192.168.78.0/24', gateway: '192.168.78.1', lanHost: '192.168.78.2', driverArgs: ['-d', 'macvlan'] },
];

function alternate(i: number): Side[] {
  return i % 2 === 0 ? SIDES : [...SIDES].reverse();
}

interface Up {
  serverPid: number;
  clientPid: number;
  serverIp: string;
}

async function createNetwork(h: DockerHost, s: Side): Promise<{ ok: boolean; err: string }> {
  const r = await h.docker(
    ['network', 'create', ...s.driverArgs, '-o', `parent=${PARENT}`, '--subnet', s.subnet, '--gateway', s.gateway, '--aux-address', `lanhost=${s.lanHost}`, s.net],
    { allowFail: true },
  );
  return { ok: r.code === 0, err: r.stderr.trim() };
}

async function up(h: DockerHost, s: Side): Promise<Up> {
  for (const c of ['a', 'b']) await dk(h, 'run', '-d', '--name', `${s.net}-${c}`, '--network', s.net, IMAGE, 'sleep', '3600');
  return {
    serverPid: await h.containerPid(`${s.net}-a`),
    clientPid: await h.containerPid(`${s.net}-b`),
    serverIp: await containerIp(h, `${s.net}-a`, s.net),
  };
}

async function down(h: DockerHost, s: Side): Promise<void> {
  await removeContainers(h, [`${s.net}-a`, `${s.net}-b`]);
  await h.docker(['network', 'rm', s.net], { allowFail: true });
}

async function measure(h: DockerHost, s: Side, u: Up, lanNs: string, samples: Samples, round: number): Promise<void> {
  const c2c = { serverNs: pidNs(u.serverPid), clientNs: pidNs(u.clientPid), target: u.serverIp, seconds: SECONDS };
  const c2lan = { serverNs: namedNs(lanNs), clientNs: pidNs(u.clientPid), target: s.lanHost, seconds: SECONDS };
  const v = {
    cc1: await iperf3({ ...c2c, streams: 1 }),
    cc4: await iperf3({ ...c2c, streams: 4 }),
    cl1: await iperf3({ ...c2lan, streams: 1 }),
    cl4: await iperf3({ ...c2lan, streams: 4 }),
    ccRtt: await pingRtt(pidNs(u.clientPid), u.serverIp),
    clRtt: await pingRtt(pidNs(u.clientPid), s.lanHost),
  };
  samples.add('container->container TCP 1 stream, Gbit/s', s.side, v.cc1);
  samples.add('container->container TCP 4 streams, Gbit/s', s.side, v.cc4);
  samples.add('container->LAN host TCP 1 stream, Gbit/s', s.side, v.cl1);
  samples.add('container->LAN host TCP 4 streams, Gbit/s', s.side, v.cl4);
  samples.add('container->container ping RTT, ms', s.side, v.ccRtt);
  samples.add('container->LAN host ping RTT, ms', s.side, v.clRtt);
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { ms } = await timed(() => dk(h, 'run', '--rm', '--network', s.net, IMAGE, 'true'));
    samples.add('docker run --rm true, ms', s.side, ms);
    runs.push(ms);
  }
  log(`round ${round + 1}/${ROUNDS} ${s.side}: c2c ${v.cc1.toFixed(2)}/${v.cc4.toFixed(2)} Gbit/s, c2lan ${v.cl1.toFixed(2)}/${v.cl4.toFixed(2)} Gbit/s, ` +
    `RTT ${v.ccRtt.toFixed(3)}/${v.clRtt.toFixed(3)} ms, run ${runs.map((x) => x.toFixed(0)).join(' ')} ms`);
}

async function main(): Promise<void> {
  const load = loadAverage();
  const samples = new Samples();
  const lanNs = `tsnbm-${randomBytes(4).toString('hex')}`;
  let shared = true;
  let refusal = '';
  const shapes = new Map<string, Record<string, string>>();
  await withDockerHost('mvbench', {}, async (h) => {
    await run('ip', ['netns', 'add', lanNs]);
    try {
      const lanIp = (...args: string[]) => run('ip', ['-n', lanNs, ...args]);
      await lanIp('link', 'set', 'lo', 'up');
      await run('ip', ['-n', h.netns, 'link', 'add', PARENT, 'type', 'veth', 'peer', 'name', LAN_IF, 'netns', lanNs]);
      for (const s of SIDES) await lanIp('addr', 'add', `${s.lanHost}/24`, 'dev', LAN_IF);
      await lanIp('link', 'set', LAN_IF, 'up');
      await h.exec(['ip', 'link', 'set', PARENT, 'up']);

      // Can both drivers hold a network on the same parent at once?
      const first = await createNetwork(h, SIDES[0]!);
      if (!first.ok) throw new Error(`tsnet macvlan network: ${first.err}`);
      const second = await createNetwork(h, SIDES[1]!);
      if (!second.ok) {
        shared = false;
        refusal = second.err;
        log(`the built-in driver refuses the parent tsnet uses (${second.err}): networks are created and removed per round`);
        await down(h, SIDES[0]!);
      }
      const ups = new Map<string, Up>();
      if (shared) for (const s of SIDES) ups.set(s.side, await up(h, s));
      for (const s of SIDES) await dk(h, 'run', '--rm', '--network', s.net, IMAGE, 'true').catch(() => undefined); // warm-up (when up)

      for (let round = 0; round < ROUNDS; round++) {
        for (const s of alternate(round)) {
          if (!shared) {
            const c = await createNetwork(h, s);
            if (!c.ok) throw new Error(`${s.side} macvlan network: ${c.err}`);
            ups.set(s.side, await up(h, s));
          }
          if (!shapes.has(s.side)) shapes.set(s.side, await linkShape(pidNs(ups.get(s.side)!.clientPid)));
          await measure(h, s, ups.get(s.side)!, lanNs, samples, round);
          if (!shared) await down(h, s);
        }
      }
      for (const s of SIDES) await down(h, s);
    } finally {
      await run('ip', ['netns', 'del', lanNs], { allowFail: true });
    }
  });

  const { server, client } = cpus();
  const rtt = { max: 1 / 0.97 };
  console.log(`\n### bench/macvlan: tsnet macvlan vs Docker's built-in macvlan on the same parent (one private dockerd, one run)\n`);
  console.log(comparisonTable(samples, [
    { metric: 'container->container TCP 1 stream, Gbit/s', goal: { min: 0.97 } },
    { metric: 'container->container TCP 4 streams, Gbit/s', goal: { min: 0.97 } },
    { metric: 'container->LAN host TCP 1 stream, Gbit/s', goal: { min: 0.97 } },
    { metric: 'container->LAN host TCP 4 streams, Gbit/s', goal: { min: 0.97 } },
    { metric: 'container->container ping RTT, ms', goal: rtt, digits: 3 },
    { metric: 'container->LAN host ping RTT, ms', goal: rtt, digits: 3 },
    { metric: 'docker run --rm true, ms', goal: { max: 1.1 }, digits: 0 },
  ]));
  console.log('');
  console.log(keyValueTable(['link (ip -d link)', 'attributes that differ, tsnet/built-in'], [['container eth0', shapeDiff(shapes.get('tsnet')!, shapes.get('built-in')!)]]));
  console.log(`\nparent: a veth (${PARENT}) whose peer is the LAN host's interface in its own namespace; macvlan mode bridge; ` +
    (shared ? 'both networks on that parent at the same time' : `networks created and removed per round (the built-in driver refused to share: ${refusal})`) +
    `. rounds=${ROUNDS}, iperf3 -t ${SECONDS}, docker runs per round=${RUNS}; iperf3 server on CPU ${server}, client and ping on CPU ${client}; ` +
    `ratios are tsnet/built-in of the medians (RTT goal: ≤ 1/0.97); load average at start ${load}.`);
  console.log(`command: \`${commandLine()}\``);
}

runBench(main);
