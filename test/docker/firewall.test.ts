// Real-Docker tier for the firewall contract (issue 12, README "Firewall"): an admin's DOCKER-USER rules
// apply to tsnet traffic and keep applying; tsnet networks are isolated both ways from every other
// bridge network on the host (the default bridge, a bridge with a custom name, docker_gwbridge, another
// tsnet instance's); icc=false holds over IPv6 link-local; two instances leave the rules still.
//
// The "outside": two addresses on the underlay bridge (10.210.0.254 and .253), with no route back to
// any container subnet. Published ports are reached at the test host's own address 10.210.0.1.
import assert from 'node:assert/strict';
import { dk, DockerHost, during, ensureBusyboxImage, eventually, IMAGE, requireDocker, run, runSleeper, TSNET_ENTRY, Underlay } from '../lab';

const HOST = '10.210.0.1';
const OUTSIDE = '10.210.0.254';
const OTHER_SOURCE = '10.210.0.253';

/** A TCP client run in the underlay namespace from a chosen source address: prints what it received. */
const CLIENT = `const [h,p,l]=process.argv.slice(1);const s=require('net').connect({host:h,port:+p,localAddress:l});let d='';s.setTimeout(2000,()=>process.exit(2));s.on('data',x=>d+=x);s.on('end',()=>{process.stdout.write(d);process.exit(0)});s.on('error',()=>process.exit(1));`;

