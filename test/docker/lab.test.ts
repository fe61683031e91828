// Smoke test of the docker-tier harness itself (root only; skips loudly otherwise): a host comes up with its own
// dockerd, runs busybox containers, talks to a stand-in plugin on its private /run/docker/plugins, two hosts
// reach each other over an underlay, stop() leaves nothing behind, and cleanupStale() removes a crashed run.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canRunDocker, cleanupStale, DockerHost, ensureBusyboxImage, pidAlive, pidsWithCmdline as pidsWithCmdlineForTest, stopAllHosts, Underlay } from '../lab';

// A stand-in for tsnet (the real daemon is tested elsewhere): logs each call as a JSON line, answers minimally.
const STUB = `
const http = require('http');
const fs = require('fs');
const sock = process.env.TSNET_SOCKET;
try { fs.unlinkSync(sock); } catch {}
const replies = {
  '/Plugin.Activate': { Implements: ['NetworkDriver'] },
  '/NetworkDriver.GetCapabilities': { Scope: 'local', ConnectivityScope: 'local' },
};
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    console.log(JSON.stringify({ call: req.url, body }));
    res.setHeader('Content-Type', 'application/vnd.docker.plugins.v1.1+json');
    res.end(JSON.stringify(replies[req.url] || {}));
  });
});
server.listen(sock, () => console.log(JSON.stringify({ listening: sock, state: process.env.TSNET_STATE_DIR, extra: process.env.STUB_EXTRA })));
process.on('SIGTERM', () => { try { fs.unlinkSync(sock); } catch {} process.exit(0); });
`;

function ipNetnsList(): string[] {
  try {
    return fs.readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function mountinfoMentions(s: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(s));
}

function cgroupLeftovers(id: string): string[] {
  const out: string[] = [];
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const p = path.join('/sys/fs/cgroup', h, 'tsnet-test', id);
    if (fs.existsSync(p)) out.push(p);
  }
  if (fs.existsSync('/sys/fs/cgroup/tsnet-test/' + id)) out.push('/sys/fs/cgroup/tsnet-test/' + id);
  return out;
}

