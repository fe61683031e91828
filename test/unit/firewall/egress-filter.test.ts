import assert from 'node:assert/strict';
import { EbtablesEgressFilter } from '../../../src/firewall/egress-filter';
import { CommandFailed, type CommandRunner } from '../../../src/firewall/runner';

/** ebtables-nft-save output of a bridge filter table holding `extra` lines. */
const dump = (extra: string[]) => ['*filter', ':INPUT ACCEPT', ':FORWARD ACCEPT', ':OUTPUT ACCEPT', ...extra, ''].join('\n');

describe('firewall: bridge-family egress filter (ebtables text)', () => {
  function host(initial: string[]) {
    let lines = initial;
    const restores: string[] = [];
    const runner: CommandRunner = async (file, args, input) => {
      if (file === 'ebtables-nft-save') return { stdout: dump(lines), stderr: '' };
      if (file === 'ebtables-nft-restore') {
        restores.push(input ?? '');
        lines = [':TSNET-EGRESS RETURN', '-A OUTPUT -j TSNET-EGRESS', '-A TSNET-EGRESS --mark 0x8000000/0x8000000 -j DROP'];
        return { stdout: '', stderr: '' };
      }
      throw new CommandFailed(file, args, undefined, 'not found', 'ENOENT');
    };
    return { runner, restores };
  }

  it('declares its chain (policy RETURN) with one DROP of the mark and hooks it into OUTPUT once, then is read-only', async () => {
    const h = host([]);
    const f = new EbtablesEgressFilter({ instance: 'tsnet', runner: h.runner });
    await f.ensure();
    assert.deepEqual(h.restores, ['*filter\n:TSNET-EGRESS RETURN\n-A TSNET-EGRESS --mark 0x8000000/0x8000000 -j DROP\n-I OUTPUT 1 -j TSNET-EGRESS\n']);
    await f.ensure();
    assert.equal(h.restores.length, 1);
    assert.deepEqual(await f.rules(), ['--mark 0x8000000/0x8000000 -j DROP']);
  });

  it('removes its hook and chain and nothing else', async () => {
    const h = host([':TSNET-EGRESS RETURN', '-A OUTPUT -j OTHER', '-A OUTPUT -j TSNET-EGRESS', '-A TSNET-EGRESS --mark 0x8000000/0x8000000 -j DROP']);
    await new EbtablesEgressFilter({ instance: 'tsnet', runner: h.runner }).remove();
    assert.deepEqual(h.restores, ['*filter\n-D OUTPUT -j TSNET-EGRESS\n-F TSNET-EGRESS\n-X TSNET-EGRESS\n']);
  });

  it('names the chain after the instance', () => {
    assert.equal(new EbtablesEgressFilter({ instance: 'blue' }).chain, 'TSNET-BLUE-EGRESS');
  });
});
