// Real-Docker tier for the `tsnet` command and the metrics (issue 16): every subcommand in table and JSON
// form against bridge, vxlan and macvlan networks of a real dockerd; `tsnet ports` shows a -P port that
// answers; `tsnet doctor` passes on a healthy host, names each injected fault (a deleted bridge, a flushed
// tsnet chain, a stale FDB entry, a state directory near full, an admin rule that cannot apply) and passes
// again after the repair its own output names; /metrics (socket and TSNET_METRICS_ADDR) parses and its
// counters move with the calls made. The command runs inside the host's namespaces, as an operator would.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { EndpointView, NetworkView, PeerView, StatusView } from '../../src/protocol';
import { buildPluginDir, dk, DockerHost, ensureBusyboxImage, eventually, IMAGE, installManagedPlugin, parsePromText, requireDocker, sampleValue, TSNET_ENTRY, Underlay, unixRequest } from '../lab';
import { httpGetScript } from '../lab/http-get';

const CLI = path.resolve(__dirname, '../../src/cli/main.js');
const HOST = '10.211.0.1';
const PEER = '10.211.0.2';
const METRICS_ADDR = '127.0.0.1:9917';
const STATE_TMPFS_MB = 96;

const HTTP_GET = httpGetScript(3000);

describe('docker: the tsnet command and /metrics', function () {
  let underlay: Underlay | undefined;
  let h: DockerHost;
  const ids: Record<string, string> = {};

  async function tsnet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await h.exec([process.execPath, CLI, ...args], { allowFail: true, timeoutMs: 60_000 });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }
  async function ok(...args: string[]): Promise<string> {
    const r = await tsnet(...args);
    assert.equal(r.code, 0, `tsnet ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }
  async function json<T>(...args: string[]): Promise<T> {
    return JSON.parse(await ok('--json', ...args)) as T;
  }
  async function metrics() {
    const r = await unixRequest(h.pluginSocketPath(), 'GET', '/metrics', undefined, 5000);
    assert.equal(r.status, 200);
    return parsePromText(r.body);
  }
  /** doctor, exit status and findings (JSON form). */
  async function doctor(): Promise<{ code: number; findings: Array<{ check: string; level: string; message: string; fix?: string }> }> {
    const r = await tsnet('--json', 'doctor');
    assert.ok(r.code === 0 || r.code === 1, `doctor exited ${r.code}: ${r.stderr}`);
    return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Array<{ check: string; level: string; message: string }> }).findings };
  }
  const problems = (d: Awaited<ReturnType<typeof doctor>>) => d.findings.filter((f) => f.level !== 'ok');
  async function restartTsnet(): Promise<void> {
    await h.stopTsnet();
    await h.startTsnet();
  }

  before(async function () {
    await requireDocker(this);
    underlay = await Underlay.create('clisw');
    h = await DockerHost.start({ name: 'cli', underlay: underlay.attach(`${HOST}/24`), tsnet: { entry: TSNET_ENTRY, env: { TSNET_METRICS_ADDR: METRICS_ADDR } } });
    await ensureBusyboxImage(h, IMAGE);
    // The state directory on a small tmpfs of its own, so that "nearly full" can be made and undone.
    await h.exec(['mkdir', '-p', h.tsnetStateDir]);
    await h.exec(['mount', '-t', 'tmpfs', '-o', `size=${STATE_TMPFS_MB}m,mode=0700`, 'tsnet-state', h.tsnetStateDir]);
    await h.startTsnet();
    ids.br = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.212.0.0/24', 'cbr');
    ids.vx = await dk(h, 'network', 'create', '-d', 'tsnet', '-o', 'type=vxlan', '-o', 'vni=4242', '-o', `peers=${HOST},${PEER}`, '--subnet', '10.213.0.0/24', '--gateway', '10.213.0.1', 'cvx');
    ids.mv = await dk(h, 'network', 'create', '-d', 'tsnet', '-o', 'type=macvlan', '-o', 'parent=eth0', '--subnet', '10.214.0.0/24', 'cmv');
    await dk(h, 'run', '-d', '--name', 'web', '--network', 'cbr', '--expose', '80', '-P', IMAGE, 'sh', '-c', 'mkdir -p /www && echo web > /www/index.html && exec httpd -f -p 80 -h /www');
    await dk(h, 'run', '-d', '--name', 'ovl', '--network', 'cvx', IMAGE, 'sleep', '3600');
    await dk(h, 'run', '-d', '--name', 'mac', '--network', 'cmv', IMAGE, 'sleep', '3600');
  });

  after(async function () {
    if (h && this.currentTest?.state === 'failed') console.error(`--- tsnet log (tail) ---\n${h.tsnetLog().slice(-6000)}`);
    await h?.stop();
    await underlay?.destroy();
  });

  it('status: version, instance, engine and backend, store, counts and background tasks (table and JSON)', async () => {
    const text = await ok('status');
    console.log(`      tsnet status:\n${text.replace(/^/gm, '        ')}`);
    assert.match(text, /^Instance: +tsnet$/m);
    assert.match(text, /^Engine: +Docker \d+\.\d+/m);
    assert.match(text, /^Firewall backend: +iptables (nft|legacy)/m);
    assert.match(text, /^reconcile +1 +0 +\S.* ok /m);
    const s = await json<StatusView & { engine: { version?: string } }>('status');
    assert.deepEqual(s.counts, { networks: 3, endpoints: 3, pools: 1 });
    assert.equal(s.scope, 'local');
    assert.ok(s.engine.version, 'engine version read through the Docker API');
    assert.deepEqual(s.tasks.map((t) => t.name), ['reconcile', 'firewall check', 'peer refresh', 'leak collector']);
  });

  it('networks: type, subnet, bridge or parent, VNI, MTU, with Docker\'s names', async () => {
    const text = await ok('networks');
    console.log(`      tsnet networks:\n${text.replace(/^/gm, '        ')}`);
    assert.match(text, /^NETWORK ID +NAME +TYPE +SUBNET +BRIDGE\/PARENT +VNI +MTU +ENDPOINTS$/m);
    assert.match(text, new RegExp(`^${ids.vx!.slice(0, 12)} +cvx +vxlan +10\\.213\\.0\\.0/24 +ts-\\S+ +4242 +1450 +1$`, 'm'));
    assert.match(text, new RegExp(`^${ids.mv!.slice(0, 12)} +cmv +macvlan +10\\.214\\.0\\.0/24 +eth0 +- `, 'm'));
    const nets = await json<Array<NetworkView & { name?: string }>>('networks');
    assert.deepEqual(nets.map((n) => [n.name, n.type]).sort(), [['cbr', 'bridge'], ['cmv', 'macvlan'], ['cvx', 'vxlan']]);
  });

  it('endpoints [NETWORK]: container, address, MAC, host interface', async () => {
    const text = await ok('endpoints', 'cbr');
    console.log(`      tsnet endpoints cbr:\n${text.replace(/^/gm, '        ')}`);
    assert.match(text, /^\S{12} +web +cbr +bridge +10\.212\.0\.\d+\/24 +([0-9a-f]{2}:){5}[0-9a-f]{2} +tsv[0-9a-f]{12}$/m);
    const all = await json<Array<EndpointView & { container?: string }>>('endpoints');
    assert.deepEqual(all.map((e) => e.container).sort(), ['mac', 'ovl', 'web']);
    const mv = await json<Array<EndpointView & { container?: string }>>('endpoints', ids.mv!.slice(0, 12));
    assert.deepEqual(mv.map((e) => [e.container, e.type]), [['mac', 'macvlan']]);
  });

  it('ports: the -P port as `docker port` prints it, and a connection to it works', async () => {
    const line = (await ok('ports', 'web')).trim();
    console.log(`      tsnet ports web: ${line}`);
    const m = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(line);
    assert.ok(m, `unexpected: ${line}`);
    const all = await ok('ports');
    assert.match(all, new RegExp(`^web +cbr +\\S{12} +80/tcp -> 0\\.0\\.0\\.0:${m[1]}$`, 'm'));
    const rows = await json<Array<{ container: string; binding: { HostPort: number } }>>('ports');
    assert.deepEqual(rows.map((r) => [r.container, r.binding.HostPort]), [['web', Number(m[1])]]);
    const body = await eventually(async () => {
      const r = await h.exec([process.execPath, '-e', HTTP_GET, `http://${HOST}:${m[1]}/`], { allowFail: true });
      assert.equal(r.code, 0, `GET http://${HOST}:${m[1]}/ failed (${r.code})`);
      return r.stdout.trim();
    }, { timeout: 10_000, what: 'the -P port answers' });
    assert.equal(body, 'web');
  });

  it('peers [NETWORK]: the static VXLAN peers with their source', async () => {
    const text = await ok('peers', 'cvx');
    console.log(`      tsnet peers cvx:\n${text.replace(/^/gm, '        ')}`);
    assert.match(text, new RegExp(`^cvx +${PEER.replace(/\./g, '\\.')} +static +${PEER.replace(/\./g, '\\.')} +never$`, 'm'));
    const peers = await json<PeerView[]>('peers');
    assert.deepEqual(peers.filter((p) => p.address === PEER).map((p) => [p.networkId, p.sources]), [[ids.vx, ['static']]]);
  });

  it('doctor passes on the healthy host (warnings only)', async () => {
    const r = await tsnet('doctor');
    console.log(`      tsnet doctor:\n${r.stdout.replace(/^/gm, '        ')}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^CHECK +RESULT +DETAIL$/m);
    const d = await doctor();
    assert.deepEqual(problems(d).filter((f) => f.level === 'fail'), []);
    assert.ok(d.findings.some((f) => f.check === 'egress filter' && f.level === 'ok'), 'the ebtables egress filter was checked');
  });

  it('doctor names a deleted bridge and passes after the restart it names as the fix', async () => {
    const bridge = (await json<NetworkView[]>('networks')).find((n) => n.id === ids.br)!.bridge!;
    await h.exec(['ip', 'link', 'del', bridge]);
    const d = await doctor();
    assert.equal(d.code, 1);
    const shown = await tsnet('doctor');
    console.log(`      tsnet doctor (bridge deleted), exit ${shown.code}:\n${shown.stdout.replace(/^/gm, '        ')}`);
    const f = problems(d).find((x) => x.message.includes(`bridge ${bridge} of network cbr`));
    assert.ok(f, JSON.stringify(problems(d)));
    assert.match(f.fix ?? '', /restart tsnet/);
    await restartTsnet();
    await eventually(async () => assert.equal((await doctor()).code, 0), { timeout: 20_000, what: 'doctor passes after the restart' });
  });

  it('doctor names a flushed tsnet chain and passes after the restart', async () => {
    const backend = (await json<StatusView>('status')).firewall.backend;
    await h.exec([backend === 'legacy' ? 'iptables-legacy' : 'iptables-nft', '-F', 'TSNET-FWD']);
    const d = await doctor();
    assert.equal(d.code, 1);
    assert.ok(problems(d).some((x) => x.check === 'chains' && /network cbr .* has no rule in filter TSNET-FWD \(chain flushed\?\)/.test(x.message)), JSON.stringify(problems(d)));
    await restartTsnet();
    await eventually(async () => assert.equal((await doctor()).code, 0), { timeout: 20_000, what: 'doctor passes after the restart' });
  });

  it('doctor names a stale FDB entry and its fix removes it', async () => {
    const vx = (await json<NetworkView[]>('networks')).find((n) => n.id === ids.vx)!.vxlanDevice!;
    await h.exec(['bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', vx, 'dst', '10.211.0.77']);
    const f = problems(await doctor()).find((x) => x.check === 'fdb');
    assert.ok(f && f.message.includes(`stale flood entry on ${vx} to 10.211.0.77`), JSON.stringify(f));
    await h.exec((f.fix ?? '').split(' '));
    assert.equal(problems(await doctor()).find((x) => x.check === 'fdb'), undefined);
  });

  it('doctor names an admin rule that cannot apply (after tsnet\'s hook, naming its bridge) and passes once it is in DOCKER-USER', async () => {
    const backend = (await json<StatusView>('status')).firewall.backend;
    const ipt = backend === 'legacy' ? 'iptables-legacy' : 'iptables-nft';
    const bridge = (await json<NetworkView[]>('networks')).find((n) => n.id === ids.br)!.bridge!;
    const rule = ['-i', bridge, '-p', 'tcp', '-m', 'tcp', '--dport', '9', '-j', 'DROP'];
    await h.exec([ipt, '-A', 'FORWARD', ...rule]);
    const d = await doctor();
    assert.equal(d.code, 1);
    assert.ok(problems(d).some((x) => x.check === 'admin rules' && x.message.includes(`names tsnet's bridge ${bridge} but comes after tsnet's hook`)), JSON.stringify(problems(d)));
    await h.exec([ipt, '-D', 'FORWARD', ...rule]);
    await h.exec([ipt, '-I', 'DOCKER-USER', ...rule]);
    assert.equal((await doctor()).code, 0);
    await h.exec([ipt, '-D', 'DOCKER-USER', ...rule]);
    // Docker 20.10's DOCKER-USER ends in -j RETURN (28.2 dropped it): a rule appended with -A lands after it.
    const userChain = (await h.exec([`${ipt}-save`, '-t', 'filter'])).stdout;
    if (/^-A DOCKER-USER -j RETURN$/m.test(userChain)) {
      const admin = ['-s', '10.9.9.9/32', '-j', 'DROP'];
      await h.exec([ipt, '-A', 'DOCKER-USER', ...admin]);
      const late = problems(await doctor()).find((x) => x.check === 'admin rules');
      assert.ok(late && late.level === 'fail' && late.message.includes("comes after the chain's unconditional -j RETURN"), JSON.stringify(late));
      await h.exec(['sh', '-c', late.fix!.replace(/iptables /g, `${ipt} `)]);
      assert.equal((await doctor()).code, 0);
      await h.exec([ipt, '-D', 'DOCKER-USER', ...admin]);
      console.log(`      (DOCKER-USER ends in -j RETURN here: a rule appended after it was named and fixed)`);
    }
  });

  it('a removed hook: doctor names it, tsnet\'s firewall check puts it back and tsnet_firewall_repairs_total moves', async () => {
    const s = await json<StatusView>('status');
    const ipt = s.firewall.backend === 'legacy' ? 'iptables-legacy' : 'iptables-nft';
    const hook = s.firewall.hooks.find((x) => x.table === 'filter' && x.chain === 'FORWARD')!;
    const repairs = async () => sampleValue(await metrics(), 'tsnet_firewall_repairs_total') ?? 0;
    const before = await repairs();
    await h.exec(['sh', '-c', `${ipt} -D FORWARD ${hook.spec}`]);
    const d = await doctor();
    assert.ok(problems(d).some((x) => x.check === 'hooks' && x.message.includes('missing in filter FORWARD')), JSON.stringify(problems(d)));
    // The check runs every 10 s.
    await eventually(async () => assert.ok((await repairs()) > before), { timeout: 25_000, what: 'a firewall repair counted' });
    assert.equal((await doctor()).code, 0);
    const check = (await json<StatusView>('status')).tasks.find((t) => t.name === 'firewall check');
    assert.ok(check && check.runs >= 1 && check.ok === true, JSON.stringify(check));
  });

  it('doctor names a state directory near full and passes once space is freed', async () => {
    const free = (await json<StatusView>('status')).store.diskFreeBytes!;
    const fill = Math.floor(free / 1024 / 1024) - 8; // leave ~8 MiB
    await h.exec(['fallocate', '-l', `${fill}M`, path.join(h.tsnetStateDir, 'filler')]);
    try {
      // The daemon reads the free space per call.
      const f = problems(await doctor()).find((x) => x.check === 'state dir');
      assert.ok(f && f.level === 'fail' && /MiB free for /.test(f.message), JSON.stringify(f));
    } finally {
      await h.exec(['rm', '-f', path.join(h.tsnetStateDir, 'filler')]);
    }
    assert.equal(problems(await doctor()).find((x) => x.check === 'state dir'), undefined);
  });

  it('/metrics on the socket and on TSNET_METRICS_ADDR parses, and its counters move with the calls made', async () => {
    const before = await metrics();
    const joins = (m: typeof before) => sampleValue(m, 'tsnet_calls_total', { call: '/NetworkDriver.Join', status: '200' }) ?? 0;
    const creates = (m: typeof before) => sampleValue(m, 'tsnet_calls_total', { call: '/NetworkDriver.CreateEndpoint', status: '200' }) ?? 0;
    await dk(h, 'run', '-d', '--name', 'extra', '--network', 'cbr', IMAGE, 'sleep', '3600');
    const after = await metrics();
    const raw = await unixRequest(h.pluginSocketPath(), 'GET', '/metrics', undefined, 5000);
    console.log(`      /metrics (tsnet_ lines):\n${raw.body.split('\n').filter((l) => /^tsnet_(calls_total\{call="\/NetworkDriver\.(Join|CreateEndpoint)"|endpoints|ipam|vxlan|firewall|leak|reconcile)/.test(l)).join('\n').replace(/^/gm, '        ')}`);
    assert.equal(joins(after) - joins(before), 1);
    assert.equal(creates(after) - creates(before), 1);
    assert.equal(sampleValue(after, 'tsnet_endpoints', { network: ids.br!.slice(0, 12), type: 'bridge' }), 2);
    assert.ok((sampleValue(after, 'tsnet_vxlan_peers', { network: ids.vx!.slice(0, 12), source: 'static' }) ?? 0) >= 1);
    assert.ok((sampleValue(after, 'tsnet_reconcile_duration_seconds') ?? -1) >= 0);
    assert.ok((sampleValue(after, 'tsnet_firewall_repairs_total') ?? -1) >= 0);
    assert.ok(after.has('process_resident_memory_bytes'));
    const tcp = await h.exec([process.execPath, '-e', HTTP_GET, `http://${METRICS_ADDR}/metrics`]);
    const overTcp = parsePromText(tcp.stdout);
    assert.ok(joins(overTcp) >= joins(after));
    const notThere = await h.exec([process.execPath, '-e', HTTP_GET, `http://${METRICS_ADDR}/tsnet/v1/status`]);
    assert.match(notThere.stdout, /only GET \/metrics/);
    await dk(h, 'rm', '-f', 'extra');
  });
});

