// Real-Docker tier for the VXLAN overlay on a 3-node Swarm (issue 6, "Swarm"): three hosts (namespaces
// with their own dockerd) on one underlay bridge, tsnet installed on each as the managed plugin
// tsnet:latest with TSNET_SCOPE=global — on h1 and h2 before the Swarm forms, on h3 after it joined —
// h1 the manager, h2/h3 workers. An attachable tsnet VXLAN network (VNI from the manager's
// AllocateNetwork), a dnsrr service with one task per node, an attachable container on a worker; the
// mesh (every pair of containers, by IP and by name) is checked after the start, after a plugin
// kill -9 and after a worker left and re-joined; a VIP-mode service is programmed on every node (a log
// line each, no warning) and removed again when switched to dnsrr; Docker's own attachable overlay carries traffic between the same
// nodes next to tsnet's (both on UDP 4789, VNIs 4096+ vs 1-4095); removing everything leaves no tsnet
// link or FDB entry.
// Prints the time from `docker service create` to all tasks reachable, and the recovery times.
import assert from 'node:assert/strict';
import { DockerHost, formSwarm, installManagedPlugin, pluginLines, Underlay, eventuallyDefined, dk, IMAGE, requireDocker, createSpreadService, floodOf, forgetNeighbours, hostAt, member, type Member, meshReachable, ping, pluginPid, printDockerdLogs, printFigures, skipAfterFirstFailure, startSwarmHosts, taskMembers, tasksOn, tsnetFdb, tsnetLinks, waitForFlood, waitForPluginRestart } from '../lab';
import { sleep } from '../lab/proc'; // the flood watchers' sampling period and window
import { vniMatch } from '../../src/firewall/vxlan-input';

const FULL = 'tsnet:latest';
const UNDERLAY_NET = '10.220.0';
const SUBNET = '10.88.0.0/24';
const NET = 'ov';
const SVC = 's';
const PLUGIN_ENV = { TSNET_SCOPE: 'global', TSNET_LOG_LEVEL: 'debug' };
/** Bounded waits: the mesh after a change, and the nodes dropping the network after its last task. */
const MESH_TIMEOUT_MS = 20_000;
const REJOIN_TIMEOUT_MS = 60_000;
const CLEAN_TIMEOUT_MS = 30_000;
/** The VIP-mode service, what every node logs for it (swarm/vip-balancer.ts), and how long that may take. */
const VIP_SVC = 'vip';
const VIP_PROGRAMMED = 'VIP programmed';
const VIP_REMOVED = 'VIP removed';
const VIP_TIMEOUT_MS = 60_000;
/** Docker's own attachable overlay, next to tsnet's network on the same nodes. */
const DOCKER_OV = 'dov';
const DOCKER_OV_SUBNET = '10.87.0.0/24';

/** A VXLAN device on a host: in its network namespace ("host") or in a Docker sandbox namespace (the file's name). */
interface VxlanDevice {
  ns: string;
  name: string;
  vni: number;
  port: number;
}

