// Real-Docker tier for published ports (`-p`, `-P`) on tsnet bridge networks, on a host where Docker's own
// firewall rules are in force. The "outside" is an address on the underlay bridge (another namespace) that
// reaches the Docker host at 10.210.0.1. Containers serve HTTP with busybox httpd (the answer is the
// container's name, so a test knows who answered); UDP is served by a small node echo server run inside a
// container's network namespace (busybox here has no UDP nc).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { hostVethName } from '../../src/datapath/shared/names';
import { binaries, dk, dkFails, DockerHost, ensureBusyboxImage, eventually, IMAGE, netnsPath, requireDocker, run, TSNET_ENTRY, Underlay } from '../lab';
import { httpGetScript } from '../lab/http-get';

const OUTSIDE = '10.210.0.254';
const HOST = '10.210.0.1';

/** node -e HTTP_GET <url>: prints the body, exit 0; 1 on error, 2 on timeout (3 s). */
const HTTP_GET = httpGetScript(3000);
/** node -e UDP_ECHO <port>: answers every datagram with "echo:<payload>:<sender address>"; prints "ready" once bound. */
const UDP_ECHO =
  "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('echo:'+m+':'+r.address,r.port,r.address));s.bind(+process.argv[1],()=>console.log('ready'));";
/** node -e WHOAMI <port>: a TCP server that answers with the client's address (who the container sees). */
const WHOAMI =
  "require('net').createServer(s=>{s.on('error',()=>{});s.end(s.remoteAddress.replace(/^::ffff:/,'')+'\\n')}).listen(+process.argv[1],()=>console.log('ready'));";
/** node -e TCP_READ <host> <port>: prints what the server sends; exit 1 on error, 2 after 3 s. */
const TCP_READ =
  "const s=require('net').connect(+process.argv[2],process.argv[1]);let d='';s.on('data',x=>d+=x);s.on('end',()=>{process.stdout.write(d);process.exit(0)});" +
  "s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),3000);";
/** node -e UDP_ASK <host> <port> <payload>: prints the first answer; exit 2 after 3 s without one. */
const UDP_ASK =
  "const [h,p,m]=process.argv.slice(1);const s=require('dgram').createSocket(h.includes(':')?'udp6':'udp4');" +
  "s.on('message',x=>{process.stdout.write(String(x));process.exit(0)});setTimeout(()=>process.exit(2),3000);s.send(m,+p,h);";

interface Published {
  Proto: number;
  IP: string;
  Port: number;
  HostIP: string;
  HostPort: number;
  HostPortEnd: number;
}

