// Real-Docker tier for the managed plugin (README.md, "Managed plugin"): plugin/build.sh assembles the plugin
// directory, a private dockerd (own netns + mount ns) runs `docker plugin create/set/enable`, and the plugin is
// exercised through its full name tsnet:latest: connectivity, settings while disabled, state across
// disable -f/enable, kill -9 restarts, and a clean `docker plugin rm`. Prints the rootfs size, the time from
// `enable` to the first answered call and the plugin's idle memory.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { dk, dkFails, DockerHost, ensureBusyboxImage, eventually, IMAGE, pidAlive, pluginLines, pluginPid, pluginPids, requireDocker, run, runSleeper } from '../lab';

const PROJECT = path.resolve(__dirname, '../../..');
const BUILD_SCRIPT = path.join(PROJECT, 'plugin', 'build.sh');
const PLUGIN = 'tsnet';
const FULL = 'tsnet:latest';
const SUBNET = '10.66.0.0/24';

/** When containerd started the plugin's task (dockerd log: the shim's "starting signal loop" for plugins.moby). */
function taskStarts(h: DockerHost): number[] {
  return h
    .dockerdLog()
    .split('\n')
    .filter((l) => l.includes('msg="starting signal loop"') && l.includes('namespace=plugins.moby'))
    .map((l) => Date.parse(/^time="([^"]+)"/.exec(l)?.[1] ?? ''))
    .filter((t) => !Number.isNaN(t));
}

function vmRssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function ipOf(h: DockerHost, container: string): Promise<string> {
  return dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.pn.IPAddress}}', container);
}

async function ping(h: DockerHost, from: string, to: string): Promise<void> {
  await dk(h, 'exec', from, 'ping', '-c', '1', '-W', '2', to);
}