function nsIno(pid: number, kind: string): number {
  return Number(/\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${pid}/ns/${kind}`))![1]);
}

/** Everything a host made must be gone. */
function assertHostGone(h: { dir: string; netns: string; id: string }, pids: number[], netIno?: number, mntIno?: number): void {
  assert.ok(!fs.existsSync(h.dir), `scratch dir ${h.dir} still exists`);
  assert.ok(!ipNetnsList().includes(h.netns), `netns ${h.netns} still exists`);
  assert.deepEqual(mountinfoMentions(h.dir), [], 'mounts under the scratch dir remain');
  assert.deepEqual(pids.filter(pidAlive), [], 'processes of the host are still alive');
  assert.deepEqual(pidsWithCmdlineForTest(h.dir), [], 'processes naming the scratch dir remain');
  assert.deepEqual(cgroupLeftovers(h.id), [], 'cgroup dirs remain');
  for (const p of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (netIno !== undefined) assert.notEqual(nsIno(Number(p), 'net'), netIno, `pid ${p} still in the host netns`);
      if (mntIno !== undefined) assert.notEqual(nsIno(Number(p), 'mnt'), mntIno, `pid ${p} still in the host mount ns`);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
    }
  }
}

describe('docker harness (smoke)', function () {
  this.timeout(120_000);
  const can = canRunDocker();
  let stubDir = '';
  let stubEntry = '';

  before(async function () {
    if (!can.ok) {
      console.warn(`\n  *** SKIPPING docker tier: ${can.reason} ***\n`);
      this.skip();
    }
    const removed = await cleanupStale();
    if (removed.length) console.log(`  cleanupStale: ${removed.join('; ')}`);
    stubDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-stub-'));
    stubEntry = path.join(stubDir, 'stub.js');
    fs.writeFileSync(stubEntry, STUB);
  });

  after(async () => {
    await stopAllHosts(); // safety net: every test block stops its own hosts
    if (stubDir) fs.rmSync(stubDir, { recursive: true, force: true });
  });

  describe('one host', () => {
    let h: DockerHost | undefined;
    let startMs = 0;

    before(async () => {
      const t0 = Date.now();
      h = await DockerHost.start({ name: 'h1', tsnet: { entry: stubEntry, env: { STUB_EXTRA: 'from-options' } } });
      startMs = Date.now() - t0;
      console.log(`      host start: ${startMs} ms`);
    });

    after(async () => {
      await h?.stop();
    });

    it('answers docker info, with the host name from its UTS namespace', async () => {
      const r = await h!.docker(['info', '--format', '{{.Name}} {{.Driver}} {{.ServerVersion}}']);
      const [name, driver] = r.stdout.trim().split(' ');
      assert.equal(name, 'h1');
      assert.ok(['overlay2', 'vfs'].includes(driver), r.stdout);
      console.log(`      docker info: ${r.stdout.trim()}`);
    });

    it('has its own netns, sysfs and private /run/docker', async () => {
      assert.equal((await h!.exec(['hostname'])).stdout.trim(), 'h1');
      const links = (await h!.exec(['ip', '-o', 'link'])).stdout;
      assert.match(links, /\bdocker0\b/);
      const sysNet = fs.readdirSync(`/proc/${h!.dockerdPid()}/root/sys/class/net`);
      assert.ok(sysNet.includes('docker0') && sysNet.includes('lo'), sysNet.join(','));
      assert.equal((await h!.exec(['ls', '/run/docker/plugins'])).code, 0);
      assert.ok(fs.readdirSync('/sys/fs/cgroup').length > 0);
      const cg = (await h!.exec(['ls', '/sys/fs/cgroup'])).stdout.split(/\s+/).filter(Boolean);
      assert.ok(cg.length > 0, 'cgroup mounts kept inside the host');
    });

    it('imports the busybox image', async () => {
      const t0 = Date.now();
      await ensureBusyboxImage(h!);
      await ensureBusyboxImage(h!); // second call: no-op
      console.log(`      image import: ${Date.now() - t0} ms`);
      assert.equal((await h!.docker(['image', 'inspect', 'bb:latest'], { allowFail: true })).code, 0);
    });

    it('restarts its dockerd (stopDockerd/startDockerd) keeping the data root', async () => {
      const pid = h!.dockerdPid()!;
      const t0 = Date.now();
      await h!.stopDockerd();
      assert.ok(!pidAlive(pid));
      assert.equal(await h!.dockerdAlive(), false);
      await h!.startDockerd();
      console.log(`      dockerd restart: ${Date.now() - t0} ms`);
      assert.notEqual(h!.dockerdPid(), pid);
      assert.equal((await h!.docker(['image', 'inspect', 'bb:latest'], { allowFail: true })).code, 0);
    });

    it('runs a container with --network none', async () => {
      const r = await h!.docker(['run', '--rm', '--network', 'none', 'bb:latest', 'echo', 'hi']);
      assert.equal(r.stdout.trim(), 'hi');
    });

    it('runs a container on the default bridge', async () => {
      const r = await h!.docker(['run', '--rm', 'bb:latest', 'sh', '-c', 'echo hi; ip -o -4 addr show eth0']);
      assert.match(r.stdout, /^hi\n/);
      assert.match(r.stdout, /inet 172\.17\./);
    });

    it('lets a container ping another on the default bridge; containerPid / inContainerNs work', async () => {
      await h!.docker(['run', '-d', '--name', 'c1', 'bb:latest', 'sleep', '600']);
      const ip1 = (await h!.docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'c1'])).stdout.trim();
      assert.match(ip1, /^172\.17\./);
      const r = await h!.docker(['run', '--rm', 'bb:latest', 'ping', '-c', '2', '-W', '2', ip1]);
      assert.match(r.stdout, /2 packets received/);
      const pid = await h!.containerPid('c1');
      assert.ok(pid > 0);
      const a = await h!.inContainerNs('c1', ['ip', '-o', '-4', 'addr', 'show', 'eth0']);
      assert.ok(a.stdout.includes(`inet ${ip1}/`), a.stdout);
      // c1 stays: stop() must remove a running container (busybox sleep ignores SIGTERM)
    });

    it('starts a stand-in plugin in the private /run/docker/plugins and dockerd uses it', async () => {
      await h!.startTsnet({ STUB_EXTRA: 'from-call' });
      assert.ok(h!.tsnetPid()! > 0);
      assert.ok(!fs.existsSync('/run/docker/plugins/tsnet.sock'), 'socket must not appear in the root mount namespace');
      const caps = await h!.pluginCall('/NetworkDriver.GetCapabilities');
      assert.deepEqual(caps.json, { Scope: 'local', ConnectivityScope: 'local' });
      await h!.docker(['network', 'create', '-d', 'tsnet', 'stubnet']);
      assert.match((await h!.docker(['network', 'ls', '--filter', 'driver=tsnet', '--format', '{{.Name}}'])).stdout, /stubnet/);
      await h!.docker(['network', 'rm', 'stubnet']);
      const log = h!.tsnetLog();
      assert.match(log, /"state":"[^"]*tsnet-state"/);
      assert.match(log, /"extra":"from-call"/);
      assert.match(log, /NetworkDriver\.CreateNetwork/);
      assert.match(log, /NetworkDriver\.DeleteNetwork/);
      const pid = h!.tsnetPid()!;
      await h!.stopTsnet();
      assert.ok(!pidAlive(pid));
      assert.equal(h!.tsnetPid(), undefined);
      // restart (SIGKILL path too)
      await h!.startTsnet();
      const pid2 = h!.tsnetPid()!;
      await h!.stopTsnet('SIGKILL');
      assert.ok(!pidAlive(pid2));
      await h!.startTsnet(); // left running: stop() must end it
    });

    it('stop() removes containers, daemons, namespaces, mounts, cgroups and the scratch dir; twice is fine', async () => {
      const host = h!;
      const pids = [host.dockerdPid()!, host.tsnetPid()!, ...pidsWithCmdlineForTest(host.dir), await host.containerPid('c1')];
      assert.ok(pids.every((p) => p > 0) && pids.length >= 4, `pids ${pids}`);
      const netIno = nsIno(host.dockerdPid()!, 'net');
      const mntIno = nsIno(host.dockerdPid()!, 'mnt');
      const t0 = Date.now();
      await host.stop();
      console.log(`      host stop: ${Date.now() - t0} ms (with a running container and the plugin)`);
      assertHostGone(host, pids, netIno, mntIno);
      await host.stop();
    });
  });

  describe('two hosts on an underlay', () => {
    let u: Underlay | undefined;
    const hosts: DockerHost[] = [];

    after(async () => {
      await Promise.all(hosts.map((h) => h.stop()));
      await u?.destroy();
    });

    it('start in parallel and reach each other (hosts and containers)', async () => {
      u = await Underlay.create();
      const t0 = Date.now();
      hosts.push(
        ...(await Promise.all([
          DockerHost.start({ name: 'h1', underlay: u.attach('10.210.0.1/24') }),
          DockerHost.start({ name: 'h2', underlay: u.attach('10.210.0.2/24') }),
        ])),
      );
      console.log(`      2 hosts start (parallel): ${Date.now() - t0} ms`);
      const [h1, h2] = hosts;
      assert.equal(h1.underlayIp, '10.210.0.1');
      const r = await h1.exec(['/bin/busybox', 'ping', '-c', '1', '-W', '2', '10.210.0.2']);
      assert.match(r.stdout, /1 packets received/);
      // nothing leaves the lab: no route outside
      const out = await h1.exec(['ip', 'route', 'get', '192.0.2.1'], { allowFail: true });
      assert.notEqual(out.code, 0);
      // a container on h2 pings h1's underlay address (NAT through h2's docker0)
      await Promise.all(hosts.map((h) => ensureBusyboxImage(h)));
      const c = await h2.docker(['run', '--rm', 'bb:latest', 'ping', '-c', '1', '-W', '2', '10.210.0.1']);
      assert.match(c.stdout, /1 packets received/);
      const t1 = Date.now();
      const gone = hosts.map((h) => ({ dir: h.dir, netns: h.netns, id: h.id }));
      await Promise.all(hosts.map((h) => h.stop()));
      console.log(`      2 hosts stop (parallel): ${Date.now() - t1} ms`);
      for (const g of gone) assertHostGone(g, []);
      const uns = u.netns;
      await u.destroy();
      assert.ok(!ipNetnsList().includes(uns));
    });
  });

  describe('cleanupStale', () => {
    it('removes the host of a crashed run (SIGKILLed owner, dockerd and a container still running)', async () => {
      const harness = path.join(__dirname, '..', 'lab', 'index.js');
      const script = `
        const { DockerHost, ensureBusyboxImage } = require(${JSON.stringify(harness)});
        (async () => {
          const h = await DockerHost.start({ name: 'crash' });
          await ensureBusyboxImage(h);
          await h.docker(['run', '-d', '--name', 'crashc', 'bb:latest', 'sleep', '600']);
          const cpid = await h.containerPid('crashc');
          console.log(JSON.stringify({ dir: h.dir, netns: h.netns, id: h.id, dockerd: h.dockerdPid(), cpid }));
          setInterval(() => {}, 1000);
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const info = await new Promise<{ dir: string; netns: string; id: string; dockerd: number; cpid: number }>((resolve, reject) => {
        let buf = '';
        child.stdout!.on('data', (b: Buffer) => {
          buf += b.toString();
          const nl = buf.indexOf('\n');
          if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
        });
        child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
      });
      const pids = [info.dockerd, info.cpid, ...pidsWithCmdlineForTest(info.dir)];
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.ok(pidAlive(info.dockerd) && pidAlive(info.cpid), 'dockerd and container outlive their owner');
      const t0 = Date.now();
      const removed = await cleanupStale();
      console.log(`      cleanupStale: ${Date.now() - t0} ms, ${removed.length} items`);
      assert.ok(removed.some((l) => l.includes(info.dir)), removed.join('\n'));
      assertHostGone(info, pids);
    });
  });
});
