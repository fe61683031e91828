import assert from 'node:assert/strict';
import type { NetworkRecord } from '../../../src/model/records';
import { testLogger } from '../../../src/log';
import { Firewall } from '../../../src/firewall/firewall';
import { NftGeneration } from '../../../src/netlink/nft-generation';
import { networkRules, type Rule } from '../../../src/firewall/rules';
import { execCommand, type CommandRunner } from '../../../src/firewall/runner';
import { netnsUnsafeReason, resetIptables, bridgeOptions, ipamPool, networkRecord } from '../../lab';
import { firewallNetworkOf } from '../../../src/datapath/shared/firewall-network';

/*
 * Root tier: the firewall against the real iptables of a private network namespace. Run the whole mocha
 * process under `unshare -n`; outside a private namespace these tests refuse to run (they would rewrite
 * the host's firewall).
 */

const run = (file: string, ...args: string[]) => execCommand(file, args);

const save = async (tool = 'iptables-nft-save') => (await run(tool)).stdout;
const withoutComments = (text: string) =>
  text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');

function counting(): { runner: CommandRunner; restores: () => number } {
  let n = 0;
  return {
    runner: (file, args, input) => {
      if (file.endsWith('-restore')) n++;
      return execCommand(file, args, input);
    },
    restores: () => n,
  };
}

const ID_A = 'aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111';
const ID_B = 'bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222';

function network(id: string, pool: string, over: Partial<NetworkRecord> = {}): NetworkRecord {
  return networkRecord(bridgeOptions(), { id, ipv4: [ipamPool(pool)], ...over });
}

const asSaveLine = (r: Rule) => `-A ${r.chain} ${r.spec}`;