describe('docker: tsnet as a managed plugin (tsnet:latest)', function () {
  this.timeout(300_000);
  let h: DockerHost | undefined;
  let pluginDir = '';
  let stateDir = '';
  let failed = false;
  const figures: Record<string, string> = {};
  const ips: Record<string, string> = {};

  const host = (): DockerHost => {
    if (!h) throw new Error('host not started');
    return h;
  };

  before(async function () {
    await requireDocker(this, 'managed plugin');
    h = await DockerHost.start({ name: 'plugin' });
    await ensureBusyboxImage(h, IMAGE);
    pluginDir = path.join(h.dir, 'plugin-dir');
    stateDir = path.join(h.dir, 'plugin-state');
    fs.mkdirSync(stateDir);
  });

  // The steps build on each other: after a failure the rest would only report the same failure again.
  beforeEach(function () {
    if (failed) this.skip();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });

  after(async function () {
    if (h && failed) {
      const lines = h.dockerdLog().split('\n').filter((l) => l.includes(' plugin=') || /level=(error|warning)/.test(l));
      console.error(`--- dockerd log, plugin and warning lines (${h.name}) ---\n${lines.slice(-80).join('\n')}`);
    }
    if (h) {
      // Always leave the plugin removed (a disabled plugin holds its rootfs under the scratch dir).
      await h.docker(['rm', '-f', 'c1', 'c2', 'c3'], { allowFail: true });
      await h.docker(['network', 'rm', 'pn'], { allowFail: true });
      await h.docker(['plugin', 'rm', '-f', PLUGIN], { allowFail: true });
    }
    await h?.stop();
    if (Object.keys(figures).length) {
      console.log('    managed plugin figures:');
      for (const [k, v] of Object.entries(figures)) console.log(`      ${k}: ${v}`);
    }
  });

  it('plugin/build.sh assembles config.json and a rootfs that holds the runtime, the daemon and iptables', async () => {
    const started = Date.now();
    const r = await run(BUILD_SCRIPT, [pluginDir], { timeoutMs: 240_000, cwd: PROJECT });
    const config = JSON.parse(fs.readFileSync(path.join(pluginDir, 'config.json'), 'utf8'));
    assert.deepEqual(config.interface, { types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'], socket: 'tsnet.sock' });
    assert.deepEqual(config.network, { type: 'host' });
    assert.deepEqual(config.linux.capabilities, ['CAP_NET_ADMIN']);
    const rootfs = path.join(pluginDir, 'rootfs');
    for (const f of ['usr/bin/node', 'opt/tsnet/dist/src/main.js', 'opt/tsnet/package.json', 'usr/sbin/iptables-nft-restore', 'usr/sbin/ip6tables-legacy-save', 'run/docker/plugins']) {
      assert.ok(fs.existsSync(path.join(rootfs, f)), `rootfs has /${f}`);
    }
    assert.ok(!fs.existsSync(path.join(rootfs, 'opt/tsnet/dist/test')), 'no tests in the rootfs');
    assert.ok(!fs.existsSync(path.join(rootfs, 'opt/tsnet/node_modules/mocha')), 'no dev dependencies in the rootfs');
    const du = await run('du', ['-sk', rootfs]);
    const mb = Number(du.stdout.split(/\s/)[0]) / 1024;
    figures['rootfs size'] = `${mb.toFixed(1)} MiB (build.sh says ${/rootfs size: (\S+)/.exec(r.stdout)?.[1]}; built in ${((Date.now() - started) / 1000).toFixed(1)} s)`;
  });

  it('create, set state.source, enable; a network with -d/--ipam-driver tsnet:latest answers at once', async () => {
    const h = host();
    const created = Date.now();
    await h.docker(['plugin', 'create', PLUGIN, pluginDir], { timeoutMs: 120_000 });
    figures['docker plugin create (upload of the plugin dir)'] = `${Date.now() - created} ms`;
    await dk(h, 'plugin', 'set', PLUGIN, `state.source=${stateDir}`);
    const t0 = Date.now();
    await dk(h, 'plugin', 'enable', PLUGIN);
    const enabled = Date.now();
    await dk(h, 'network', 'create', '-d', FULL, '--ipam-driver', FULL, '--subnet', SUBNET, 'pn');
    const answered = Date.now();
    const listening = pluginLines(h).find((l) => l.message === 'tsnet listening' && l.time >= t0 - 1000);
    assert.ok(listening, 'the plugin logged "tsnet listening" into dockerd\'s log');
    figures['enable → plugin listening (its log)'] = `${listening.time - t0} ms`;
    const taskStart = taskStarts(h).filter((t) => t >= t0 - 1000 && t <= listening.time).pop();
    if (taskStart !== undefined) figures['plugin task started → listening (Docker first dials at 500 ms, then every 3 s)'] = `${listening.time - taskStart} ms`;
    figures['enable → `docker plugin enable` returned (registration calls answered)'] = `${enabled - t0} ms`;
    figures['enable → first `docker network create` answered'] = `${answered - t0} ms`;
    const [info] = JSON.parse(await dk(h, 'network', 'inspect', 'pn'));
    assert.equal(info.Driver, FULL);
    assert.equal(info.IPAM.Driver, FULL);
    assert.equal(info.IPAM.Config[0].Subnet, SUBNET);
    // Docker keys managed plugins by full name: the bare name is not the driver.
    assert.match(await dkFails(h, 'network', 'create', '-d', PLUGIN, 'bare'), /could not resolve driver tsnet/);
    assert.ok(fs.existsSync(path.join(stateDir, 'tsnet.mdb')), 'the store lives in the host directory given as state.source');
  });

  it('two containers get one interface each and ping each other and the gateway', async () => {
    const h = host();
    await runSleeper(h, 'c1', 'pn');
    await runSleeper(h, 'c2', 'pn');
    ips.c1 = await ipOf(h, 'c1');
    ips.c2 = await ipOf(h, 'c2');
    assert.notEqual(ips.c1, ips.c2);
    for (const c of ['c1', 'c2']) {
      assert.deepEqual((await dk(h, 'exec', c, 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'lo'], `${c}: eth0 and lo only`);
    }
    await ping(h, 'c1', ips.c2!);
    await ping(h, 'c2', ips.c1!);
    await ping(h, 'c1', '10.66.0.1');
  });

  it('disable is refused while in use; disable -f, set TSNET_LOG_LEVEL=debug, enable: debug lines, state kept', async () => {
    const h = host();
    assert.match(await dkFails(h, 'plugin', 'disable', PLUGIN), /in use/);
    assert.ok(!pluginLines(h).some((l) => l.level === 'debug'), 'no debug lines at the default level');
    await dk(h, 'plugin', 'disable', '-f', PLUGIN);
    await eventually(() => assert.ok(pluginLines(h).some((l) => l.message === 'stopped'), 'no "stopped" line yet'), {
      timeout: 5000,
      what: '"stopped" in the plugin log (clean shutdown on disable)',
    });
    await dk(h, 'plugin', 'set', PLUGIN, 'TSNET_LOG_LEVEL=debug');
    const t0 = Date.now();
    await dk(h, 'plugin', 'enable', PLUGIN);
    const firstCall = await eventually(
      () => {
        const line = pluginLines(h).find((l) => l.level === 'debug' && l.message === 'call' && l.time >= t0 - 1000);
        assert.ok(line, 'no debug call line since the enable yet');
        return line;
      },
      { timeout: 10_000, what: 'a debug call line' },
    );
    figures['enable → first answered call (debug log, registration GetCapabilities)'] = `${firstCall.time - t0} ms`;
    const reconciled = pluginLines(h).filter((l) => l.message === 'reconciled kernel state with the store').pop();
    assert.equal(reconciled?.fields.networks, 1, 'the network came back from the store');
    assert.equal(reconciled?.fields.endpoints, 2, 'both endpoints came back from the store');
    const nets = (await dk(h, 'network', 'ls', '--filter', `driver=${FULL}`, '--format', '{{.Name}}')).split('\n');
    assert.deepEqual(nets, ['pn']);
    await ping(h, 'c1', ips.c2!);
  });

  it('kill -9 of the plugin: Docker restarts it, containers keep connectivity, a new container gets a fresh address', async () => {
    const h = host();
    const pid = await pluginPid(h);
    await delay(3000); // the point: the plugin's RSS after 3 s of idling, not right after a call
    figures['idle RSS of the plugin process'] = `${(vmRssKb(pid) / 1024).toFixed(1)} MiB (VmRSS)`;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const [newPid] = await eventually(
      () => {
        const p = pluginPids(h).filter((x) => x !== pid && pidAlive(x));
        assert.equal(p.length, 1, `new plugin processes: [${p.join(', ')}]`);
        return p;
      },
      { timeout: 20_000, what: 'the restarted plugin process' },
    );
    const back = await eventually(
      () => {
        const line = pluginLines(h).find((l) => l.message === 'tsnet listening' && l.time >= killedAt - 1000);
        assert.ok(line, 'no "tsnet listening" line since the kill yet');
        return line;
      },
      { timeout: 20_000, what: '"tsnet listening" after the kill' },
    );
    figures['kill -9 → restarted plugin listening'] = `${back.time - killedAt} ms`;
    assert.ok(newPid !== pid);
    assert.equal(await dk(h, 'plugin', 'inspect', '-f', '{{.Enabled}}', PLUGIN), 'true');
    await ping(h, 'c1', ips.c2!);
    await ping(h, 'c2', ips.c1!);
    await runSleeper(h, 'c3', 'pn');
    ips.c3 = await ipOf(h, 'c3');
    assert.ok(ips.c3 !== ips.c1 && ips.c3 !== ips.c2 && ips.c3 !== '10.66.0.1', `fresh address for c3: ${ips.c3}`);
    await ping(h, 'c3', ips.c1!);
  });

  it('after the networks are gone, disable + rm leave no tsnet interface and no tsnet iptables rule', async () => {
    const h = host();
    await dk(h, 'rm', '-f', 'c1', 'c2', 'c3');
    await dk(h, 'network', 'rm', 'pn');
    await dk(h, 'plugin', 'disable', PLUGIN);
    await dk(h, 'plugin', 'rm', PLUGIN);
    assert.deepEqual(pluginPids(h), [], 'no plugin process left');
    const links = (await h.exec(['ip', '-o', 'link', 'show'])).stdout
      .split('\n')
      .map((l) => l.split(':')[1]?.trim().split('@')[0])
      .filter((n): n is string => !!n);
    assert.deepEqual(links.filter((n) => /^(ts-|tsv|tsc)/.test(n)), [], `no tsnet links: ${links.join(' ')}`);
    for (const tool of ['iptables-nft-save', 'ip6tables-nft-save', 'iptables-legacy-save', 'ip6tables-legacy-save']) {
      const r = await h.exec([tool], { allowFail: true });
      const left = r.stdout.split('\n').filter((l) => /TSNET|tsnet:/.test(l));
      assert.deepEqual(left, [], `${tool}: no tsnet chains or rules remain`);
    }
  });
});