/** Every VXLAN device of a host: its own namespace and the namespaces dockerd keeps under its exec root (overlays). */
async function vxlanDevices(h: DockerHost): Promise<VxlanDevice[]> {
  const parse = (ns: string, json: string): VxlanDevice[] =>
    (JSON.parse(json || '[]') as { ifname: string; linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number } } }[])
      .filter((l) => l.linkinfo?.info_kind === 'vxlan')
      .map((l) => ({ ns, name: l.ifname, vni: Number(l.linkinfo!.info_data?.id), port: Number(l.linkinfo!.info_data?.port) }));
  const out = parse('host', (await h.exec(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan'])).stdout);
  const nsDir = `${h.execRoot}/netns`;
  const files = (await h.exec(['ls', nsDir], { allowFail: true })).stdout.split('\n').filter(Boolean);
  for (const f of files) {
    const r = await h.exec(['nsenter', `--net=${nsDir}/${f}`, 'ip', '-d', '-j', 'link', 'show', 'type', 'vxlan'], { allowFail: true });
    if (r.code === 0) out.push(...parse(f, r.stdout));
  }
  return out;
}

/** tsnet's VXLAN input filter (INPUT hook and TSNET-VXLAN-IN rules) with packet counters, as iptables-save prints them. */
async function inputFilter(h: DockerHost): Promise<{ rule: string; packets: number }[]> {
  return (await h.exec(['iptables-save', '-c', '-t', 'filter'])).stdout
    .split('\n')
    .map((l) => /^\[(\d+):\d+\] (-A (?:INPUT|TSNET-VXLAN-IN) .*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && (m[2]!.startsWith('-A TSNET-VXLAN-IN') || m[2]!.endsWith('-j TSNET-VXLAN-IN')))
    .map((m) => ({ rule: m[2]!, packets: Number(m[1]) }));
}

describe('docker: tsnet VXLAN overlay on a 3-node Swarm (managed plugin, TSNET_SCOPE=global)', function () {
  this.timeout(600_000);
  let underlay: Underlay | undefined;
  const hosts: DockerHost[] = [];
  let pluginDir = '';
  let vni = 0;
  const figures: Record<string, string> = {};
  const h = (n: 1 | 2 | 3): DockerHost => hostAt(hosts, n);

  before(async function () {
    await requireDocker(this, 'swarm');
    const t0 = Date.now();
    underlay = await Underlay.create('swsw');
    pluginDir = await startSwarmHosts(hosts, (n) => DockerHost.start({ name: `h${n}`, underlay: underlay!.attach(`${UNDERLAY_NET}.${n}/24`) }));
    figures['lab up (underlay, 3 dockerd, image, plugin dir)'] = `${Date.now() - t0} ms`;
  });

  const failed = skipAfterFirstFailure();

  after(async function () {
    this.timeout(180_000);
    if (failed()) printDockerdLogs(hosts, 60);
    await Promise.all(hosts.map((host) => host?.stop()));
    await underlay?.destroy();
    printFigures('swarm figures', figures);
  });

  // ---- helpers ------------------------------------------------------------------------------------

  /** Addresses an A lookup inside a container answers (Docker's embedded DNS), inside the network's subnet (10.88.0.0/24). */
  const lookup = async (m: Member, name: string): Promise<string[]> => {
    const r = await m.host.docker(['exec', m.id, 'nslookup', '-type=a', name], { allowFail: true });
    return [...r.stdout.matchAll(/Address:\s*(10\.88\.0\.\d+)/g)].map((x) => x[1]!).sort();
  };

  /** Every node floods to the two others (bounded wait: some come from the background read of Docker's peers). */
  const floodComplete = async (timeoutMs: number): Promise<void> => {
    const want = (n: number) => [1, 2, 3].filter((x) => x !== n).map((x) => `${UNDERLAY_NET}.${x}`);
    await waitForFlood(hosts, 'every node flooding to the two others', want, timeoutMs);
  };

  let tasks: Member[] = [];
  let att: Member | undefined;

  // ---- scenarios ----------------------------------------------------------------------------------

  it('the plugin is enabled on h1 and h2 before the Swarm forms and on h3 after it joined; every plugin learns its own address', async () => {
    const t0 = Date.now();
    await Promise.all([installManagedPlugin(h(1), pluginDir, PLUGIN_ENV), installManagedPlugin(h(2), pluginDir, PLUGIN_ENV)]);
    const t1 = Date.now();
    await formSwarm(hosts);
    const t2 = Date.now();
    await installManagedPlugin(h(3), pluginDir, PLUGIN_ENV);
    figures['plugin create+set+enable on h1 and h2 (parallel)'] = `${t1 - t0} ms`;
    figures['swarm init + 2 joins + all Ready'] = `${t2 - t1} ms`;
    figures['plugin create+set+enable on h3 (in the Swarm)'] = `${Date.now() - t2} ms`;
    for (const host of hosts) {
      assert.equal(await dk(host, 'plugin', 'inspect', '-f', '{{.Enabled}}', 'tsnet'), 'true', `${host.name}: plugin enabled`);
      // DiscoverNew Self: at swarm init/join (h1, h2) or at registration inside the Swarm (h3).
      await eventuallyDefined(() =>
        pluginLines(host).find((l) => l.message === 'node discovered' && l.fields.self === true && l.fields.address === host.underlayIp), { what: `${host.name}: DiscoverNew Self in the plugin log`, timeout: 15_000 }
      );
    }
    // The scheduler places tasks only on nodes that report the plugin: wait until h3's does.
    const t3 = Date.now();
    await eventuallyDefined(async () => {
      const nodes = await dk(h(1), 'node', 'ls', '-q');
      const described = await Promise.all(
        nodes.split('\n').map((id) => dk(h(1), 'node', 'inspect', '-f', '{{range .Description.Engine.Plugins}}{{.Type}}={{.Name}} {{end}}', id)),
      );
      return described.every((d) => /Network=tsnet(:latest)?\b/.test(d)) ? true : undefined;
    }, { what: 'every node reporting the tsnet network plugin', timeout: 30_000 });
    figures['… then every node description lists the plugin (scheduler filter)'] = `${Date.now() - t3} ms`;
  });

  it('an attachable vxlan network created on the manager gets its VNI from AllocateNetwork', async () => {
    await dk(h(1), 'network', 'create', '-d', FULL, '--ipam-driver', FULL, '--attachable', '-o', 'type=vxlan', '--subnet', SUBNET, NET);
    // The manager's allocator runs after the create returned: Driver and Options appear with it.
    const info = await eventuallyDefined(async () => {
      const [i] = JSON.parse(await dk(h(1), 'network', 'inspect', NET));
      return i.Driver ? i : undefined;
    }, { what: 'the network allocated (driver state in the inspect)', timeout: 10_000 });
    assert.equal(info.Driver, FULL);
    assert.equal(info.Scope, 'swarm');
    assert.equal(info.Attachable, true);
    assert.equal(info.IPAM.Driver, FULL);
    assert.equal(info.IPAM.Config[0].Subnet, SUBNET);
    assert.equal(info.Options.type, 'vxlan');
    assert.match(String(info.Options.vni), /^\d+$/, `Options carry the allocated VNI: ${JSON.stringify(info.Options)}`);
    vni = Number(info.Options.vni);
    assert.ok(vni >= 1 && vni <= 4095, `VNI ${vni} in tsnet's default range 1-4095 (Docker's overlay uses 4096 up)`);
    assert.equal(info.Id.length, 25, 'a Swarm network ID (25 characters)');
  });

  it('a 3-replica dnsrr service spreads over the nodes and every task reaches every other by IP', async () => {
    const t0 = Date.now();
    await createSpreadService(h(1), SVC, NET);
    tasks = await taskMembers(hosts, SVC, NET, 60_000);
    const running = Date.now() - t0;
    assert.equal(new Set(tasks.map((t) => t.ip)).size, 3, `three distinct task addresses: ${tasks.map((t) => t.ip).join(' ')}`);
    for (const t of tasks) assert.match(t.ip, /^10\.88\.0\.\d+$/, `${t.label} has an address in ${SUBNET}`);
    await meshReachable(tasks, MESH_TIMEOUT_MS);
    figures['service create → 3 tasks running, one per node'] = `${running} ms`;
    figures['service create → all 6 task pairs reachable'] = `${Date.now() - t0} ms`;

    // One interface (tsnet answers Join with the anycast gateway: no docker_gwbridge), overlay MTU.
    for (const t of tasks) {
      assert.deepEqual((await dk(t.host, 'exec', t.id, 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'lo'], `${t.label}: eth0 and lo only`);
      assert.equal(await dk(t.host, 'exec', t.id, 'cat', '/sys/class/net/eth0/mtu'), '1450', `${t.label}: eth0 MTU = underlay 1500 - 50`);
    }
    await floodComplete(MESH_TIMEOUT_MS);
    figures['service create → every node floods to the two others'] = `${Date.now() - t0} ms`;
  });

  it('tasks find each other by DNS name: tasks.s lists the three, s and tasks.s answer pings', async () => {
    const want = tasks.map((t) => t.ip).sort();
    for (const t of tasks) {
      const got = await eventuallyDefined(async () => {
        const ips = await lookup(t, `tasks.${SVC}`);
        return JSON.stringify(ips) === JSON.stringify(want) ? ips : undefined;
      }, { what: `${t.label}: tasks.${SVC} resolving to the 3 task IPs`, timeout: 15_000 }).catch(async (err) => {
        throw new Error(`${(err as Error).message}: got [${(await lookup(t, `tasks.${SVC}`)).join(', ')}], want [${want.join(', ')}]`);
      });
      assert.deepEqual(got, want);
      // dnsrr: the service name itself resolves to the tasks too (no VIP).
      assert.deepEqual(await lookup(t, SVC), want, `${t.label}: ${SVC} resolves to the task IPs (dnsrr)`);
      for (const name of [SVC, `tasks.${SVC}`]) assert.ok(await ping(t, name), `${t.label}: ping ${name}`);
      // Every other task by its own name (task names are in Docker's DNS on every node of the network).
      for (const o of tasks.filter((x) => x !== t)) {
        assert.deepEqual(await lookup(t, o.name), [o.ip], `${t.label}: ${o.name} resolves to ${o.label}'s address`);
        assert.ok(await ping(t, o.name), `${t.label}: ping ${o.name}`);
      }
    }
  });

  it('an attachable container on a worker (h3) reaches the tasks, and they reach it', async () => {
    const id = await dk(h(3), 'run', '-d', '--name', 'att', '--network', NET, IMAGE, 'sleep', '3600');
    att = await member('att@h3', h(3), id, NET);
    assert.match(att.ip, /^10\.88\.0\.\d+$/);
    assert.ok(!tasks.some((t) => t.ip === att!.ip), 'the attachment got its own address from the manager');
    await meshReachable([...tasks, att], MESH_TIMEOUT_MS);
    assert.deepEqual(await lookup(att, `tasks.${SVC}`), tasks.map((t) => t.ip).sort(), 'att resolves tasks.s');
  });

  it('plugin kill -9 on a node (h3, enabled inside the Swarm): Docker restarts it and the mesh is whole again within 20 s', async () => {
    const host = h(3);
    const pid = await pluginPid(host);
    // Watch h3's flood entries from the kill on: are the peers kept across the restart?
    let watching = true;
    let fewest = Infinity;
    const watcher = (async () => {
      while (watching) {
        fewest = Math.min(fewest, (await floodOf(host)).length);
        await sleep(100);
      }
    })();
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    figures['kill -9 → restarted plugin listening (h3)'] = `${await waitForPluginRestart(host, pid, killedAt)} ms`;
    // h3 speaking first, nobody else sending: its ARP requests need its own flood entries (the others'
    // requests would otherwise teach h3's containers the answer).
    await forgetNeighbours([...tasks, att!]);
    const fromH3 = tasks.find((t) => t.host === host)!;
    const oneWay = await meshReachable(tasks, MESH_TIMEOUT_MS, [fromH3]);
    figures['kill -9 → h3\'s task reaches the two others with only h3 sending (ARP caches emptied)'] = `${Date.now() - killedAt} ms (${oneWay} ms of pinging)`;
    await forgetNeighbours([...tasks, att!]);
    await meshReachable([...tasks, att!], MESH_TIMEOUT_MS);
    figures['kill -9 → all 12 pairs (3 tasks + att) reachable (ARP caches emptied)'] = `${Date.now() - killedAt} ms`;
    try {
      await floodComplete(MESH_TIMEOUT_MS);
    } finally {
      watching = false;
      await watcher;
    }
    figures['kill -9 → every node floods to the two others'] = `${Date.now() - killedAt} ms`;
    figures['kill -9: fewest flood entries seen on h3 (2 = peers kept)'] = String(fewest);
    assert.equal(fewest, 2, `h3's restarted plugin dropped flood peers (down to ${fewest}) before reading Docker's peers`);
    // A new endpoint on the restarted plugin's node works (the network came back from the store).
    const id = await dk(host, 'run', '-d', '--name', 'att2', '--network', NET, IMAGE, 'sleep', '3600');
    const att2 = await member('att2@h3', host, id, NET);
    await meshReachable([att2, ...tasks], MESH_TIMEOUT_MS);
    await dk(host, 'rm', '-f', 'att2');
  });

  it('a worker (h2) leaves the Swarm and re-joins: its task comes back and the mesh is whole again', async () => {
    const t0 = Date.now();
    await dk(h(2), 'swarm', 'leave');
    await eventuallyDefined(async () => {
      const rows = (await dk(h(1), 'node', 'ls', '--format', '{{.Hostname}} {{.Status}}')).split('\n');
      return rows.includes('h2 Down') ? true : undefined;
    }, { what: 'h2 Down on the manager', timeout: 30_000 });
    await eventuallyDefined(async () => ((await tasksOn(h(2), SVC)).length === 0 ? true : undefined), { what: 'h2 without task containers', timeout: 30_000 });
    // With h2 gone the other two still reach each other (and att).
    const left = [...tasks.filter((t) => t.host !== h(2)), att!];
    await meshReachable(left, MESH_TIMEOUT_MS);

    const stale = (await dk(h(1), 'node', 'ls', '--filter', 'name=h2', '--format', '{{.ID}} {{.Status}}'))
      .split('\n')
      .filter((r) => r.endsWith(' Down'))
      .map((r) => r.split(' ')[0]!);
    assert.equal(stale.length, 1, 'one stale Down entry for the old h2');
    const token = await dk(h(1), 'swarm', 'join-token', '-q', 'worker');
    const tJoin = Date.now();
    await dk(h(2), 'swarm', 'join', '--token', token, '--advertise-addr', h(2).underlayIp!, `${h(1).underlayIp}:2377`);

    tasks = await taskMembers(hosts, SVC, NET, REJOIN_TIMEOUT_MS);
    figures['h2 re-join → a task runs on every node again'] = `${Date.now() - tJoin} ms`;
    if (Date.now() - tJoin > 15_000) {
      // Slow (Swarm's scheduling, not the data path): say what the tasks went through.
      const history = await dk(h(1), 'service', 'ps', SVC, '--no-trunc', '--format', '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}');
      console.log(`    slow re-join; docker service ps ${SVC}:\n      ${history.split('\n').join('\n      ')}`);
    }
    await forgetNeighbours([...tasks, att!]);
    await meshReachable([...tasks, att!], REJOIN_TIMEOUT_MS);
    figures['h2 re-join → all 12 pairs (3 tasks + att) reachable'] = `${Date.now() - tJoin} ms`;
    figures['h2 leave → … → mesh whole again'] = `${Date.now() - t0} ms`;
    await floodComplete(MESH_TIMEOUT_MS);
    assert.deepEqual(await lookup(att!, `tasks.${SVC}`), tasks.map((t) => t.ip).sort(), 'att resolves the new set of tasks');
    // The old identity goes last: removed while the new one's task was being allocated, Swarm's
    // allocator sometimes stalled ~30 s on the vanished node ("error reallocating node …: cannot be found").
    await dk(h(1), 'node', 'rm', stale[0]!);
  });

  it('a VIP-mode service on the tsnet network: every node programs its VIP (a log line, no warning); switched to dnsrr, the VIP goes', async () => {
    const t0 = Date.now();
    try {
      // Default endpoint mode (VIP), as most users would create it (test/docker/swarm-vip.test.ts checks the traffic).
      await dk(h(1), 'service', 'create', '--detach', '--name', VIP_SVC, '--network', NET, '--replicas', '1', '--stop-grace-period', '1s', '--no-resolve-image', IMAGE, 'sleep', '3600');
      const [vip] = await eventuallyDefined(async () => {
        const vips = JSON.parse(await dk(h(1), 'service', 'inspect', '-f', '{{json .Endpoint.VirtualIPs}}', VIP_SVC)) as { Addr: string }[] | null;
        return vips?.length ? vips : undefined;
      }, { what: 'the service VIP allocated', timeout: 15_000 });
      assert.match(vip!.Addr, /^10\.88\.0\.\d+\/24$/, 'a VIP from the tsnet network\'s subnet');
      const addr = vip!.Addr.split('/')[0]!;
      figures['VIP-mode service: the VIP Docker allocated on the tsnet network'] = vip!.Addr;
      for (const host of hosts) {
        await eventuallyDefined(() => pluginLines(host).find((l) => l.message === VIP_PROGRAMMED && l.fields.vip === addr && l.fields.service === VIP_SVC), { what: `${host.name}: "${VIP_PROGRAMMED}" for ${addr}`, timeout: VIP_TIMEOUT_MS });
        assert.deepEqual(pluginLines(host).filter((l) => l.level === 'warn' && /VIP/.test(l.message)), [], `${host.name}: no VIP warning`);
      }
      figures['VIP-mode service create → VIP programmed on every node'] = `${Date.now() - t0} ms`;
      await dk(h(1), 'service', 'update', '--detach', '--endpoint-mode', 'dnsrr', VIP_SVC);
      assert.equal(await dk(h(1), 'service', 'inspect', '-f', '{{.Spec.EndpointSpec.Mode}}', VIP_SVC), 'dnsrr');
      for (const host of hosts) {
        await eventuallyDefined(() => pluginLines(host).find((l) => l.message === VIP_REMOVED && l.fields.vip === addr), { what: `${host.name}: "${VIP_REMOVED}" for ${addr}`, timeout: VIP_TIMEOUT_MS });
      }
    } finally {
      await h(1).docker(['service', 'rm', VIP_SVC], { allowFail: true });
    }
    await eventuallyDefined(async () =>
      (await Promise.all(hosts.map((host) => dk(host, 'ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${VIP_SVC}`)))).every((x) => x === '')
        ? true
        : undefined, { what: `no task container of ${VIP_SVC} left`, timeout: CLEAN_TIMEOUT_MS }
    );
  });

  it("Docker's own overlay on the same nodes: both carry traffic across hosts on UDP 4789, Docker's VNIs >= 4096, tsnet's <= 4095", async () => {
    const t0 = Date.now();
    const names = { 1: 'co1', 2: 'co2' } as const;
    try {
      await dk(h(1), 'network', 'create', '-d', 'overlay', '--attachable', '--subnet', DOCKER_OV_SUBNET, DOCKER_OV);
      // One container per host on both networks: tsnet's first, Docker's overlay connected second.
      for (const n of [1, 2] as const) {
        await dk(h(n), 'run', '-d', '--name', names[n], '--network', NET, IMAGE, 'sleep', '3600');
        await dk(h(n), 'network', 'connect', DOCKER_OV, names[n]);
      }
      const addr = async (n: 1 | 2, net: string) => dk(h(n), 'inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, names[n]);
      const ips = { tsnet: [await addr(1, NET), await addr(2, NET)], docker: [await addr(1, DOCKER_OV), await addr(2, DOCKER_OV)] };
      for (const ip of ips.tsnet) assert.match(ip, /^10\.88\.0\.\d+$/);
      for (const ip of ips.docker) assert.match(ip, /^10\.87\.0\.\d+$/);
      const pingFrom = async (n: 1 | 2, ip: string) => (await h(n).docker(['exec', names[n], 'ping', '-c', '1', '-W', '1', ip], { allowFail: true, timeoutMs: 15_000 })).code === 0;
      // Both directions over both overlays at the same time, until all four answer (bounded).
      const both = await eventuallyDefined(
        async () => {
          const ok = await Promise.all([pingFrom(1, ips.tsnet[1]!), pingFrom(2, ips.tsnet[0]!), pingFrom(1, ips.docker[1]!), pingFrom(2, ips.docker[0]!)]);
          return ok.every(Boolean) ? Date.now() - t0 : undefined;
        },
        { what: 'co1 <-> co2 over the tsnet network and over Docker\'s overlay', timeout: MESH_TIMEOUT_MS, interval: 300 },
      );
      figures["Docker overlay create + 2 containers on both networks → both overlays carry h1<->h2 pings"] = `${both} ms`;
      // tsnet's VXLAN input filter is in front of every UDP packet on both hosts, with rules for tsnet's
      // VNI only: Docker's VXLAN packets (same port, other VNIs) go through the chain untouched.
      const tsnetVni = vniMatch(4, vni);
      for (const n of [1, 2] as const) {
        const rules = await inputFilter(h(n));
        assert.ok(rules.some((r) => r.rule.startsWith('-A INPUT ') && r.rule.endsWith('-j TSNET-VXLAN-IN')), `${h(n).name}: INPUT hooked to TSNET-VXLAN-IN: ${JSON.stringify(rules)}`);
        const own = rules.filter((r) => r.rule.startsWith('-A TSNET-VXLAN-IN '));
        assert.ok(own.some((r) => r.rule.includes(tsnetVni) && r.rule.endsWith('-j DROP')), `${h(n).name}: a DROP for tsnet's VNI ${vni} behind its peers: ${JSON.stringify(own)}`);
        for (const id of [...(await vxlanDevices(h(n)))].map((d) => d.vni).filter((v) => v !== vni)) {
          assert.ok(!own.some((r) => r.rule.includes(vniMatch(4, id))), `${h(n).name}: no rule for Docker's VNI ${id}`);
        }
      }
      // Round trips over each, measured in turn (5 pings each); around the Docker overlay's, h2's counters.
      for (const [label, ip] of [['tsnet', ips.tsnet[1]!], ['Docker overlay', ips.docker[1]!]] as const) {
        const before = await inputFilter(h(2));
        const r = await dk(h(1), 'exec', names[1], 'ping', '-c', '5', '-i', '0.2', '-W', '1', ip);
        const after = await inputFilter(h(2));
        assert.match(r, / 0% packet loss/, `${label}: no loss`);
        figures[`h1 -> h2 RTT min/avg/max over ${label} (5 pings)`] = /min\/avg\/max = (\S+)/.exec(r)?.[1] ?? r.split('\n').at(-1)!;
        const delta = (pick: (rule: string) => boolean) =>
          (after.find((x) => pick(x.rule))?.packets ?? 0) - (before.find((x) => pick(x.rule))?.packets ?? 0);
        const hooked = delta((x) => x.startsWith('-A INPUT ') && x.endsWith('-j TSNET-VXLAN-IN'));
        const dropped = delta((x) => x.startsWith('-A TSNET-VXLAN-IN ') && x.endsWith('-j DROP'));
        figures[`h2 during the ${label} pings: UDP packets through TSNET-VXLAN-IN / dropped by tsnet's VNI rule`] = `${hooked} / ${dropped}`;
        assert.ok(hooked >= 5, `${label}: the 5 echo requests' VXLAN packets went through TSNET-VXLAN-IN on h2 (${hooked})`);
        assert.equal(dropped, 0, `${label}: nothing dropped by tsnet's filter on h2`);
      }

      // The VNIs: Docker's from 4096 up (its overlay and ingress), tsnet's from its range below.
      const vxlanIdsOf = async (net: string) =>
        String(JSON.parse(await dk(h(1), 'network', 'inspect', '-f', '{{json .Options}}', net))['com.docker.network.driver.overlay.vxlanid_list'] ?? '')
          .split(',')
          .filter(Boolean)
          .map(Number);
      const dockerVnis = await vxlanIdsOf(DOCKER_OV);
      const ingressVnis = await vxlanIdsOf('ingress');
      assert.ok(dockerVnis.length > 0 && dockerVnis.every((v) => v >= 4096), `Docker overlay VNIs ${dockerVnis} >= 4096`);
      assert.ok(ingressVnis.length > 0 && ingressVnis.every((v) => v >= 4096), `ingress exists with VNIs ${ingressVnis} >= 4096`);
      assert.ok(vni >= 1 && vni <= 4095, `tsnet VNI ${vni} <= 4095`);
      assert.ok(!dockerVnis.includes(vni) && !ingressVnis.includes(vni));
      figures['VNIs on the same nodes: tsnet / Docker overlay / ingress'] = `${vni} / ${dockerVnis.join(',')} / ${ingressVnis.join(',')}`;

      // In the kernel, on each host: tsnet's VXLAN device (host namespace) and Docker's (its overlay's
      // namespace; the device was created in the host namespace, whose UDP socket it shares), all on port 4789.
      for (const n of [1, 2] as const) {
        const devices = await vxlanDevices(h(n));
        const withVni = (id: number) => devices.filter((d) => d.vni === id);
        assert.ok(withVni(vni).some((d) => d.ns === 'host' && d.port === 4789), `${h(n).name}: tsnet's VXLAN (VNI ${vni}) on UDP 4789: ${JSON.stringify(devices)}`);
        for (const id of dockerVnis) assert.ok(withVni(id).some((d) => d.ns !== 'host' && d.port === 4789), `${h(n).name}: Docker's VXLAN (VNI ${id}) on UDP 4789: ${JSON.stringify(devices)}`);
        figures[`${h(n).name}: VXLAN devices (namespace vni port)`] = devices.map((d) => `${d.ns} ${d.vni} ${d.port}`).join('; ');
      }
      // And tsnet's own network still works between the tasks meanwhile.
      await meshReachable(tasks, MESH_TIMEOUT_MS);
    } finally {
      for (const n of [1, 2] as const) await h(n).docker(['rm', '-f', names[n]], { allowFail: true });
      await eventuallyDefined(async () =>
        (await h(1).docker(['network', 'rm', DOCKER_OV], { allowFail: true })).code === 0 ? true : undefined, { what: `docker network rm ${DOCKER_OV} accepted`, timeout: CLEAN_TIMEOUT_MS }
      );
    }
    figures["Docker overlay step (create, ping, inspect, clean up)"] = `${Date.now() - t0} ms`;
  });

  it('service rm, rm -f att, network rm: no tsnet link and no tsnet FDB entry on any node', async () => {
    const t0 = Date.now();
    await dk(h(1), 'service', 'rm', SVC);
    await dk(h(3), 'rm', '-f', 'att');
    await eventuallyDefined(async () =>
      (await Promise.all(hosts.map((host) => dk(host, 'ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${SVC}`)))).every((s) => s === '')
        ? true
        : undefined, { what: 'no task container left on any node', timeout: CLEAN_TIMEOUT_MS }
    );
    // The manager refuses while the removed service's tasks are still being torn down: retry briefly.
    await eventuallyDefined(async () =>
      (await h(1).docker(['network', 'rm', NET], { allowFail: true })).code === 0 ? true : undefined, { what: `docker network rm ${NET} accepted`, timeout: CLEAN_TIMEOUT_MS }
    );
    await eventuallyDefined(async () => {
      for (const host of hosts) if ((await tsnetLinks(host)).length > 0 || (await tsnetFdb(host)).length > 0) return undefined;
      return true;
    }, { what: 'no tsnet link and no tsnet FDB entry on any node', timeout: CLEAN_TIMEOUT_MS }).catch(async (err) => {
      const left = await Promise.all(
        hosts.map(async (host) => `${host.name}: links [${(await tsnetLinks(host)).join(' ')}] fdb ${JSON.stringify(await tsnetFdb(host))}`),
      );
      throw new Error(`${(err as Error).message}: ${left.join('; ')}`);
    });
    figures['service rm → no tsnet link or FDB entry on any node'] = `${Date.now() - t0} ms`;
    // FreeNetwork released the VNI: the next network gets it again (lowest free).
    await dk(h(1), 'network', 'create', '-d', FULL, '--ipam-driver', FULL, '-o', 'type=vxlan', '--subnet', '10.89.0.0/24', `${NET}2`);
    // The manager's allocator runs after the create returned: wait for the VNI to show.
    const vni2 = await eventuallyDefined(async () => {
      const v = await dk(h(1), 'network', 'inspect', '-f', '{{index .Options "vni"}}', `${NET}2`);
      return /^\d+$/.test(v) ? v : undefined;
    }, { what: 'the second network allocated (a VNI in the inspect)', timeout: 10_000 });
    assert.equal(vni2, String(vni), 'the freed VNI is allocated again');
    await dk(h(1), 'network', 'rm', `${NET}2`);
    for (const host of hosts) {
      const nets = await dk(host, 'network', 'ls', '--filter', `name=^${NET}$`, '--format', '{{.Name}}');
      assert.equal(nets, '', `${host.name}: network ${NET} gone`);
    }
  });
});
