// Real-Docker tier: a container that dies while dockerd is down, with --live-restore. Its published ports
// (DNAT rules, held host sockets, the loopback relay), its address and its veth must go when dockerd is back,
// while a container that lived through it keeps all of that.
//
// Observed (logging proxy on the plugin socket) on 28.5.2 and 20.10.24: when tsnet answers at dockerd's
// start, the restore itself sends RevokeExternalConnectivity, Leave, DeleteEndpoint and ReleaseAddress for
// the dead container (right after Plugin.Activate). When tsnet is down at that moment, those calls fail
// after the plugin look-up's retries (dockerd answered after 46 s on 28.5.2, 32 s on 20.10) and Docker forgets the endpoint:
// nothing is ever sent again, and tsnet's leak collector is what releases it.
import assert from 'node:assert/strict';
import { hostVethName } from '../../src/datapath/shared/names';
import { dk, DockerHost, ensureBusyboxImage, eventually, IMAGE, pidAlive, requireDocker, TSNET_ENTRY, tsnetAllocations, waitGone } from '../lab';
import { httpGetScript } from '../lab/http-get';

/** node -e HTTP_GET <url>: prints the body, exit 0; 1 on error, 2 on timeout (3 s). */
const HTTP_GET = httpGetScript(3000);

/** Collector settings of this suite: a pass every 0.5 s, released when 1 s old and missing twice. */
const GC = { TSNET_GC_INTERVAL_MS: '500', TSNET_GC_GRACE_MS: '1000' };
/** The stated bound: everything of the dead container is gone this long after it can be. */
const RELEASED_WITHIN_MS = 10_000;

