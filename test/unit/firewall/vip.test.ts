/**
 * Swarm VIP rules (src/firewall/vip.ts, vip-firewall.ts, conntrack.ts) without a kernel: the rule text as
 * iptables-save prints it, the restore plan against a dump, and the applier against a recording runner.
 */
import assert from 'node:assert/strict';
import { Markers } from '../../../src/firewall/rules';
import { parseSave } from '../../../src/firewall/ruleset';
import { CommandFailed, type CommandRunner } from '../../../src/firewall/runner';
import { planVip, probabilityText, vipChainNames, vipHooks, vipRules } from '../../../src/firewall/vip';
import { VipFirewall } from '../../../src/firewall/vip-firewall';
import { Conntrack, deletedCount } from '../../../src/firewall/conntrack';

const NET = 'n1abcdefghijklmnopqrstuvw';
const markers = new Markers('tsnet');
const names = vipChainNames('tsnet');
const M = `tsnet:tsnet:net:${NET.slice(0, 12)}:vip`;
const HOOK = 'tsnet:tsnet:vip-hook';

function dump(nat: string[]): string {
  return ['*nat', ':PREROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ...nat, 'COMMIT', ''].join('\n');
}

describe('firewall: Swarm VIP rules', () => {
  it('names its chains after the instance, within iptables\' 28 characters', () => {
    assert.deepEqual(vipChainNames('tsnet'), { dnat: 'TSNET-VIP', post: 'TSNET-VIP-POST' });
    assert.deepEqual(vipChainNames('lab'), { dnat: 'TSNET-LAB-VIP', post: 'TSNET-LAB-VIP-POST' });
    assert.ok(vipChainNames('a-very-long-instance-name-indeed').post.length <= 28);
  });

  it('prints probabilities as iptables-save does (p * 2^31 rounded, 11 digits)', () => {
    assert.equal(probabilityText(1 / 3), '0.33333333349');
    assert.equal(probabilityText(1 / 2), '0.50000000000');
    assert.equal(probabilityText(1 / 5), '0.20000000019');
    assert.throws(() => probabilityText(0));
  });

  it('spreads a VIP over its tasks: 1/n, 1/(n-1), ..., the last takes the rest; one pass-through per VIP', () => {
    const rules = vipRules(names, markers, {
      id: NET,
      bridge: 'tsb0123456789a',
      services: [{ vip: '10.160.0.6', tasks: ['10.160.0.9', '10.160.0.10', '10.160.0.8', '10.160.0.9'] }],
    });
    assert.deepEqual(
      rules.map((r) => `${r.table} ${r.chain} ${r.spec}`),
      [
        `nat TSNET-VIP -d 10.160.0.6/32 -i tsb0123456789a -m statistic --mode random --probability 0.33333333349 -m comment --comment "${M}" -j DNAT --to-destination 10.160.0.8`,
        `nat TSNET-VIP -d 10.160.0.6/32 -i tsb0123456789a -m statistic --mode random --probability 0.50000000000 -m comment --comment "${M}" -j DNAT --to-destination 10.160.0.9`,
        `nat TSNET-VIP -d 10.160.0.6/32 -i tsb0123456789a -m comment --comment "${M}" -j DNAT --to-destination 10.160.0.10`,
        `nat TSNET-VIP-POST -o tsb0123456789a -m conntrack --ctstate DNAT --ctorigdst 10.160.0.6 -m comment --comment "${M}" -j ACCEPT`,
      ],
    );
  });

  it('spreads a local task\'s own connections over the other tasks first (never back to itself)', () => {
    const rules = vipRules(names, markers, { id: NET, bridge: 'br0', services: [{ vip: '10.0.0.2', tasks: ['10.0.0.3', '10.0.0.4', '10.0.0.5'], local: ['10.0.0.4', '10.0.0.9'] }] });
    assert.deepEqual(
      rules.filter((r) => r.chain === names.dnat).map((r) => r.spec.replace(` -m comment --comment "${M}"`, '')),
      [
        '-s 10.0.0.4/32 -d 10.0.0.2/32 -i br0 -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.0.0.3',
        '-s 10.0.0.4/32 -d 10.0.0.2/32 -i br0 -j DNAT --to-destination 10.0.0.5',
        '-d 10.0.0.2/32 -i br0 -m statistic --mode random --probability 0.33333333349 -j DNAT --to-destination 10.0.0.3',
        '-d 10.0.0.2/32 -i br0 -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.0.0.4',
        '-d 10.0.0.2/32 -i br0 -j DNAT --to-destination 10.0.0.5',
      ],
    );
    // A lone task has nowhere else to go.
    assert.equal(vipRules(names, markers, { id: NET, bridge: 'br0', services: [{ vip: '10.0.0.2', tasks: ['10.0.0.3'], local: ['10.0.0.3'] }] }).length, 2);
  });

  it('writes nothing for a VIP without tasks and refuses what is not IPv4 or an interface name', () => {
    assert.deepEqual(vipRules(names, markers, { id: NET, bridge: 'br0', services: [{ vip: '10.0.0.2', tasks: [] }] }), []);
    assert.throws(() => vipRules(names, markers, { id: NET, bridge: 'br0', services: [{ vip: 'fd00::2', tasks: ['10.0.0.3'] }] }), /IPv4/);
    assert.throws(() => vipRules(names, markers, { id: NET, bridge: 'br0', services: [{ vip: '10.0.0.2', tasks: ['10.0.0.3 -j ACCEPT'] }] }), /IPv4/);
    assert.throws(() => vipRules(names, markers, { id: NET, bridge: 'br0 -j', services: [] }), /interface name/);
  });

  describe('the restore plan', () => {
    const net = { id: NET, bridge: 'br0', services: [{ vip: '10.0.0.2', tasks: ['10.0.0.3'] }] };
    const rules = vipRules(names, markers, net);
    const [pre, post] = vipHooks(names, markers);
    const inPlace = dump([
      ':TSNET-VIP - [0:0]',
      ':TSNET-VIP-POST - [0:0]',
      `-A PREROUTING ${pre!.spec}`,
      '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
      `-A POSTROUTING ${post!.spec}`,
      '-A POSTROUTING -m comment --comment "tsnet:tsnet:hook" -j TSNET-POSTROUTING',
      ...rules.map((r) => `-A ${r.chain} ${r.spec}`),
    ]);

    it('creates the chains, fills them and puts the hooks first', () => {
      const batch = planVip(parseSave(dump(['-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER', '-A POSTROUTING -m comment --comment "tsnet:tsnet:hook" -j TSNET-POSTROUTING'])), names, markers, rules);
      assert.equal(
        batch?.render(),
        [
          '*nat',
          '-N TSNET-VIP',
          '-N TSNET-VIP-POST',
          ...rules.map((r) => `-A ${r.chain} ${r.spec}`),
          `-I PREROUTING 1 -m comment --comment "${HOOK}" -j TSNET-VIP`,
          `-I POSTROUTING 1 -m comment --comment "${HOOK}" -j TSNET-VIP-POST`,
          'COMMIT',
          '',
        ].join('\n'),
      );
    });

    it('writes nothing when the kernel already holds exactly the rules', () => {
      assert.equal(planVip(parseSave(inPlace), names, markers, rules), undefined);
    });

    it('rewrites a chain that differs, and moves a hook that another rule got ahead of', () => {
      const moved = dump([
        ':TSNET-VIP - [0:0]',
        ':TSNET-VIP-POST - [0:0]',
        `-A PREROUTING ${pre!.spec}`,
        '-A POSTROUTING -m comment --comment "tsnet:tsnet:hook" -j TSNET-POSTROUTING',
        `-A POSTROUTING ${post!.spec}`,
        `-A TSNET-VIP -d 10.0.0.2/32 -i br0 -m comment --comment "${M}" -j DNAT --to-destination 10.0.0.9`,
        ...rules.filter((r) => r.chain === names.post).map((r) => `-A ${r.chain} ${r.spec}`),
      ]);
      assert.equal(
        planVip(parseSave(moved), names, markers, rules)?.render(),
        [
          '*nat',
          `-D POSTROUTING ${post!.spec}`,
          '-F TSNET-VIP',
          `-A TSNET-VIP ${rules[0]!.spec}`,
          `-I POSTROUTING 1 ${post!.spec}`,
          'COMMIT',
          '',
        ].join('\n'),
      );
    });

    it('with no rules at all, removes the hooks and the chains', () => {
      assert.equal(
        planVip(parseSave(inPlace), names, markers, [])?.render(),
        ['*nat', `-D PREROUTING ${pre!.spec}`, `-D POSTROUTING ${post!.spec}`, '-F TSNET-VIP', '-F TSNET-VIP-POST', '-X TSNET-VIP', '-X TSNET-VIP-POST', 'COMMIT', ''].join('\n'),
      );
      assert.equal(planVip(parseSave(dump([])), names, markers, []), undefined);
    });
  });

  describe('VipFirewall', () => {
    it('saves the nat table, restores only a change, and reads again once when the restore fails', async () => {
      let table = dump([]);
      const calls: string[] = [];
      let failNext = true;
      const run: CommandRunner = async (file, args, input) => {
        calls.push(`${file} ${args.join(' ')}`);
        if (file.endsWith('-save')) return { stdout: table, stderr: '' };
        if (file.endsWith('-restore')) {
          if (failNext) {
            failNext = false;
            throw new CommandFailed(file, args, 1, 'resource busy');
          }
          // Apply by hand: the test only needs the resulting dump.
          table = dump([':TSNET-VIP - [0:0]', ':TSNET-VIP-POST - [0:0]', ...input!.split('\n').filter((l) => l.startsWith('-A ') || l.startsWith('-I ')).map((l) => l.replace(/^-I (\S+) 1 /, '-A $1 '))]);
          return { stdout: '', stderr: '' };
        }
        throw new Error(`unexpected ${file}`);
      };
      const fw = new VipFirewall({ instance: 'tsnet', backend: 'nft', runner: run });
      const net = { id: NET, bridge: 'br0', services: [{ vip: '10.0.0.2', tasks: ['10.0.0.3', '10.0.0.4'] }] };
      assert.equal(await fw.apply([net]), true);
      assert.deepEqual(calls, ['iptables-nft-save -t nat', 'iptables-nft-restore --noflush --wait=10', 'iptables-nft-save -t nat', 'iptables-nft-restore --noflush --wait=10']);
      calls.length = 0;
      assert.equal(await fw.apply([net]), false);
      assert.deepEqual(calls, ['iptables-nft-save -t nat']);
    });
  });

  describe('Conntrack', () => {
    it('deletes the VIP connections of one task, counts them, and says when the tool is missing', async () => {
      const seen: string[][] = [];
      const ct = new Conntrack(async (file, args) => {
        seen.push([file, ...args]);
        return { stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n' };
      });
      assert.equal(await ct.deleteVipTask('10.0.0.2', '10.0.0.3'), 3);
      assert.deepEqual(seen, [['conntrack', '-D', '-f', 'ipv4', '--orig-dst', '10.0.0.2', '--reply-src', '10.0.0.3']]);
      const none = new Conntrack(async (file, args) => {
        throw new CommandFailed(file, args, 1, 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.');
      });
      assert.equal(await none.deleteVipTask('10.0.0.2', '10.0.0.3'), 0);
      const missing = new Conntrack(async (file, args) => {
        throw new CommandFailed(file, args, undefined, '', 'ENOENT');
      });
      await assert.rejects(missing.deleteVipTask('10.0.0.2', '10.0.0.3'), /not installed/);
      assert.equal(missing.unavailable, true);
      await assert.rejects(ct.deleteVipTask('10.0.0.2', '-x'), /IPv4/);
      assert.equal(deletedCount('1 flow entries have been deleted.'), 1);
    });
  });
});
