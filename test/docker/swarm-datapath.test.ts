// Real-Docker tier for the VXLAN overlay on a Swarm whose nodes use `--data-path-addr` (issue 6): three
// hosts, each on two underlays — a control network 10.221.0.0/24 (eth0, `--advertise-addr`) and a data
// network 10.222.0.0/24 (eth1, `--data-path-addr`) — with tsnet as the managed plugin tsnet:latest,
// TSNET_SCOPE=global (h1 and h2 enabled before the Swarm forms, h3 after it joined). Docker hands tsnet
// the node's own data address (DiscoverNew Self) but only control addresses for the other nodes
// (DiscoverNew, GET /networks/{id} Peers); the VXLAN must nevertheless run over the data network.
// The control network drops VXLAN (an ebtables rule on its bridge, like a switch ACL): only the data
// network carries UDP 4789, as Docker's documentation of --data-path-addr has it.
// Checked without tcpdump: the flood entries (all-zeros FDB) name the others' data addresses and no
// control address, learned entries point at data addresses, and iptables counters (mangle table) on every
// host count the VXLAN packets by underlay: none to or from the control network while every pair of
// containers pings. Then a plugin kill -9 on one node: the flood entries never fall back to control
// addresses and the mesh is whole again. Prints the figures.
import assert from 'node:assert/strict';
import { DockerHost, formSwarm, installManagedPlugin, pluginLines, Underlay, eventuallyDefined, dk, requireDocker, createSpreadService, type FdbEntry, floodOf, floodSummary, forgetNeighbours, hostAt, type Member, meshReachable, ping, pluginPid, printDockerdLogs, printFigures, skipAfterFirstFailure, startSwarmHosts, taskMembers, tsnetFdb, tsnetLinks, waitForFlood, waitForPluginRestart } from '../lab';
import { sleep } from '../lab/proc'; // the flood watchers' sampling period and window

const FULL = 'tsnet:latest';
const CONTROL_NET = '10.221.0';
const DATA_NET = '10.222.0';
const SUBNET = '10.87.0.0/24';
const NET = 'dpov';
const SVC = 'dp';
const PLUGIN_ENV = { TSNET_SCOPE: 'global', TSNET_LOG_LEVEL: 'debug' };
const MESH_TIMEOUT_MS = 30_000;
const CLEAN_TIMEOUT_MS = 30_000;
/** Comment of the test's counting rules (mangle table, no target: they only count). */
const COUNT_TAG = 'tstest-vx';

const control = (n: number) => `${CONTROL_NET}.${n}`;
const data = (n: number) => `${DATA_NET}.${n}`;

/** VXLAN packet counters of one host, by underlay (iptables mangle counters). */
interface VxCounters {
  toControl: number;
  outControlIf: number;
  toData: number;
  inControl: number;
  inData: number;
}

const COUNTERS: { key: keyof VxCounters; chain: string; match: string[] }[] = [
  { key: 'toControl', chain: 'POSTROUTING', match: ['-d', `${CONTROL_NET}.0/24`] },
  { key: 'toData', chain: 'POSTROUTING', match: ['-d', `${DATA_NET}.0/24`] },
  { key: 'outControlIf', chain: 'POSTROUTING', match: ['-o', 'eth0'] },
  { key: 'inControl', chain: 'PREROUTING', match: ['-i', 'eth0'] },
  { key: 'inData', chain: 'PREROUTING', match: ['-i', 'eth1'] },
];