describe('docker: the firewall contract (DOCKER-USER, isolation, icc, two instances)', function () {
  let underlay: Underlay | undefined;
  let h: DockerHost;
  let two: { stop: () => Promise<void>; log: () => string } | undefined;

  before(async function () {
    await requireDocker(this);
    underlay = await Underlay.create('fwsw');
    await underlay.ip(['addr', 'add', `${OUTSIDE}/24`, 'dev', 'br0']);
    await underlay.ip(['addr', 'add', `${OTHER_SOURCE}/24`, 'dev', 'br0']);
    h = await DockerHost.start({ name: 'fw', underlay: underlay.attach(`${HOST}/24`), tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'debug' } } });
    await h.exec(['ip', 'route', 'add', 'default', 'via', OUTSIDE]);
    await ensureBusyboxImage(h, IMAGE);
    await h.startTsnet();
    two = await h.startTsnetInstance('two');
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.81.0.0/24', 'ts');
    await runSleeper(h, 'c1', 'ts');
    await runSleeper(h, 'c2', 'ts');
  });

  after(async function () {
    if (h && this.currentTest?.state === 'failed') {
      console.error(`--- tsnet log ---\n${h.tsnetLog().slice(-6000)}`);
      console.error(`--- iptables ---\n${(await h.exec(['iptables-save'], { allowFail: true })).stdout}`);
    }
    await two?.stop();
    await h?.stop();
    await underlay?.destroy();
  });

  const ping = (c: string, target: string) => h.docker(['exec', c, 'ping', '-c', '1', '-W', '2', target], { allowFail: true });
  const reaches = async (c: string, target: string) => (await ping(c, target)).code === 0;
  const ipOf = (c: string, net: string) => dk(h, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c);
  const fromOutside = async (source: string, port: number) => {
    const r = await run('ip', ['netns', 'exec', underlay!.netns, process.execPath, '-e', CLIENT, HOST, String(port), source], { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : undefined;
  };
  const linkLocalOf = async (c: string, dev: string) =>
    (await h.inContainerNs(c, ['ip', '-6', '-o', 'addr', 'show', 'dev', dev, 'scope', 'link'])).stdout.split(/\s+/)[3]?.split('/')[0];
  const appliedChecks = (log: string) => log.split('\n').filter((l) => l.includes('firewall batch applied') && l.includes('ensureBase')).length;
  const iptables = (...args: string[]) => h.exec(['iptables', ...args]);
  /** Every rule of both families and the bridge family, without counters and comments lines. */
  const rulesDump = async () =>
    (await Promise.all(['iptables-save', 'ip6tables-save', 'ebtables-save'].map((t) => h.exec([t]).then((r) => r.stdout))))
      .join('')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '').replace(/ -c \d+ \d+/, ''))
      .join('\n');

  it('places the FORWARD hook after -j DOCKER-USER and nothing of tsnet inside DOCKER-USER', async () => {
    const forward = (await iptables('-S', 'FORWARD')).stdout.split('\n');
    const du = forward.indexOf('-A FORWARD -j DOCKER-USER');
    const hook = forward.findIndex((l) => l.includes('"tsnet:tsnet:hook" -j TSNET-FWD'));
    assert.ok(du >= 0 && hook > du, `FORWARD:\n${forward.join('\n')}`);
    assert.ok(!(await iptables('-S', 'DOCKER-USER')).stdout.includes('tsnet'), 'DOCKER-USER holds no tsnet rule');
  });

  it("an admin's DOCKER-USER DROPs apply to egress, a published port from one source and traffic inside one network, and still do 30 s later", async () => {
    await dk(h, 'run', '-d', '--name', 'web', '--network', 'ts', '-p', '18080:80', IMAGE, 'nc', '-ll', '-p', '80', '-e', 'echo', 'hi');
    const c1 = await ipOf('c1', 'ts');
    const c2 = await ipOf('c2', 'ts');
    assert.ok(await reaches('c1', OUTSIDE), 'before: egress');
    assert.equal(await fromOutside(OUTSIDE, 18080), 'hi', 'before: the published port');
    assert.ok(await reaches('c2', c1), 'before: inside the network');
    const admin = [
      ['-s', c1, '-d', OUTSIDE, '-j', 'DROP'],
      ['-p', 'tcp', '-m', 'conntrack', '--ctorigdstport', '18080', '-s', OUTSIDE, '-j', 'DROP'],
      ['-s', c2, '-d', c1, '-j', 'DROP'],
    ];
    for (const rule of admin) await iptables('-I', 'DOCKER-USER', ...rule);
    try {
      await during(
        30_000,
        async () => {
          assert.equal(await reaches('c1', OUTSIDE), false, 'egress of c1 dropped');
          assert.ok(await reaches('c2', OUTSIDE), 'c2 still leaves');
          assert.equal(await fromOutside(OUTSIDE, 18080), undefined, 'the published port, from the dropped source');
          assert.equal(await fromOutside(OTHER_SOURCE, 18080), 'hi', 'the published port, from another source');
          assert.equal(await reaches('c2', c1), false, 'c2 -> c1 inside the network');
        },
        { interval: 10_000, what: 'the admin rules' },
      );
    } finally {
      for (const rule of admin) await iptables('-D', 'DOCKER-USER', ...rule);
      await h.docker(['rm', '-f', 'web'], { allowFail: true });
    }
    assert.ok(await reaches('c1', OUTSIDE), 'after the admin removed them: egress');
  });

  describe('isolation both ways from every other bridge network', () => {
    const foreign: Array<{ name: string; create: string[] }> = [
      { name: 'bridge', create: [] },
      { name: 'lan5', create: ['network', 'create', '--subnet', '10.82.0.0/24', '-o', 'com.docker.network.bridge.name=lan5', 'lan5'] },
      {
        name: 'docker_gwbridge',
        create: ['network', 'create', '--subnet', '10.83.0.0/24', '-o', 'com.docker.network.bridge.name=docker_gwbridge', '-o', 'com.docker.network.bridge.enable_icc=false', 'docker_gwbridge'],
      },
      { name: 'other', create: ['network', 'create', '-d', 'two', '--subnet', '10.84.0.0/24', 'other'] },
    ];
    for (const { name, create } of foreign) {
      it(`${name}: no connection either way; its published port is reached through the host address; both still leave`, async () => {
        if (create.length) await dk(h, ...create);
        const d = `d-${name.replace(/_/g, '')}`;
        await dk(h, 'run', '-d', '--name', d, '--network', name, '-p', '18090:80', IMAGE, 'nc', '-ll', '-p', '80', '-e', 'echo', name);
        try {
          const dIp = await ipOf(d, name);
          assert.equal(await reaches('c1', dIp), false, `tsnet -> ${name}`);
          assert.equal(await reaches(d, await ipOf('c1', 'ts')), false, `${name} -> tsnet`);
          const viaHost = await h.docker(['exec', 'c1', 'sh', '-c', `nc -w 2 ${HOST} 18090 </dev/null`], { allowFail: true });
          assert.equal(viaHost.stdout.trim(), name, `tsnet -> ${name}'s published port through ${HOST}`);
          assert.ok(await reaches('c1', OUTSIDE), 'tsnet still leaves');
          assert.ok(await reaches(d, OUTSIDE), `${name} still leaves`);
        } finally {
          await h.docker(['rm', '-f', d], { allowFail: true });
          if (create.length) await h.docker(['network', 'rm', name], { allowFail: true });
        }
      });
    }
  });

  it('icc=false holds over IPv4, IPv6 and IPv6 link-local; the gateway and the outside stay reachable', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipv6', '--subnet', '10.86.0.0/24', '--subnet', 'fd00:86::/64', '-o', 'com.docker.network.bridge.enable_icc=false', 'noicc');
    await runSleeper(h, 'i1', 'noicc');
    await runSleeper(h, 'i2', 'noicc');
    try {
      const linkLocal = await linkLocalOf('i1', 'eth0');
      assert.match(linkLocal ?? '', /^fe80:/, 'i1 has a link-local address');
      const global6 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.noicc.GlobalIPv6Address}}', 'i1');
      assert.equal(await reaches('i2', await ipOf('i1', 'noicc')), false, 'IPv4');
      assert.notEqual((await h.docker(['exec', 'i2', 'ping6', '-c', '1', '-W', '2', global6], { allowFail: true })).code, 0, 'IPv6');
      assert.notEqual((await h.docker(['exec', 'i2', 'ping6', '-c', '1', '-W', '2', `${linkLocal}%eth0`], { allowFail: true })).code, 0, 'IPv6 link-local');
      assert.ok(await reaches('i2', '10.86.0.1'), 'the gateway');
      assert.ok(await reaches('i2', OUTSIDE), 'the outside');
      // Two containers on an icc=true network talk over link-local (the check can fail); DAD may
      // still hold a fresh address for a moment.
      await dk(h, 'network', 'create', '-d', 'tsnet', '--ipv6', '--subnet', '10.87.0.0/24', '--subnet', 'fd00:87::/64', 'icc');
      await runSleeper(h, 'j1', 'icc');
      await runSleeper(h, 'j2', 'icc');
      await eventually(
        async () => {
          const ll = await linkLocalOf('j1', 'eth0');
          const r = await h.docker(['exec', 'j2', 'ping6', '-c', '1', '-W', '1', `${ll}%eth0`], { allowFail: true });
          assert.equal(r.code, 0, `icc=true: link-local ${ll} from j2: ${r.stdout}${r.stderr}`);
        },
        { timeout: 10_000, interval: 500, what: 'link-local between two containers of an icc=true network' },
      );
    } finally {
      await h.docker(['rm', '-f', 'i1', 'i2', 'j1', 'j2'], { allowFail: true });
      await h.docker(['network', 'rm', 'noicc', 'icc'], { allowFail: true });
    }
  });

  it('two instances with networks for 60 s: the rule dump is the same at every 10 s sample', async () => {
    await dk(h, 'network', 'create', '-d', 'two', '--subnet', '10.88.0.0/24', 'other2');
    await runSleeper(h, 'o1', 'other2');
    try {
      const first = await rulesDump();
      assert.ok(first.includes('TSNET-TWO-FWD') && first.includes('-j TSNET-FWD'), 'both instances hooked');
      const repairs = [appliedChecks(h.tsnetLog()), appliedChecks(two!.log())];
      const samples = await during(60_000, async () => assert.equal(await rulesDump(), first), { interval: 10_000, what: 'an unchanged rule dump' });
      assert.ok(samples >= 6, `${samples} samples`);
      assert.deepEqual([appliedChecks(h.tsnetLog()), appliedChecks(two!.log())], repairs, 'neither instance repaired anything');
      assert.ok(await reaches('o1', OUTSIDE), 'the second instance forwards');
      assert.equal(await reaches('o1', await ipOf('c1', 'ts')), false, 'and stays isolated');
    } finally {
      await h.docker(['rm', '-f', 'o1'], { allowFail: true });
      await h.docker(['network', 'rm', 'other2'], { allowFail: true });
    }
  });
});
