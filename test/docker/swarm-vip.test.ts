// Real-Docker tier for Swarm services in VIP mode on a tsnet VXLAN network (issue 17): three hosts with
// their own dockerd on one underlay, tsnet as the managed plugin (TSNET_SCOPE=global) on each, h1 the
// manager. A 3-replica VIP service (busybox httpd answering its hostname, one task per node) and a
// client container on every node: 30 HTTP requests from each client to http://<service>/ reach all three
// tasks, and a task reaching its own VIP only the two others; a UDP server in each task answers through the VIP; scaling to 5 then to 1 leaves only running
// tasks answering within 5 s of Docker's gossip; a plugin kill -9 with its VIP rules flushed meanwhile
// gets them back; `docker service rm` leaves no VIP rule or address on any node.
// Prints the figures (time to the first answer through the VIP, answers per task, scale-down delay).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { DockerHost, formSwarm, installManagedPlugin, pluginLines, Underlay, dk, IMAGE, requireDocker, eventually, hostAt, pluginPid, printDockerdLogs, printFigures, skipAfterFirstFailure, startSwarmHosts, waitForPluginRestart } from '../lab';
import { binaries } from '../lab/env';

const FULL = 'tsnet:latest';
const UNDERLAY_NET = '10.221.0';
const SUBNET = '10.90.0.0/24';
const NET = 'vipnet';
const SVC = 'web';
const PLUGIN_ENV = { TSNET_SCOPE: 'global', TSNET_LOG_LEVEL: 'debug' };
const UDP_PORT = 5353;
/** Gossip, scheduling and the balancer's pass (1 s). */
const CONVERGE_MS = 60_000;

/** A UDP server answering every datagram with `name`, run in a task's network namespace from the host. */
const UDP_SERVER = `const u = require('dgram').createSocket('udp4'); u.on('message', (m, r) => u.send(process.argv[1], r.port, r.address)); u.bind(${UDP_PORT});`;
/** n UDP requests to the VIP, one after the other; one JSON line of answers. */
const UDP_CLIENT = `const dgram = require('dgram'); const [vip, n] = [process.argv[1], Number(process.argv[2])];
const one = () => new Promise((res) => { const u = dgram.createSocket('udp4'); const t = setTimeout(() => { u.close(); res('timeout'); }, 2000);
  u.on('message', (m, r) => { clearTimeout(t); u.close(); res(String(m) + '@' + r.address); }); u.send('x', ${UDP_PORT}, vip); });
(async () => { const out = []; for (let i = 0; i < n; i++) out.push(await one()); console.log(JSON.stringify(out)); })();`;