describe('docker: tsnet VXLAN on a Swarm with --data-path-addr (control 10.221.0.0/24, data 10.222.0.0/24)', function () {
  this.timeout(600_000);
  const underlays: Underlay[] = [];
  const hosts: DockerHost[] = [];
  let pluginDir = '';
  const figures: Record<string, string> = {};
  const h = (n: 1 | 2 | 3): DockerHost => hostAt(hosts, n);
  const numberOf = (host: DockerHost) => hosts.indexOf(host) + 1;

  before(async function () {
    await requireDocker(this, 'swarm, data-path address');
    const t0 = Date.now();
    const ctl = await Underlay.create('dpctl');
    underlays.push(ctl);
    const dat = await Underlay.create('dpdat');
    underlays.push(dat);
    await ctl.exec(['ebtables', '-A', 'FORWARD', '-p', 'IPv4', '--ip-proto', 'udp', '--ip-dport', '4789', '-j', 'DROP']);
    pluginDir = await startSwarmHosts(hosts, (n) =>
      DockerHost.start({ name: `d${n}`, underlay: ctl.attach(`${control(n)}/24`), extraUnderlays: [dat.attach(`${data(n)}/24`)] }),
    );
    figures['lab up (2 underlays, 3 dockerd, image, plugin dir)'] = `${Date.now() - t0} ms`;
  });

  const failed = skipAfterFirstFailure();

  after(async function () {
    this.timeout(180_000);
    if (failed()) printDockerdLogs(hosts, 80);
    await Promise.all(hosts.map((host) => host?.stop()));
    for (const u of underlays) await u.destroy();
    printFigures('swarm data-path figures', figures);
  });

  // ---- helpers ------------------------------------------------------------------------------------

  /** Learned (kernel) entries towards remote VTEPs: a real MAC and a dst, not permanent. */
  const learnedOf = async (host: DockerHost): Promise<FdbEntry[]> =>
    (await tsnetFdb(host)).filter((e) => e.mac !== '00:00:00:00:00:00' && e.dst && e.state !== 'permanent');

  /** Every node floods to exactly the other nodes' data addresses. */
  const floodIsData = async (timeoutMs: number): Promise<void> => {
    const want = (n: number) => [1, 2, 3].filter((x) => x !== n).map(data);
    await waitForFlood(hosts, "every node flooding to exactly the two others' data addresses", want, timeoutMs);
  };

  /** VXLAN frames the control network's bridge dropped so far. */
  const controlDrops = async (): Promise<number> => {
    const listed = (await underlays[0]!.exec(['ebtables', '-L', 'FORWARD', '--Lc'])).stdout;
    const m = /--ip-dport 4789 -j DROP.*pcnt = (\d+)/.exec(listed);
    if (!m) throw new Error(`the control network's VXLAN drop rule is missing:\n${listed}`);
    return Number(m[1]);
  };

  const iptables = (host: DockerHost, args: string[]) => host.exec(['iptables', '-w', '-t', 'mangle', ...args]);

  /** Counting rules (no target) for UDP 4789 by underlay, at the top of mangle PREROUTING/POSTROUTING. */
  const installCounters = async (host: DockerHost): Promise<void> => {
    for (const c of COUNTERS) {
      await iptables(host, ['-I', c.chain, '1', '-p', 'udp', '--dport', '4789', ...c.match, '-m', 'comment', '--comment', `${COUNT_TAG}-${c.key}`]);
    }
  };

  const readCounters = async (host: DockerHost): Promise<VxCounters> => {
    const saved = (await host.exec(['iptables-save', '-c', '-t', 'mangle'])).stdout;
    const out: VxCounters = { toControl: NaN, outControlIf: NaN, toData: NaN, inControl: NaN, inData: NaN };
    for (const line of saved.split('\n')) {
      const m = /^\[(\d+):(\d+)\] .*--comment "?tstest-vx-(\w+)"?/.exec(line);
      if (m && m[3]! in out) out[m[3] as keyof VxCounters] = Number(m[1]);
    }
    for (const [k, v] of Object.entries(out)) if (Number.isNaN(v)) throw new Error(`${host.name}: counting rule ${k} not found in:\n${saved}`);
    return out;
  };

  const diff = (a: VxCounters, b: VxCounters): VxCounters => ({
    toControl: b.toControl - a.toControl,
    outControlIf: b.outControlIf - a.outControlIf,
    toData: b.toData - a.toData,
    inControl: b.inControl - a.inControl,
    inData: b.inData - a.inData,
  });

  /** The data-path addresses a host's plugin has mapped the others' control addresses to (its log). */
  const mappedBy = (host: DockerHost): Record<string, string> =>
    Object.fromEntries(
      pluginLines(host)
        .filter((l) => l.message === 'data-path address of a Swarm node')
        .map((l) => [String(l.fields.control), String(l.fields.data)]),
    );
  const othersMapped = (host: DockerHost): Record<string, string> =>
    Object.fromEntries([1, 2, 3].filter((x) => x !== numberOf(host)).map((x) => [control(x), data(x)]));

  let tasks: Member[] = [];

  // ---- scenarios ----------------------------------------------------------------------------------

  it('nodes join with --advertise-addr on the control network and --data-path-addr on the data network; DiscoverNew Self carries the data address', async () => {
    await Promise.all([installManagedPlugin(h(1), pluginDir, PLUGIN_ENV), installManagedPlugin(h(2), pluginDir, PLUGIN_ENV)]);
    const t0 = Date.now();
    await formSwarm(hosts, 1, (host) => ({ advertise: control(numberOf(host)), dataPath: data(numberOf(host)) }));
    figures['swarm init + 2 joins (with --data-path-addr) + all Ready'] = `${Date.now() - t0} ms`;
    await installManagedPlugin(h(3), pluginDir, PLUGIN_ENV);
    for (const host of hosts) {
      assert.equal(await dk(host, 'info', '-f', '{{.Swarm.NodeAddr}}'), control(numberOf(host)), `${host.name}: Swarm.NodeAddr is the control address`);
      await eventuallyDefined(() =>
        pluginLines(host).find((l) => l.message === 'node discovered' && l.fields.self === true && l.fields.address === data(numberOf(host))), { what: `${host.name}: DiscoverNew Self with the data address`, timeout: 15_000 }
      );
    }
    // What Docker announced, as the plugins logged it (the report's evidence for the mapping problem),
    // once the nodes whose plugin ran before the joins (d1, d2) were told of both others.
    for (const host of [h(1), h(2)]) {
      await eventuallyDefined(() => {
        const others = new Set(pluginLines(host).filter((l) => l.message === 'node discovered' && l.fields.self !== true).map((l) => String(l.fields.address)));
        return others.size >= 2 ? true : undefined;
      }, { what: `${host.name}: DiscoverNew of both other nodes`, timeout: 15_000 });
    }
    for (const host of hosts) {
      const events = pluginLines(host)
        .filter((l) => l.message === 'node discovered' || l.message === 'node left')
        .map((l) => `${l.message === 'node left' ? 'Delete' : 'New'} ${String(l.fields.address)}${l.fields.self ? ' self' : ''}${l.fields.bindAddress ? ` bind=${String(l.fields.bindAddress)}` : ''}`);
      figures[`${host.name} Discover events`] = events.join(', ');
      const others = pluginLines(host).filter((l) => l.message === 'node discovered' && l.fields.self !== true).map((l) => String(l.fields.address));
      for (const a of others) assert.ok(a.startsWith(`${CONTROL_NET}.`), `${host.name}: DiscoverNew of a node carries a control address (${a})`);
    }
    // Does the manager's node list know any data-path address? (It does not in Docker 20.10.)
    const nodes = await dk(h(1), 'node', 'inspect', ...(await dk(h(1), 'node', 'ls', '-q')).split('\n'));
    figures['GET /nodes mentions a data address'] = String(nodes.includes(`${DATA_NET}.`));
    // d1 and d2 were told of the others at the join: they ask them (d3 once its plugin answers). d3's
    // plugin came after its join and learns the others from Docker's peer list of a network, later.
    const t1 = Date.now();
    for (const host of [h(1), h(2)]) {
      await eventuallyDefined(() =>
        JSON.stringify(mappedBy(host)) === JSON.stringify(othersMapped(host)) ? true : undefined, { what: `${host.name}: the others' data-path addresses in its plugin log`, timeout: 30_000 }
      ).catch((err) => {
        throw new Error(`${(err as Error).message}: mapped ${JSON.stringify(mappedBy(host))}`);
      });
    }
    figures['d3 plugin enabled → d1 and d2 know every data-path address'] = `${Date.now() - t1} ms`;
    await eventuallyDefined(async () => {
      const ids = (await dk(h(1), 'node', 'ls', '-q')).split('\n');
      const described = await Promise.all(ids.map((id) => dk(h(1), 'node', 'inspect', '-f', '{{range .Description.Engine.Plugins}}{{.Type}}={{.Name}} {{end}}', id)));
      return described.every((d) => /Network=tsnet(:latest)?\b/.test(d)) ? true : undefined;
    }, { what: 'every node reporting the tsnet network plugin', timeout: 30_000 });
  });

  it('a dnsrr service with a task per node on an attachable tsnet vxlan network: every task reaches every other', async () => {
    await dk(h(1), 'network', 'create', '-d', FULL, '--ipam-driver', FULL, '--attachable', '-o', 'type=vxlan', '--subnet', SUBNET, NET);
    await eventuallyDefined(async () => (JSON.parse(await dk(h(1), 'network', 'inspect', NET))[0].Driver ? true : undefined), { what: 'the network allocated', timeout: 10_000 });
    const t0 = Date.now();
    await createSpreadService(h(1), SVC, NET);
    tasks = await taskMembers(hosts, SVC, NET, 60_000);
    figures['service create → 3 tasks running'] = `${Date.now() - t0} ms`;
    // Each device sends from the node's data address over the data link.
    for (const host of hosts) {
      const links = JSON.parse((await host.exec(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan'])).stdout || '[]') as {
        ifname: string;
        linkinfo?: { info_data?: { local?: string; link?: string } };
      }[];
      const ours = links.filter((l) => l.ifname.startsWith('tsx'));
      assert.equal(ours.length, 1, `${host.name}: one tsnet vxlan device`);
      assert.equal(ours[0]!.linkinfo?.info_data?.local, data(numberOf(host)), `${host.name}: VXLAN local address is the data address`);
      assert.equal(ours[0]!.linkinfo?.info_data?.link, 'eth1', `${host.name}: VXLAN underlay link is the data interface`);
    }
    const reach = await meshReachable(tasks, MESH_TIMEOUT_MS);
    figures['service create → all 6 task pairs reachable'] = `${Date.now() - t0} ms (${reach} ms of pinging)`;
    figures['flood entries right after the mesh answered'] = await floodSummary(hosts);
    figures['VXLAN frames dropped by the control network so far'] = String(await controlDrops());
  });

  it('the VXLAN runs over the data network: flood and learned entries point at data addresses, no VXLAN packet to or from the control network', async () => {
    const t0 = Date.now();
    await floodIsData(MESH_TIMEOUT_MS).finally(() => {
      figures['mesh answered → every node floods to exactly the data addresses'] = `${Date.now() - t0} ms`;
    });
    await Promise.all(hosts.map((host) => installCounters(host)));
    const before = await Promise.all(hosts.map((host) => readCounters(host)));
    // ARP across the overlay (flood entries) and then unicast (learned entries), 5 × 1000 bytes per pair.
    await forgetNeighbours(tasks);
    await meshReachable(tasks, MESH_TIMEOUT_MS);
    const pairs = tasks.flatMap((a) => tasks.filter((b) => b !== a).map((b) => [a, b] as const));
    const answered = await Promise.all(pairs.map(([a, b]) => ping(a, b.ip, ['-c', '5', '-s', '1000'])));
    pairs.forEach(([a, b], i) => assert.ok(answered[i], `${a.label} -> ${b.label}: 5 pings of 1000 bytes`));
    const after = await Promise.all(hosts.map((host) => readCounters(host)));
    for (const [i, host] of hosts.entries()) {
      const d = diff(before[i]!, after[i]!);
      figures[`${host.name} VXLAN packets while pinging (to control, out on eth0, to data, in on eth0, in on eth1)`] =
        `${d.toControl}, ${d.outControlIf}, ${d.toData}, ${d.inControl}, ${d.inData}`;
      assert.equal(d.toControl, 0, `${host.name}: VXLAN packets sent to control addresses: ${JSON.stringify(d)}`);
      assert.equal(d.outControlIf, 0, `${host.name}: VXLAN packets sent out of the control interface: ${JSON.stringify(d)}`);
      assert.equal(d.inControl, 0, `${host.name}: VXLAN packets received on the control interface: ${JSON.stringify(d)}`);
      // 2 peers × (1 + 5 requests + 5 replies to their 5) at least, both ways.
      assert.ok(d.toData >= 20 && d.inData >= 20, `${host.name}: VXLAN packets over the data network: ${JSON.stringify(d)}`);
      const learned = await learnedOf(host);
      const remote = tasks.filter((t) => t.host !== host);
      assert.ok(learned.length >= remote.length, `${host.name}: learned entries for the remote tasks: ${JSON.stringify(learned)}`);
      for (const e of learned) assert.ok(e.dst!.startsWith(`${DATA_NET}.`), `${host.name}: learned entry ${e.mac} -> ${e.dst} is a data address`);
    }
    figures['flood entries'] = await floodSummary(hosts);
    const drops = await controlDrops();
    figures['VXLAN frames dropped by the control network after the ping round'] = String(drops);
    for (const host of hosts) assert.deepEqual(mappedBy(host), othersMapped(host), `${host.name}: data-path addresses mapped`);
    // The mapping came before the network: no node ever sent VXLAN to a control address.
    assert.equal(drops, 0, 'VXLAN frames reached the control network');
    await floodIsData(1000);
  });

  it('plugin kill -9 on a node (d3): the flood entries stay the data addresses throughout and the mesh is whole again', async () => {
    const host = h(3);
    const pid = await pluginPid(host);
    let watching = true;
    const seen = new Set<string>();
    let fewest = Infinity;
    const watcher = (async () => {
      while (watching) {
        const flood = await floodOf(host);
        fewest = Math.min(fewest, flood.length);
        for (const a of flood) seen.add(a);
        await sleep(100);
      }
    })();
    const before = await readCounters(host);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    try {
      figures['kill -9 → restarted plugin listening (d3)'] = `${await waitForPluginRestart(host, pid, killedAt)} ms`;
      // d3 speaking first with ARP caches emptied: its requests need its own flood entries.
      await forgetNeighbours(tasks);
      const fromD3 = tasks.find((t) => t.host === host)!;
      const oneWay = await meshReachable(tasks, MESH_TIMEOUT_MS, [fromD3]);
      figures['kill -9 → d3 reaches the two others, only d3 sending'] = `${Date.now() - killedAt} ms (${oneWay} ms of pinging)`;
      await forgetNeighbours(tasks);
      await meshReachable(tasks, MESH_TIMEOUT_MS);
      // The watcher's sample goes on past the restarted plugin's first reads of Docker's peer lists and
      // its own peer refreshes: for 8 s more the flood entries must stay both data addresses.
      await sleep(8000);
      await floodIsData(MESH_TIMEOUT_MS);
    } finally {
      watching = false;
      await watcher;
    }
    const d = diff(before, await readCounters(host));
    figures['kill -9 → flood destinations seen on d3 (every 100 ms)'] = [...seen].sort().join(', ');
    figures['kill -9: fewest flood entries seen on d3'] = String(fewest);
    figures['kill -9: d3 VXLAN packets since (to control, to data)'] = `${d.toControl}, ${d.toData}`;
    assert.deepEqual([...seen].sort(), [data(1), data(2)], 'd3 flooded only to the data addresses, across the restart');
    assert.equal(fewest, 2, 'd3 kept both flood peers across the restart');
    assert.equal(d.toControl, 0, 'd3 sent no VXLAN packet to a control address across the restart');
    assert.equal(await controlDrops(), 0, 'no VXLAN frame reached the control network');
  });

  it('service rm, network rm: no tsnet link and no tsnet FDB entry on any node', async () => {
    await dk(h(1), 'service', 'rm', SVC);
    await eventuallyDefined(async () =>
      (await Promise.all(hosts.map((host) => dk(host, 'ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${SVC}`)))).every((s) => s === '') ? true : undefined, { what: 'no task container left', timeout: CLEAN_TIMEOUT_MS }
    );
    await eventuallyDefined(async () =>
      (await h(1).docker(['network', 'rm', NET], { allowFail: true })).code === 0 ? true : undefined, { what: `docker network rm ${NET} accepted`, timeout: CLEAN_TIMEOUT_MS }
    );
    await eventuallyDefined(async () => {
      for (const host of hosts) {
        if ((await tsnetLinks(host)).length > 0 || (await tsnetFdb(host)).length > 0) return undefined;
      }
      return true;
    }, { what: 'no tsnet link and no tsnet FDB entry on any node', timeout: CLEAN_TIMEOUT_MS });
  });
});