describe('docker: the tsnet command against the managed plugin (tsnet:latest)', function () {
  this.timeout(300_000);
  let h: DockerHost | undefined;

  async function tsnet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await h!.exec([process.execPath, CLI, ...args], { allowFail: true, timeoutMs: 60_000 });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  before(async function () {
    await requireDocker(this, 'managed plugin');
    h = await DockerHost.start({ name: 'clip' });
    await ensureBusyboxImage(h, IMAGE);
    await installManagedPlugin(h, await buildPluginDir());
    // Docker puts a managed plugin's sockets in /run/docker/plugins/<plugin id>/ (whatever its exec-root).
    await dk(h, 'network', 'create', '-d', 'tsnet:latest', '--ipam-driver', 'tsnet:latest', '--subnet', '10.215.0.0/24', 'mnet');
    await dk(h, 'run', '-d', '--name', 'mweb', '--network', 'mnet', '--expose', '80', '-P', IMAGE, 'sleep', '3600');
  });

  after(async function () {
    if (h) {
      await h.docker(['rm', '-f', 'mweb'], { allowFail: true });
      await h.docker(['network', 'rm', 'mnet'], { allowFail: true });
      await h.docker(['plugin', 'disable', '-f', 'tsnet'], { allowFail: true, timeoutMs: 60_000 });
    }
    await h?.stop();
  });

  it('finds the plugin\'s socket under /run/docker/plugins/<id>/ by itself; every subcommand answers', async () => {
    const pluginId = await dk(h!, 'plugin', 'inspect', '-f', '{{.Id}}', 'tsnet');
    const status = await tsnet('--json', 'status');
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as StatusView;
    assert.equal(s.counts.networks, 1);
    assert.equal(s.stateDir, '/var/lib/tsnet');
    const text = await tsnet('status');
    assert.match(text.stdout, /^Instance: +tsnet$/m);
    const nets = await tsnet('networks');
    assert.match(nets.stdout, /^\S{12} +mnet +bridge +10\.215\.0\.0\/24 +ts-/m);
    const eps = await tsnet('endpoints', 'mnet');
    assert.match(eps.stdout, /^\S{12} +mweb +mnet +bridge +10\.215\.0\.\d+\/24 /m);
    const ports = await tsnet('ports', 'mweb');
    assert.match(ports.stdout, /^80\/tcp -> 0\.0\.0\.0:\d+$/m);
    assert.equal((await tsnet('peers')).code, 0);
    const doctor = await tsnet('doctor');
    console.log(`      tsnet doctor (managed plugin ${pluginId.slice(0, 12)}):\n${doctor.stdout.replace(/^/gm, '        ')}`);
    assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
  });
});