describe('docker: Swarm VIP services on a tsnet VXLAN network (3 nodes, managed plugin)', function () {
  this.timeout(600_000);
  let underlay: Underlay | undefined;
  const hosts: DockerHost[] = [];
  const figures: Record<string, string> = {};
  const udpServers: ChildProcess[] = [];
  const clients: Record<number, string> = {};
  let vip = '';
  const h = (n: 1 | 2 | 3): DockerHost => hostAt(hosts, n);

  before(async function () {
    await requireDocker(this, 'swarm');
    underlay = await Underlay.create('swvip');
    const pluginDir = await startSwarmHosts(hosts, (n) => DockerHost.start({ name: `h${n}`, underlay: underlay!.attach(`${UNDERLAY_NET}.${n}/24`) }));
    await Promise.all(hosts.map((host) => installManagedPlugin(host, pluginDir, PLUGIN_ENV)));
    await formSwarm(hosts);
    await eventually(async () => {
      const nodes = (await dk(h(1), 'node', 'ls', '-q')).split('\n');
      const described = await Promise.all(nodes.map((id) => dk(h(1), 'node', 'inspect', '-f', '{{range .Description.Engine.Plugins}}{{.Type}}={{.Name}} {{end}}', id)));
      assert.ok(described.length === 3 && described.every((d) => /Network=tsnet(:latest)?\b/.test(d)));
    }, { what: 'every node reporting the tsnet network plugin', timeout: 30_000, interval: 500 });
  });

  const failed = skipAfterFirstFailure();

  after(async function () {
    this.timeout(180_000);
    for (const s of udpServers) s.kill('SIGKILL');
    if (failed()) {
      printDockerdLogs(hosts, 40);
      for (const host of hosts) {
        if (!host) continue;
        console.error(`--- ${host.name}: plugin VIP lines ---\n${pluginLines(host).filter((l) => /VIP/.test(l.message)).slice(-20).map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields)}`).join('\n')}`);
        const show = async (what: string, cmd: string[]) => console.error(`--- ${host.name}: ${what} ---\n${(await host.exec(cmd, { allowFail: true })).stdout}`);
        await show('nat (counters)', ['iptables-save', '-c', '-t', 'nat']);
        await show('filter FORWARD/TSNET-FWD (counters)', ['sh', '-c', 'iptables-save -c -t filter | grep -E "FORWARD|TSNET-FWD|DOCKER-USER"']);
        await show('mangle (counters)', ['iptables-save', '-c', '-t', 'mangle']);
        await show('addresses', ['ip', '-4', '-o', 'addr', 'show']);
        await show('neighbours', ['ip', 'neigh', 'show']);
        await show('conntrack', ['conntrack', '-L']);
        await show('ebtables', ['ebtables-nft', '-L', '--Lc']);
        await show('bridge-nf', ['sh', '-c', 'for f in /sys/class/net/ts-*/bridge/nf_call_iptables; do echo $f $(cat $f); done']);
      }
      for (const n of [1, 2, 3] as const) {
        if (!clients[n]) continue;
        const r = await h(n).docker(['exec', clients[n]!, 'sh', '-c', `nslookup ${SVC}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${vip} 80; ip neigh; ip -4 addr`], { allowFail: true });
        console.error(`--- client on h${n} ---\n${r.stdout}\n${r.stderr}`);
      }
    }
    if (hosts[0]) figures['h1 dockerd: "Inconsistent driver and libnetwork state" errors (one per endpoint per verbose read)'] = String(hosts[0].dockerdLog().split('\n').filter((l) => l.includes('Inconsistent driver and libnetwork state')).length);
    await Promise.all(hosts.map((host) => host?.stop()));
    await underlay?.destroy();
    printFigures('swarm VIP figures', figures);
  });

  /**
   * `n` HTTP requests from node `from`'s client to the service name: the hostnames that answered (FAIL for
   * none). The name is resolved by Docker's DNS with nslookup, and the request made with nc: busybox-static's
   * wget crashes in static glibc's NSS (a service or host lookup) inside a container.
   */
  const httpFrom = async (from: 1 | 2 | 3, n: number, container = clients[from]!): Promise<string[]> => {
    const script =
      `ip=$(nslookup -type=a ${SVC} | awk '/^Address: /{print $2}' | tail -n 1); [ -n "$ip" ] || { echo NODNS; exit 0; }; ` +
      `for i in $(seq ${n}); do a=$(printf 'GET / HTTP/1.0\\r\\nHost: ${SVC}\\r\\n\\r\\n' | nc -w 2 "$ip" 80 | tail -n 1); echo "\${a:-FAIL}"; done`;
    return (await dk(h(from), 'exec', container, 'sh', '-c', script)).split('\n').filter(Boolean);
  };
  /** Hostnames (short container IDs) of the running tasks of the service, on all nodes. */
  const runningTasks = async (): Promise<string[]> => {
    const per = await Promise.all(hosts.map((host) => dk(host, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${SVC}`, '--filter', 'status=running')));
    return per.flatMap((out) => out.split('\n').filter(Boolean)).map((id) => id.slice(0, 12)).sort();
  };
  /** The tasks' addresses node `n`'s Docker lists for the service (gossip). */
  const gossipTasks = async (n: 1 | 2 | 3): Promise<string[]> => {
    const view = JSON.parse(await dk(h(n), 'network', 'inspect', '--verbose', NET)) as Array<{ Services?: Record<string, { Tasks?: Array<{ EndpointIP: string }> }> }>;
    return (view[0]?.Services?.[SVC]?.Tasks ?? []).map((t) => t.EndpointIP).sort();
  };
  /** The rotation's DNAT rules on a host: one per task (the rules of local tasks' own connections, `-s`, not counted). */
  const vipDnatRules = async (host: DockerHost): Promise<string[]> =>
    (await host.exec(['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => /^-A TSNET-VIP -d /.test(l));
  const tally = (answers: string[]) => answers.reduce<Record<string, number>>((acc, a) => ({ ...acc, [a]: (acc[a] ?? 0) + 1 }), {});

  it('a 3-replica VIP service, one task per node, and a client on every node: 30 HTTP requests from each reach all three tasks', async () => {
    await dk(h(1), 'network', 'create', '-d', FULL, '--ipam-driver', FULL, '--attachable', '-o', 'type=vxlan', '--subnet', SUBNET, NET);
    const t0 = Date.now();
    await dk(
      h(1),
      'service', 'create', '--detach', '--name', SVC, '--network', NET, '--replicas', '3', '--replicas-max-per-node', '1',
      '--stop-grace-period', '1s', '--no-resolve-image', IMAGE, 'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www',
    );
    for (const n of [1, 2, 3] as const) clients[n] = await dk(h(n), 'run', '-d', '--name', `client${n}`, '--network', NET, IMAGE, 'sleep', '3600');
    vip = (await dk(h(1), 'service', 'inspect', '-f', `{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}`, SVC)).split(' ')[0]!.split('/')[0]!;
    figures['service VIP'] = vip;
    const tasks = await eventually(async () => {
      const t = await runningTasks();
      assert.equal(t.length, 3);
      return t;
    }, { what: '3 running tasks', timeout: CONVERGE_MS, interval: 500 });
    await eventually(async () => assert.deepEqual((await httpFrom(1, 1)).filter((a) => tasks.includes(a)).length, 1), { what: 'a first answer through the VIP on h1', timeout: CONVERGE_MS, interval: 500 });
    figures['service create → first HTTP answer through the VIP (h1)'] = `${Date.now() - t0} ms`;
    for (const n of [1, 2, 3] as const) {
      const answers = await eventually(async () => {
        const a = await httpFrom(n, 30);
        assert.deepEqual([...new Set(a)].sort(), tasks, `client on h${n}: answers ${JSON.stringify(tally(a))}`);
        return a;
      }, { what: `30 requests from h${n} reaching the 3 tasks`, timeout: 30_000, interval: 1000 });
      figures[`h${n}: 30 requests to http://${SVC}/, answers per task`] = JSON.stringify(tally(answers));
    }
    // The VIP was logged as programmed on every node, workers included; the old warning is gone.
    for (const host of hosts) {
      assert.ok(pluginLines(host).some((l) => l.message === 'VIP programmed' && l.fields.vip === vip), `${host.name}: "VIP programmed" logged`);
      assert.ok(!pluginLines(host).some((l) => /will not answer/.test(l.message)), `${host.name}: no VIP-mode warning`);
    }
  });

  it('a task reaching its own service\'s VIP is answered by the two others, never by itself', async () => {
    const own = (await dk(h(1), 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${SVC}`, '--filter', 'status=running')).split('\n')[0]!;
    const tasks = await runningTasks();
    const answers = await httpFrom(1, 30, own);
    assert.deepEqual([...new Set(answers)].sort(), tasks.filter((t) => t !== own.slice(0, 12)), `answers ${JSON.stringify(tally(answers))}`);
    figures['task on h1 → its own VIP, 30 requests, answers per task'] = JSON.stringify(tally(answers));
  });

  it('a UDP server in each task answers through the VIP, from every node', async () => {
    for (const host of hosts) {
      for (const id of (await dk(host, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${SVC}`)).split('\n').filter(Boolean)) {
        const pid = await host.containerPid(id);
        udpServers.push(spawn(binaries().nsenter, ['-t', String(pid), '-n', '--', process.execPath, '-e', UDP_SERVER, id.slice(0, 12)], { stdio: 'ignore' }));
      }
    }
    const tasks = await runningTasks();
    for (const n of [1, 2, 3] as const) {
      const answers = await eventually(async () => {
        const r = await h(n).inContainerNs(clients[n]!, [process.execPath, '-e', UDP_CLIENT, vip, '30']);
        const a = JSON.parse(r.stdout) as string[];
        assert.ok(a.every((x) => x.endsWith(`@${vip}`)), `answers come from the VIP: ${a.join(', ')}`);
        assert.deepEqual([...new Set(a.map((x) => x.split('@')[0]!))].sort(), tasks);
        return a;
      }, { what: `UDP through the VIP from h${n}`, timeout: 20_000, interval: 1000 });
      figures[`h${n}: 30 UDP requests to the VIP, answers per task`] = JSON.stringify(tally(answers.map((a) => a.split('@')[0]!)));
    }
  });

  it('scaled to 5 then to 1: within 5 s of the gossip, answers come only from running tasks', async () => {
    await dk(h(1), 'service', 'update', '--detach', '--replicas-max-per-node', '0', '--replicas', '5', SVC);
    const five = await eventually(async () => {
      const t = await runningTasks();
      assert.equal(t.length, 5);
      for (const n of [1, 2, 3] as const) assert.equal((await gossipTasks(n)).length, 5, `h${n} gossip lists 5 tasks`);
      return t;
    }, { what: '5 running tasks, gossiped to every node', timeout: CONVERGE_MS, interval: 500 });
    await eventually(async () => {
      for (const n of [1, 2, 3] as const) assert.deepEqual([...new Set(await httpFrom(n, 30))].filter((a) => !five.includes(a)), [], `h${n}: only running tasks answer`);
      for (const host of hosts) assert.equal((await vipDnatRules(host)).length, 5, `${host.name}: 5 DNAT rules`);
    }, { what: 'the 5 tasks in rotation everywhere', timeout: 20_000, interval: 500 });
    await dk(h(1), 'service', 'scale', '--detach', `${SVC}=1`);
    const gossip = await eventually(async () => {
      for (const n of [1, 2, 3] as const) assert.equal((await gossipTasks(n)).length, 1, `h${n} gossip lists 1 task`);
      return Date.now();
    }, { what: 'every node\'s Docker listing 1 task', timeout: CONVERGE_MS, interval: 200 });
    await eventually(async () => {
      for (const host of hosts) assert.equal((await vipDnatRules(host)).length, 1, `${host.name}: 1 DNAT rule`);
    }, { what: 'one DNAT rule on every node', timeout: 5_000, interval: 100 });
    figures['scale 5 → 1: gossip of every node listing 1 task → 1 DNAT rule on every node'] = `${Date.now() - gossip} ms`;
    const one = await runningTasks();
    assert.equal(one.length, 1);
    for (const n of [1, 2, 3] as const) assert.deepEqual([...new Set(await httpFrom(n, 10))], one, `h${n}: only the running task answers, no failure`);
  });

  it('a plugin killed with kill -9 while its VIP rules are flushed programs them again when it is back', async () => {
    await dk(h(1), 'service', 'scale', '--detach', `${SVC}=3`);
    await eventually(async () => assert.equal((await vipDnatRules(h(2))).length, 3), { what: '3 DNAT rules on h2', timeout: CONVERGE_MS, interval: 500 });
    const pid = await pluginPid(h(2));
    const killedAt = Date.now();
    await h(2).exec(['kill', '-9', String(pid)]);
    await h(2).exec(['iptables', '-t', 'nat', '-F', 'TSNET-VIP']);
    await waitForPluginRestart(h(2), pid, killedAt);
    await eventually(async () => assert.equal((await vipDnatRules(h(2))).length, 3), { what: 'h2: 3 DNAT rules again', timeout: 30_000, interval: 200 });
    figures['plugin kill -9 on h2 (rules flushed) → VIP rules back'] = `${Date.now() - killedAt} ms`;
    const tasks = await runningTasks();
    await eventually(async () => assert.deepEqual([...new Set(await httpFrom(2, 30))].sort(), tasks), { what: 'h2\'s client reaching the 3 tasks', timeout: 20_000, interval: 1000 });
  });

  it('docker service rm: no VIP rule or address is left on any node', async () => {
    await dk(h(1), 'service', 'rm', SVC);
    await eventually(async () => {
      for (const host of hosts) {
        const nat = (await host.exec(['iptables-save', '-t', 'nat'])).stdout;
        assert.ok(!/TSNET-VIP/.test(nat), `${host.name}: no TSNET-VIP chain or rule left`);
        const addrs = (await host.exec(['ip', '-4', '-o', 'addr', 'show'])).stdout;
        assert.ok(!addrs.includes(` ${vip}/32`), `${host.name}: the VIP is no address any more`);
      }
    }, { what: 'no VIP rule or address on any node', timeout: 15_000, interval: 250 });
    for (const n of [1, 2, 3] as const) await dk(h(n), 'rm', '-f', clients[n]!);
  });
});