describe('docker: published ports on tsnet bridge networks', function () {
  let underlay: Underlay | undefined;
  let h: DockerHost;
  const procs: ChildProcess[] = [];

  before(async function () {
    await requireDocker(this);
    underlay = await Underlay.create('ptsw');
    await underlay.ip(['addr', 'add', `${OUTSIDE}/24`, 'dev', 'br0']);
    h = await DockerHost.start({ name: 'ports', underlay: underlay.attach(`${HOST}/24`), tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'debug' } } });
    await h.exec(['ip', 'route', 'add', 'default', 'via', OUTSIDE]);
    await ensureBusyboxImage(h, IMAGE);
    await h.startTsnet();
  });

  after(async function () {
    if (h && this.currentTest?.state === 'failed') console.error(`--- tsnet log ---\n${h.tsnetLog().slice(-8000)}`);
    await h?.stop();
    await underlay?.destroy();
  });

  afterEach(async function () {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    if (!h) return;
    if (this.currentTest?.state === 'failed') console.error(`--- tsnet log (tail) ---\n${h.tsnetLog().slice(-4000)}`);
    const names = (await h.docker(['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
    if (names.length) await h.docker(['rm', '-f', ...names], { allowFail: true });
    const nets = (await h.docker(['network', 'ls', '--filter', 'driver=tsnet', '-q'])).stdout.split(/\s+/).filter(Boolean);
    for (const n of nets) await h.docker(['network', 'rm', n], { allowFail: true });
  });

  // ---- helpers -------------------------------------------------------------------------------------------

  /** A container serving its own name over HTTP on :80; resolves once httpd answers (≤ 10 s). */
  async function web(name: string, network: string, ...args: string[]): Promise<void> {
    await dk(h, 'run', '-d', '--name', name, '--network', network, ...args, IMAGE, 'sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 80 -h /www`);
    await eventually(
      async () => {
        const r = await h.docker(['exec', name, 'timeout', '2', 'wget', '-q', '-O-', 'http://127.0.0.1/'], { allowFail: true, timeoutMs: 5000 });
        assert.ok(r.code === 0 && r.stdout.trim() === name, `wget: ${r.stderr.trim() || r.stdout.trim()}`);
      },
      { timeout: 10_000, what: `httpd in ${name} answering` },
    );
  }

  /** GET from the outside namespace; the body, or undefined when unreachable. */
  async function fromOutside(url: string): Promise<string | undefined> {
    const r = await run(binaries().nsenter, [`--net=${netnsPath(underlay!.netns)}`, '--', process.execPath, '-e', HTTP_GET, url], { allowFail: true, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  /** GET from the Docker host itself (its network and mount namespaces). */
  async function fromHost(url: string): Promise<string | undefined> {
    const r = await h.exec([process.execPath, '-e', HTTP_GET, url], { allowFail: true, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  /** GET from inside a container (busybox wget; its own -T crashes the static Debian build, so `timeout`). */
  async function fromContainer(name: string, url: string): Promise<string | undefined> {
    const r = await h.docker(['exec', name, 'timeout', '3', 'wget', '-q', '-O-', url], { allowFail: true, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async function ids(container: string, network: string): Promise<{ NetworkID: string; EndpointID: string }> {
    const out = await dk(h, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").NetworkID}} {{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container);
    const [NetworkID, EndpointID] = out.split(' ');
    return { NetworkID: NetworkID!, EndpointID: EndpointID! };
  }

  /** The documented look-up: EndpointOperInfo over the plugin socket, Value["tsnet.published-ports"]. */
  async function publishedPorts(container: string, network: string): Promise<Published[]> {
    const r = await h.pluginCall('/NetworkDriver.EndpointOperInfo', await ids(container, network));
    assert.equal(r.status, 200, r.body);
    return ((r.json as { Value: Record<string, unknown> }).Value['tsnet.published-ports'] ?? []) as Published[];
  }

  /** tsnet log records with this message. */
  function logRecords(message: string): Array<Record<string, unknown>> {
    return h
      .tsnetLog()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      })
      .filter((r) => r.message === message);
  }

  async function natRulesOf(endpointId: string): Promise<string[]> {
    const save = (await h.exec(['iptables-save', '-t', 'nat'])).stdout + (await h.exec(['ip6tables-save', '-t', 'nat'], { allowFail: true })).stdout;
    return save.split('\n').filter((l) => l.includes(`:ep:${endpointId.slice(0, 12)}`));
  }

  /** A long-running process inside the host's or a container's namespaces; resolves when it prints. */
  async function background(cmd: string, args: string[]): Promise<ChildProcess> {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const t = setTimeout(() => reject(new Error(`${args.join(' ')}: no output within 10 s: ${err}`)), 10_000);
      p.stderr!.on('data', (d) => (err += d));
      p.stdout!.once('data', () => {
        clearTimeout(t);
        resolve();
      });
      p.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`${args.join(' ')} exited ${code}: ${err}`));
      });
    });
    return p;
  }

  // ---- tests ---------------------------------------------------------------------------------------------

  it('-p 18080:80 is reached from outside, from the host (loopback and own address), from another container and from itself (hairpin)', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.99.0.0/24', 'n1');
    await web('web', 'n1', '-p', '18080:80');
    await web('other', 'n1');
    assert.equal(await fromOutside(`http://${HOST}:18080/`), 'web', 'outside → host address');
    assert.equal(await fromHost('http://127.0.0.1:18080/'), 'web', 'host → 127.0.0.1');
    assert.equal(await fromHost(`http://${HOST}:18080/`), 'web', 'host → its own address');
    assert.equal(await fromContainer('other', `http://${HOST}:18080/`), 'web', 'other container → host address');
    assert.equal(await fromContainer('web', `http://${HOST}:18080/`), 'web', 'same container → host address (hairpin)');
    assert.equal(await fromContainer('web', 'http://10.99.0.1:18080/'), 'web', 'same container → gateway address (hairpin)');
    // Hairpin mode is on the container's bridge port.
    const { EndpointID } = await ids('web', 'n1');
    const port = JSON.parse((await h.exec(['bridge', '-j', '-d', 'link', 'show', 'dev', hostVethName(EndpointID)])).stdout || '[]');
    assert.equal(port[0]?.hairpin, true, `hairpin on ${hostVethName(EndpointID)}`);
  });

  it('the outside reaches a published port through kernel DNAT (client address kept), loopback through the proxy', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.99.0.0/24', 'n1');
    await dk(h, 'run', '-d', '--name', 'who', '--network', 'n1', '-p', '18084:81', IMAGE, 'sleep', '3600');
    await background(binaries().nsenter, ['-t', String(await h.containerPid('who')), '-n', '--', process.execPath, '-e', WHOAMI, '81']);
    const outside = await run(binaries().nsenter, [`--net=${netnsPath(underlay!.netns)}`, '--', process.execPath, '-e', TCP_READ, HOST, '18084'], { allowFail: true, timeoutMs: 10_000 });
    assert.equal(outside.stdout.trim(), OUTSIDE, 'the container sees the outside client itself');
    const local = await h.exec([process.execPath, '-e', TCP_READ, '127.0.0.1', '18084'], { allowFail: true, timeoutMs: 10_000 });
    assert.equal(local.stdout.trim(), '10.99.0.1', 'loopback arrives from the host through the proxy');
    const own = await h.exec([process.execPath, '-e', TCP_READ, HOST, '18084'], { allowFail: true, timeoutMs: 10_000 });
    assert.equal(own.stdout.trim(), HOST, 'the host address is DNAT\'d in OUTPUT, source kept');
  });

  it('-p 127.0.0.1:18081:80 answers on loopback only', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.98.0.0/24', 'n1');
    await web('web', 'n1', '-p', '127.0.0.1:18081:80');
    assert.equal(await fromHost('http://127.0.0.1:18081/'), 'web');
    assert.equal(await fromOutside(`http://${HOST}:18081/`), undefined, 'not from outside');
    assert.equal(await fromHost(`http://${HOST}:18081/`), undefined, 'not on the host address');
    assert.deepEqual(
      (await publishedPorts('web', 'n1')).map((p) => [p.HostIP, p.HostPort, p.Port]),
      [['127.0.0.1', 18081, 80]],
    );
  });

  it('host_binding_ipv4=127.0.0.1 makes -p bind loopback by default', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.97.0.0/24', '-o', 'com.docker.network.bridge.host_binding_ipv4=127.0.0.1', 'n1');
    await web('web', 'n1', '-p', '18082:80');
    assert.equal(await fromHost('http://127.0.0.1:18082/'), 'web');
    assert.equal(await fromOutside(`http://${HOST}:18082/`), undefined);
    assert.equal((await publishedPorts('web', 'n1'))[0]?.HostIP, '127.0.0.1');
  });

  it('/udp: datagrams reach the container from outside and from the host loopback, and the answers come back', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.96.0.0/24', 'n1');
    await dk(h, 'run', '-d', '--name', 'udp', '--network', 'n1', '-p', '19999:9999/udp', IMAGE, 'sleep', '3600');
    const pid = await h.containerPid('udp');
    await background(binaries().nsenter, ['-t', String(pid), '-n', '--', process.execPath, '-e', UDP_ECHO, '9999']);
    const outside = await run(binaries().nsenter, [`--net=${netnsPath(underlay!.netns)}`, '--', process.execPath, '-e', UDP_ASK, HOST, '19999', 'out'], { allowFail: true, timeoutMs: 10_000 });
    assert.equal(outside.stdout, `echo:out:${OUTSIDE}`, `outside → host:19999/udp, source kept (exit ${outside.code})`);
    const local = await h.exec([process.execPath, '-e', UDP_ASK, '127.0.0.1', '19999', 'lo'], { allowFail: true, timeoutMs: 10_000 });
    assert.equal(local.stdout, 'echo:lo:10.96.0.1', `host → 127.0.0.1:19999/udp, through the loopback proxy (exit ${local.code})`);
    assert.deepEqual((await publishedPorts('udp', 'n1')).map((p) => [p.Proto, p.HostPort, p.Port]), [[17, 19999, 9999]]);
  });

  it('a range -p 18090-18092:80 gives each container the first free port of the range', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.95.0.0/24', 'n1');
    await web('r1', 'n1', '-p', '18090-18092:80');
    await web('r2', 'n1', '-p', '18090-18092:80');
    assert.deepEqual((await publishedPorts('r1', 'n1')).map((p) => p.HostPort), [18090]);
    assert.deepEqual((await publishedPorts('r2', 'n1')).map((p) => p.HostPort), [18091]);
    assert.equal(await fromOutside(`http://${HOST}:18090/`), 'r1');
    assert.equal(await fromOutside(`http://${HOST}:18091/`), 'r2');
    assert.equal(await fromOutside(`http://${HOST}:18092/`), undefined, 'the rest of the range is not published');
  });

  it('-P: the chosen port is found through EndpointOperInfo (also with curl, as documented) and in the tsnet log, and is reachable', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.94.0.0/24', 'n1');
    await web('auto', 'n1', '--expose', '80', '-P');
    const [p, ...rest] = await publishedPorts('auto', 'n1');
    assert.equal(rest.length, 0);
    assert.ok(p && p.HostPort > 0 && p.Port === 80 && p.Proto === 6 && p.HostIP === '0.0.0.0', JSON.stringify(p));
    const { NetworkID, EndpointID } = await ids('auto', 'n1');
    const logged = logRecords('published port').filter((r) => r.endpointId === EndpointID);
    assert.deepEqual(logged.map((r) => r.host), [`0.0.0.0:${p.HostPort}/tcp`], 'one log line naming the host port');
    const curl = await h.exec(['sh', '-c', 'command -v curl'], { allowFail: true });
    if (curl.code === 0) {
      const body = JSON.stringify({ NetworkID, EndpointID });
      const r = await h.exec(['curl', '-s', '--max-time', '5', '--unix-socket', '/run/docker/plugins/tsnet.sock', '-X', 'POST', '-d', body, 'http://x/NetworkDriver.EndpointOperInfo']);
      assert.deepEqual(JSON.parse(r.stdout).Value['tsnet.published-ports'], [p]);
    }
    assert.equal(await fromOutside(`http://${HOST}:${p.HostPort}/`), 'auto');
    assert.equal(await fromHost(`http://127.0.0.1:${p.HostPort}/`), 'auto');
  });

  it('a host port already published by another container fails with "port is already allocated", leaving the first intact', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.93.0.0/24', 'n1');
    await web('web', 'n1', '-p', '18080:80');
    const err = await dkFails(h, 'run', '-d', '--name', 'web2', '--network', 'n1', '-p', '18080:80', IMAGE, 'sleep', '3600');
    assert.match(err, /port is already allocated/);
    assert.match(err, /0\.0\.0\.0:18080/);
    assert.equal(await fromOutside(`http://${HOST}:18080/`), 'web', 'the first container keeps its port');
    assert.equal(await fromHost('http://127.0.0.1:18080/'), 'web');
  });

  it('a host port a host service is bound to fails with "port is already allocated"', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.92.0.0/24', 'n1');
    const server = "require('net').createServer(s=>s.end('host\\n')).listen(18100,'0.0.0.0',()=>console.log('ready'))";
    await background(binaries().nsenter, [...h.nsenterArgs, process.execPath, '-e', server]);
    const err = await dkFails(h, 'run', '-d', '--name', 'web', '--network', 'n1', '-p', '18100:80', IMAGE, 'sleep', '3600');
    assert.match(err, /Bind for 0\.0\.0\.0:18100\/tcp failed: port is already allocated/);
    const read = "const s=require('net').connect(18100,'127.0.0.1');let d='';s.on('data',x=>d+=x);s.on('end',()=>{process.stdout.write(d);process.exit(0)});s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),3000);";
    const r = await h.exec([process.execPath, '-e', read], { allowFail: true, timeoutMs: 10_000 });
    assert.equal(r.stdout.trim(), 'host', 'the host service still owns the port');
  });

  it('IPv6: -p is reached on [::1] on a dual-stack network', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipv6', '--subnet', '10.91.0.0/24', '--subnet', 'fd00:91::/64', 'n1');
    await web('web', 'n1', '-p', '18110:80');
    assert.equal(await fromHost('http://[::1]:18110/'), 'web', 'host → [::1]');
    assert.equal(await fromHost('http://127.0.0.1:18110/'), 'web', 'host → 127.0.0.1');
    assert.deepEqual(
      (await publishedPorts('web', 'n1')).map((p) => p.HostIP).sort(),
      ['0.0.0.0', '::'],
    );
  });

  it('after stop and rm every DNAT rule of the endpoint is gone and the port is free for a new container', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.90.0.0/24', 'n1');
    await web('web', 'n1', '-p', '18080:80', '-p', '18083:80/udp');
    const { EndpointID } = await ids('web', 'n1');
    assert.equal((await natRulesOf(EndpointID)).length, 2, 'one DNAT rule per mapping');
    await dk(h, 'stop', '-t', '1', 'web');
    assert.deepEqual(await natRulesOf(EndpointID), [], 'rules gone at stop');
    assert.equal(await fromHost('http://127.0.0.1:18080/'), undefined, 'socket released at stop');
    await dk(h, 'rm', 'web');
    await web('web2', 'n1', '-p', '18080:80');
    assert.equal(await fromOutside(`http://${HOST}:18080/`), 'web2');
    const second = await ids('web2', 'n1');
    await dk(h, 'rm', '-f', 'web2');
    assert.deepEqual(await natRulesOf(second.EndpointID), [], 'rules gone at rm -f');
    assert.equal(logRecords('ports unpublished').filter((r) => r.endpointId === EndpointID).length, 1);
  });

  it('published ports follow the gateway network (--gw-priority on Docker 28), one DNAT rule at a time, none after rm (issue 14)', async () => {
    const major = Number((await dk(h, 'version', '-f', '{{.Server.Version}}')).split('.')[0]);
    const failedBefore = logRecords('call failed').length;
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.91.0.0/24', 'pa');
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.92.0.0/24', 'pb');
    await web('gw', 'pa', '-p', '18110:80', '-p', '18111:80');
    const a = await ids('gw', 'pa');
    /** Every DNAT rule of the two endpoints, as "<endpoint 12>:<dport>-><to>". */
    const dnat = async (...eps: string[]) => {
      const out: string[] = [];
      for (const ep of eps) {
        for (const rule of await natRulesOf(ep)) out.push(`${ep.slice(0, 12)}:${/--dport (\d+)/.exec(rule)?.[1]}->${/--to-destination (\S+)/.exec(rule)?.[1]}`);
      }
      return out.sort();
    };
    const onA = [`${a.EndpointID.slice(0, 12)}:18110->10.91.0.2:80`, `${a.EndpointID.slice(0, 12)}:18111->10.91.0.2:80`];
    assert.deepEqual(await dnat(a.EndpointID), onA);
    if (major >= 28) {
      // Docker 28 moves the gateway: Revoke on pa, Program on pb (the ports follow), and back at disconnect.
      await dk(h, 'network', 'connect', '--gw-priority', '10', 'pb', 'gw');
      const b = await ids('gw', 'pb');
      const onB = [`${b.EndpointID.slice(0, 12)}:18110->10.92.0.2:80`, `${b.EndpointID.slice(0, 12)}:18111->10.92.0.2:80`];
      assert.deepEqual(await dnat(a.EndpointID, b.EndpointID), onB);
      assert.equal(await fromOutside(`http://${HOST}:18110/`), 'gw');
      await dk(h, 'network', 'disconnect', 'pb', 'gw');
      assert.deepEqual(await dnat(a.EndpointID, b.EndpointID), onA);
    } else {
      // Docker 20.10 keeps the first network's gateway: connecting another moves nothing.
      await dk(h, 'network', 'connect', 'pb', 'gw');
      const b = await ids('gw', 'pb');
      assert.deepEqual(await dnat(a.EndpointID, b.EndpointID), onA);
      await dk(h, 'network', 'disconnect', 'pb', 'gw');
    }
    assert.equal(await fromOutside(`http://${HOST}:18110/`), 'gw');
    assert.equal(await fromOutside(`http://${HOST}:18111/`), 'gw');
    await dk(h, 'rm', '-f', 'gw');
    assert.deepEqual(await dnat(a.EndpointID), []);
    assert.equal(await fromHost('http://127.0.0.1:18110/'), undefined, 'socket released');
    assert.deepEqual(logRecords('call failed').slice(failedBefore), [], 'no call failed');
  });

  it('a tsnet restart keeps the ports: rules stay while it is down, the same -P port is held again after', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.88.0.0/24', 'n1');
    await web('auto', 'n1', '--expose', '80', '-P');
    const [p] = await publishedPorts('auto', 'n1');
    await h.stopTsnet();
    assert.equal(await fromOutside(`http://${HOST}:${p!.HostPort}/`), 'auto', 'kernel rules serve while tsnet is down');
    await h.startTsnet();
    assert.deepEqual(await publishedPorts('auto', 'n1'), [p]);
    const { EndpointID } = await ids('auto', 'n1');
    assert.ok(logRecords('published port restored').some((r) => r.endpointId === EndpointID && r.host === `0.0.0.0:${p!.HostPort}/tcp`));
    assert.equal(await fromHost(`http://127.0.0.1:${p!.HostPort}/`), 'auto', 'loopback proxy back');
    assert.equal(await fromOutside(`http://${HOST}:${p!.HostPort}/`), 'auto');
    const err = await dkFails(h, 'run', '-d', '--name', 'thief', '--network', 'n1', '-p', `${p!.HostPort}:80`, IMAGE, 'sleep', '3600');
    assert.match(err, /port is already allocated/, 'the port is held again');
  });

  it('start latency with 0 and with 20 published ports (figures)', async function () {
    this.timeout(300_000);
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.89.0.0/24', 'n1');
    const twenty = Array.from({ length: 20 }, (_, i) => ['-p', `${18200 + i}:80`]).flat();
    const timeRun = async (name: string, args: string[]) => {
      const t0 = process.hrtime.bigint();
      await dk(h, 'run', '-d', '--name', name, '--network', 'n1', ...args, IMAGE, 'sleep', '3600');
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return ms;
    };
    const timeRm = async (name: string) => {
      const t0 = process.hrtime.bigint();
      await dk(h, 'rm', '-f', name);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    await timeRun('warm', []);
    await timeRm('warm');
    const runs: Record<string, number[]> = { run0: [], run20: [], rm0: [], rm20: [] };
    for (let i = 0; i < 5; i++) {
      runs.run0!.push(await timeRun(`z${i}`, []));
      runs.rm0!.push(await timeRm(`z${i}`));
      runs.run20!.push(await timeRun(`t${i}`, twenty));
      if (i === 0) assert.equal((await publishedPorts(`t${i}`, 'n1')).length, 20);
      runs.rm20!.push(await timeRm(`t${i}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `      docker run -d (median of 5): 0 ports ${median(runs.run0!).toFixed(0)} ms, 20 ports ${median(runs.run20!).toFixed(0)} ms; ` +
        `docker rm -f: 0 ports ${median(runs.rm0!).toFixed(0)} ms, 20 ports ${median(runs.rm20!).toFixed(0)} ms`,
    );
  });
});