describe('docker: --live-restore, a container that dies while dockerd is down', function () {
  let h: DockerHost | undefined;
  let engineMajor = 0;

  before(async function () {
    await requireDocker(this);
    h = await DockerHost.start({ name: 'lrst', dockerdArgs: ['--live-restore'], tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'debug', ...GC } } });
    engineMajor = Number((await dk(h, 'version', '-f', '{{.Server.Version}}')).split('.')[0]);
    await ensureBusyboxImage(h, IMAGE);
    await h.startTsnet();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.67.0.0/24', 'lr');
  });

  after(async function () {
    if (h && this.currentTest?.state === 'failed') console.error(`--- tsnet log ---\n${h.tsnetLog().slice(-8000)}\n--- dockerd log ---\n${h.dockerdLog().slice(-3000)}`);
    await h?.stop();
  });

  afterEach(async () => {
    if (!h) return;
    if (h.tsnetPid() === undefined) await h.startTsnet();
    if (!(await h.dockerdAlive())) await h.startDockerd(120_000);
    const names = (await h.docker(['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
    if (names.length) await h.docker(['rm', '-f', ...names], { allowFail: true });
  });

  async function web(name: string, hostPort: number, relayPort: number): Promise<void> {
    await dk(h!, 'run', '-d', '--name', name, '--network', 'lr', '-p', `${hostPort}:80`, '-p', `127.0.0.1:${relayPort}:80`, IMAGE, 'sh', '-c',
      `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 80 -h /www`);
    await eventually(async () => assert.equal(await get(`http://127.0.0.1:${relayPort}/`), name), { timeout: 10_000, what: `${name} answering through its relay` });
  }
  async function get(url: string): Promise<string | undefined> {
    const r = await h!.exec([process.execPath, '-e', HTTP_GET, url], { allowFail: true, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }
  async function facts(name: string) {
    const [ip, ep] = (await dk(h!, 'inspect', '-f', '{{.NetworkSettings.Networks.lr.IPAddress}} {{.NetworkSettings.Networks.lr.EndpointID}}', name)).split(' ');
    return { ip: ip!, ep: ep!, pid: await h!.containerPid(name) };
  }
  /** What the kernel and tsnet's store hold for an endpoint: DNAT rules, listening host ports, address, veth. */
  async function held(f: { ip: string; ep: string }, ports: number[]) {
    const nat = (await h!.exec(['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes(`:ep:${f.ep.slice(0, 12)}"`));
    const listening = (await h!.exec(['ss', '-Hltn'])).stdout;
    const links = (JSON.parse((await h!.exec(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname);
    return {
      dnatRules: nat.length,
      ports: ports.filter((p) => new RegExp(`:${p}\\s`).test(listening)),
      address: tsnetAllocations(h!).includes(f.ip),
      veth: links.includes(hostVethName(f.ep)),
    };
  }
  async function killWhileDockerdDown(pid: number): Promise<void> {
    await h!.stopDockerd(); // live-restore: containers keep running
    assert.ok(pidAlive(pid), 'the container outlived dockerd (live-restore)');
    process.kill(pid, 'SIGKILL');
    assert.deepEqual(await waitGone([pid], 5000), [], 'the container died');
  }
  const callsFor = (ep: string, from: number) =>
    h!
      .tsnetLog()
      .slice(from)
      .split('\n')
      .filter((l) => l.includes('"message":"call"') && l.includes(ep))
      .map((l) => (JSON.parse(l) as { call: string }).call);

  it('tsnet up while dockerd restores: the dead one\'s ports, relay, rules, address and veth are released at once, the live one keeps its own (28.5.2, 20.10)', async () => {
    await web('dead', 8080, 8090);
    await web('live', 8081, 8091);
    const dead = await facts('dead');
    const live = await facts('live');
    assert.deepEqual(await held(dead, [8080, 8090]), { dnatRules: 1, ports: [8080, 8090], address: true, veth: true });
    await killWhileDockerdDown(dead.pid);
    const logFrom = h!.tsnetLog().length;
    await h!.startDockerd();
    const back = Date.now();
    await eventually(async () => assert.deepEqual(await held(dead, [8080, 8090]), { dnatRules: 0, ports: [], address: false, veth: false }), {
      timeout: RELEASED_WITHIN_MS,
      interval: 250,
      what: 'the dead container\'s ports, rules, address and veth released',
    });
    console.log(`      released ${Date.now() - back} ms after dockerd answered; Docker's calls for it: ${callsFor(dead.ep, logFrom).join(', ') || 'none'}`);
    // Both engines send the cleanup themselves at restore when the plugin answers.
    assert.deepEqual(callsFor(dead.ep, logFrom).slice(0, 3), ['/NetworkDriver.RevokeExternalConnectivity', '/NetworkDriver.Leave', '/NetworkDriver.DeleteEndpoint'], `engine ${engineMajor}`);
    assert.deepEqual(await held(live, [8081, 8091]), { dnatRules: 1, ports: [8081, 8091], address: true, veth: true });
    assert.equal(await get('http://127.0.0.1:8091/'), 'live', 'the live one through its relay');
    assert.equal(await get(`http://${live.ip}/`), 'live', 'and by its address');
  });

  it('tsnet down while dockerd restores: Docker\'s calls fail and are never sent again; the leak collector releases the dead one within seconds of tsnet\'s start, the live one keeps its own (28.5.2, 20.10)', async () => {
    await web('dead2', 8082, 8092);
    await web('live2', 8083, 8093);
    const dead = await facts('dead2');
    const live = await facts('live2');
    await killWhileDockerdDown(dead.pid);
    await h!.stopTsnet();
    const started = Date.now();
    await h!.startDockerd(120_000); // the restore waits on the absent plugin (look-up retries) before answering
    console.log(`      dockerd answered after ${Date.now() - started} ms with tsnet down`);
    const listed = await dk(h!, 'network', 'inspect', '-f', '{{range .Containers}}{{.EndpointID}} {{end}}', 'lr');
    assert.ok(!listed.includes(dead.ep), 'Docker forgot the dead endpoint');
    assert.ok(listed.includes(live.ep), 'and lists the live one');
    const logFrom = h!.tsnetLog().length;
    await h!.startTsnet();
    const up = Date.now();
    await eventually(async () => assert.deepEqual(await held(dead, [8082, 8092]), { dnatRules: 0, ports: [], address: false, veth: false }), {
      timeout: RELEASED_WITHIN_MS,
      interval: 250,
      what: 'the leak collector releasing the dead container\'s ports, rules, address and veth',
    });
    console.log(`      released ${Date.now() - up} ms after tsnet started (TSNET_GC_INTERVAL_MS=500, TSNET_GC_GRACE_MS=1000)`);
    assert.deepEqual(callsFor(dead.ep, logFrom), [], 'Docker sent nothing for it');
    assert.ok(h!.tsnetLog().slice(logFrom).split('\n').some((l) => l.includes('released an endpoint Docker no longer lists') && l.includes(dead.ep)), 'released by the leak collector');
    assert.deepEqual(await held(live, [8083, 8093]), { dnatRules: 1, ports: [8083, 8093], address: true, veth: true });
    assert.equal(await get('http://127.0.0.1:8093/'), 'live2', 'the live one through its relay');
  });
});