describe('firewall (netns, real iptables)', function () {
  before(function () {
    const reason = netnsUnsafeReason();
    if (reason) {
      console.warn(`  SKIPPED firewall netns tests: ${reason}`);
      this.skip();
    }
  });
  let allowed = false;
  beforeEach(async () => {
    allowed = netnsUnsafeReason() === undefined;
    if (allowed) await resetIptables();
  });
  afterEach(async () => {
    if (allowed) await resetIptables(); // never touch a firewall outside a private namespace
  });

  it('ensureBase installs chains, base rules, hooks and the egress filter; a second call changes nothing', async () => {
    const c = counting();
    const fw = new Firewall({ backend: 'nft', runner: c.runner, logger: testLogger() });
    await fw.ensureBase();
    const v4 = await save();
    for (const line of [
      ':TSNET-FWD - [0:0]',
      ':TSNET-GUARD - [0:0]',
      ':TSNET-GUARD-IN - [0:0]',
      ':TSNET-MARK - [0:0]',
      '-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-GUARD',
      '-A INPUT -m comment --comment "tsnet:tsnet:hook" -j TSNET-GUARD-IN',
      '-A TSNET-MARK -m comment --comment "tsnet:tsnet:base" -j MARK --set-xmark 0x8000000/0x8000000',
      '-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD',
      '-A POSTROUTING -m comment --comment "tsnet:tsnet:hook" -j TSNET-POSTROUTING',
      '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "tsnet:tsnet:hook" -j TSNET-DNAT',
      '-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "tsnet:tsnet:hook" -j TSNET-DNAT',
    ]) {
      assert.ok(v4.split('\n').includes(line), `missing: ${line}\n${v4}`);
    }
    assert.ok(!v4.includes('TSNET-ISO'));
    assert.ok((await save('ip6tables-nft-save')).includes('-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL'));
    const eb = (await save('ebtables-nft-save')).split('\n');
    for (const line of [':TSNET-EGRESS RETURN', '-A OUTPUT -j TSNET-EGRESS', '-A TSNET-EGRESS --mark 0x8000000/0x8000000 -j DROP']) {
      assert.ok(eb.includes(line), `ebtables: missing ${line}\n${eb.join('\n')}`);
    }
    const before = c.restores();
    await fw.ensureBase();
    assert.equal(c.restores(), before, 'a second ensureBase only reads');
  });

  it('the periodic check reads no rules while the kernel\'s ruleset generation stands still, and repairs once anyone changes a rule', async () => {
    let saves = 0;
    const runner: CommandRunner = (file, args, input) => {
      if (file.endsWith('-save')) saves++;
      return execCommand(file, args, input);
    };
    const generation = new NftGeneration();
    try {
      const g0 = await generation.read();
      assert.equal(typeof g0, 'number', 'the generation is readable in a private namespace');
      const fw = new Firewall({ backend: 'nft', runner, logger: testLogger(), rulesetGeneration: () => generation.read() });
      await fw.checkBase(); // installs the base
      assert.ok((await generation.read())! > g0!, 'the restore moved the generation');
      await fw.checkBase(); // finds it in place
      const before = saves;
      await fw.checkBase();
      await fw.checkBase();
      assert.equal(saves, before, 'no iptables-save while nothing changed');
      assert.equal(fw.unchangedChecks, 2);

      const hook = ['-m', 'comment', '--comment', 'tsnet:tsnet:hook', '-j', 'TSNET-FWD'];
      await run('iptables-nft', '-D', 'FORWARD', ...hook); // someone else removes tsnet's hook
      await fw.checkBase();
      assert.ok((await save()).split('\n').includes(`-A FORWARD ${hook.slice(0, 4).join(' ').replace('tsnet:tsnet:hook', '"tsnet:tsnet:hook"')} -j TSNET-FWD`), 'the hook is back');
      assert.ok(saves > before);
    } finally {
      generation.close();
    }
  });

  it('keeps its FORWARD hook below -j DOCKER-USER, puts nothing in DOCKER-USER, and moves no rule it does not own', async () => {
    const hook = '-m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD';
    // The model before issue 12 left a hook in DOCKER-USER and one at FORWARD 1: both go.
    await run('iptables-nft', '-N', 'TSNET-FWD');
    await run('iptables-nft', '-N', 'DOCKER-USER');
    await run('iptables-nft', '-A', 'DOCKER-USER', '-m', 'comment', '--comment', 'tsnet:tsnet:hook', '-j', 'TSNET-FWD');
    await run('iptables-nft', '-A', 'DOCKER-USER', '-j', 'RETURN');
    await run('iptables-nft', '-A', 'FORWARD', '-m', 'comment', '--comment', 'tsnet:tsnet:hook', '-j', 'TSNET-FWD');
    await run('iptables-nft', '-A', 'FORWARD', '-j', 'DOCKER-USER');
    await run('iptables-nft', '-A', 'FORWARD', '-o', 'docker0', '-j', 'ACCEPT');
    const c = counting();
    const fw = new Firewall({ backend: 'nft', runner: c.runner });
    await fw.ensureBase();
    const chainRules = async (chain: string) => (await run('iptables-nft', '-S', chain)).stdout.trim().split('\n').slice(1);
    assert.deepEqual(await chainRules('DOCKER-USER'), ['-A DOCKER-USER -j RETURN']);
    assert.deepEqual(await chainRules('FORWARD'), ['-A FORWARD -j DOCKER-USER', `-A FORWARD ${hook}`, '-A FORWARD -o docker0 -j ACCEPT']);
    // The admin adds rules to DOCKER-USER and FORWARD; dockerd restarts and re-inserts its jump at 1.
    await run('iptables-nft', '-I', 'DOCKER-USER', '-s', '10.0.0.1', '-j', 'DROP');
    await run('iptables-nft', '-A', 'FORWARD', '-i', 'eth9', '-j', 'DROP');
    await run('iptables-nft', '-D', 'FORWARD', '-j', 'DOCKER-USER');
    await run('iptables-nft', '-I', 'FORWARD', '-j', 'DOCKER-USER');
    let n = c.restores();
    await fw.ensureBase();
    assert.equal(c.restores(), n, 'nothing to repair');
    assert.deepEqual(await chainRules('DOCKER-USER'), ['-A DOCKER-USER -s 10.0.0.1/32 -j DROP', '-A DOCKER-USER -j RETURN']);
    // Someone flushes FORWARD and puts DOCKER-USER's jump back after an ACCEPT: our hook goes right after it.
    await run('iptables-nft', '-F', 'FORWARD');
    await run('iptables-nft', '-A', 'FORWARD', '-i', 'eth8', '-j', 'ACCEPT');
    await run('iptables-nft', '-A', 'FORWARD', '-j', 'DOCKER-USER');
    await run('iptables-nft', '-A', 'FORWARD', '-i', 'eth9', '-j', 'DROP');
    n = c.restores();
    await fw.ensureBase();
    assert.equal(c.restores(), n + 1, 'one restore for the IPv4 repair');
    assert.deepEqual(await chainRules('FORWARD'), ['-A FORWARD -i eth8 -j ACCEPT', '-A FORWARD -j DOCKER-USER', `-A FORWARD ${hook}`, '-A FORWARD -i eth9 -j DROP']);
  });

  it('addNetwork writes exactly the generated IPv4 and IPv6 rules; a repeat is a no-op', async () => {
    const c = counting();
    const fw = new Firewall({ backend: 'nft', runner: c.runner });
    const net = network(ID_A, '10.1.0.0/24', { ipv6: [{ addressSpace: 'x', pool: 'fd00:a::/64', auxAddresses: {} }], enableIPv6: true });
    await fw.addNetwork(firewallNetworkOf(net, 'tsbrA'));
    const v4 = (await save()).split('\n');
    const v6 = (await save('ip6tables-nft-save')).split('\n');
    for (const r of networkRules(fw.names, fw.markers, 4, firewallNetworkOf(net, 'tsbrA'))) assert.ok(v4.includes(asSaveLine(r)), asSaveLine(r));
    const rules6 = networkRules(fw.names, fw.markers, 6, firewallNetworkOf(net, 'tsbrA'));
    assert.equal(rules6.length, 9);
    assert.ok(v4.includes('-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-GUARD'));
    for (const r of rules6) assert.ok(v6.includes(asSaveLine(r)), asSaveLine(r));
    const n = c.restores();
    await fw.addNetwork(firewallNetworkOf(net, 'tsbrA'));
    assert.equal(c.restores(), n, 'the kernel already holds exactly these rules');
  });

  it('removeNetwork deletes exactly the network’s rules; foreign rules and other networks survive', async () => {
    await run('iptables-nft', '-A', 'FORWARD', '-i', 'eth9', '-j', 'ACCEPT');
    await run('iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-s', '192.168.5.0/24', '-j', 'MASQUERADE');
    await run('iptables-nft', '-N', 'FOREIGN');
    await run('iptables-nft', '-A', 'FOREIGN', '-m', 'comment', '--comment', 'tsnet:other:net:aaaaaaaaaaaa', '-j', 'RETURN');
    const foreign = (await save()).split('\n').filter((l) => l.startsWith('-A'));
    const fw = new Firewall({ backend: 'nft' });
    const a = network(ID_A, '10.1.0.0/24');
    const b = network(ID_B, '10.2.0.0/24', { internal: true });
    await fw.addNetwork(firewallNetworkOf(a, 'tsbrA'));
    await fw.addNetwork(firewallNetworkOf(b, 'tsbrB'));
    // A port mapping of an endpoint of A goes with A.
    await fw.replaceOwnedRules(4, fw.markers.endpoint(ID_A, 'e'.repeat(64)), [
      {
        table: 'nat',
        chain: fw.names.dnat,
        spec: `-p tcp -m tcp --dport 8080 -m comment --comment "${fw.markers.endpoint(ID_A, 'e'.repeat(64))}" -j DNAT --to-destination 10.1.0.2:80`,
      },
    ]);
    assert.ok((await save()).includes('tsnet:tsnet:net:aaaaaaaaaaaa:ep:eeeeeeeeeeee'));
    await fw.removeNetwork(firewallNetworkOf(a, 'tsbrA'));
    const after = (await save()).split('\n');
    assert.ok(!after.some((l) => l.includes('tsnet:tsnet:net:aaaaaaaaaaaa')), 'no rule of A left');
    for (const r of networkRules(fw.names, fw.markers, 4, firewallNetworkOf(b, 'tsbrB'))) assert.ok(after.includes(asSaveLine(r)), 'B intact');
    for (const l of foreign) assert.ok(after.includes(l), `foreign rule survived: ${l}`);
    assert.ok(after.includes('-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD'));
    await fw.removeNetwork(firewallNetworkOf(b, 'tsbrB'));
    assert.ok(!(await save()).includes('tsnet:tsnet:net:'));
    await fw.removeNetwork(firewallNetworkOf(b, 'tsbrB')); // unknown by now: nothing to do, no error
  });

  it('rebuild rewrites the chains for the listed networks and is idempotent', async () => {
    const c = counting();
    const fw = new Firewall({ backend: 'nft', runner: c.runner });
    const a = network(ID_A, '10.1.0.0/24');
    const b = network(ID_B, '10.2.0.0/24', { ipv6: [{ addressSpace: 'x', pool: 'fd00:b::/64', auxAddresses: {} }] });
    await fw.addNetwork(firewallNetworkOf(a, 'tsbrA'));
    await fw.addNetwork(firewallNetworkOf(b, 'tsbrB'));
    await run('iptables-nft', '-A', 'TSNET-FWD', '-j', 'ACCEPT'); // junk in our chain
    await run('iptables-nft', '-D', 'FORWARD', '-m', 'comment', '--comment', 'tsnet:tsnet:hook', '-j', 'TSNET-FWD');
    await run('iptables-nft', '-A', 'FORWARD', '-o', 'eth9', '-j', 'ACCEPT'); // foreign
    await fw.rebuild([firewallNetworkOf(b, 'tsbrB')]);
    const first4 = withoutComments(await save());
    const first6 = withoutComments(await save('ip6tables-nft-save'));
    assert.ok(!first4.includes('aaaaaaaaaaaa'), 'unlisted network gone');
    assert.ok(!first4.includes('-A TSNET-FWD -j ACCEPT'), 'junk gone');
    assert.ok(first4.includes('-A FORWARD -o eth9 -j ACCEPT'), 'foreign rule kept');
    assert.ok(first4.includes('-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD'), 'hook back');
    assert.ok(first6.includes('-s fd00:b::/64'));
    const n = c.restores();
    await fw.rebuild([firewallNetworkOf(b, 'tsbrB')]);
    assert.equal(c.restores(), n, 'second rebuild finds nothing to change');
    assert.equal(withoutComments(await save()), first4);
    assert.equal(withoutComments(await save('ip6tables-nft-save')), first6);
    // An incremental add after a rebuild, then a rebuild with both: still converges to a fixed point.
    await fw.addNetwork(firewallNetworkOf(a, 'tsbrA'));
    await fw.rebuild([firewallNetworkOf(a, 'tsbrA'), firewallNetworkOf(b, 'tsbrB')]);
    const again = withoutComments(await save());
    await fw.rebuild([firewallNetworkOf(a, 'tsbrA'), firewallNetworkOf(b, 'tsbrB')]);
    assert.equal(withoutComments(await save()), again);
  });

  it('works the same through iptables-legacy', async () => {
    const fw = new Firewall({ backend: 'legacy' });
    const a = network(ID_A, '10.1.0.0/24');
    await fw.addNetwork(firewallNetworkOf(a, 'tsbrA'));
    const legacy = (await save('iptables-legacy-save')).split('\n');
    for (const r of networkRules(fw.names, fw.markers, 4, firewallNetworkOf(a, 'tsbrA'))) assert.ok(legacy.includes(asSaveLine(r)), asSaveLine(r));
    assert.ok(!(await save()).includes('TSNET'), 'nothing written through nf_tables');
    const c = counting();
    const again = new Firewall({ backend: 'legacy', runner: c.runner });
    await again.addNetwork(firewallNetworkOf(a, 'tsbrA'));
    assert.equal(c.restores(), 0, 'legacy prints the same canonical rules');
    await fw.removeNetwork(firewallNetworkOf(a, 'tsbrA'));
    assert.ok(!(await save('iptables-legacy-save')).includes('tsnet:tsnet:net:'));
  });

  it('detects the flavour dockerd uses', async () => {
    assert.equal((await new Firewall().backend()).name, 'nft');
    await run('iptables-legacy', '-N', 'DOCKER');
    assert.equal((await new Firewall().backend()).name, 'legacy');
    await run('iptables-nft', '-N', 'DOCKER');
    assert.equal((await new Firewall().backend()).name, 'nft', 'both have DOCKER chains: nft');
    assert.equal((await new Firewall({ backend: 'legacy' }).backend()).name, 'legacy');
  });

  it('uses instance-specific chains that do not collide with the default instance', async () => {
    const one = new Firewall({ backend: 'nft' });
    const two = new Firewall({ backend: 'nft', instance: 'second-install-x' });
    await one.addNetwork(firewallNetworkOf(network(ID_A, '10.1.0.0/24'), 'tsbrA'));
    await two.addNetwork(firewallNetworkOf(network(ID_A, '10.1.0.0/24'), 'tsbrA'));
    assert.ok(two.names.postrouting.length <= 28);
    await two.removeNetwork(firewallNetworkOf(network(ID_A, '10.1.0.0/24'), 'tsbrA'));
    const text = await save();
    assert.ok(text.includes('"tsnet:tsnet:net:aaaaaaaaaaaa"'));
    assert.ok(!text.includes('tsnet:second-install-x:net:'));
  });
});
