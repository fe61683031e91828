import assert from 'node:assert/strict';
import { backendNamed, detectBackend, hasDockerChains, parseBackendSetting } from '../../../src/firewall/backend';
import { CommandFailed, type CommandRunner } from '../../../src/firewall/runner';

describe('firewall backend detection', () => {
  const saves = (legacy: string | null, nft: string | null): CommandRunner => async (file) => {
    const text = file === 'iptables-legacy-save' ? legacy : file === 'iptables-nft-save' ? nft : null;
    if (text === null) throw new CommandFailed(file, [], undefined, 'not found', 'ENOENT');
    return { stdout: text, stderr: '' };
  };
  const docker = '*filter\n:DOCKER-USER - [0:0]\nCOMMIT\n';
  const plain = '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n';

  it('recognises dockerd chains', () => {
    assert.ok(hasDockerChains(docker));
    assert.ok(hasDockerChains('*nat\n:DOCKER - [0:0]\n'));
    assert.ok(!hasDockerChains(plain));
    assert.ok(!hasDockerChains('*filter\n:DOCKERISH - [0:0]\n'));
  });

  it('uses legacy only when the legacy tables hold dockerd chains and nf_tables do not', async () => {
    assert.equal((await detectBackend(saves(docker, plain), undefined)).name, 'legacy');
    assert.equal((await detectBackend(saves(docker, docker), undefined)).name, 'nft');
    assert.equal((await detectBackend(saves(plain, docker), undefined)).name, 'nft');
    assert.equal((await detectBackend(saves('', ''), undefined)).name, 'nft');
    assert.equal((await detectBackend(saves(plain, null), undefined)).name, 'legacy');
    assert.equal((await detectBackend(saves(null, null), undefined)).name, 'default');
  });

  it('obeys the setting', async () => {
    assert.equal((await detectBackend(saves(plain, docker), 'legacy')).name, 'legacy');
    assert.equal(parseBackendSetting(undefined), undefined);
    assert.equal(parseBackendSetting('auto'), undefined);
    assert.equal(parseBackendSetting('NFT'), 'nft');
    assert.throws(() => parseBackendSetting('ebpf'), /TSNET_IPTABLES_BACKEND/);
  });

  it('names the tools of each flavour', () => {
    const l = backendNamed('legacy');
    assert.deepEqual([l.save(4), l.restore(6)], ['iptables-legacy-save', 'ip6tables-legacy-restore']);
    const d = backendNamed('default');
    assert.deepEqual([d.save(6), d.restore(4)], ['ip6tables-save', 'iptables-restore']);
    assert.deepEqual(d.restoreArgs(), ['--noflush', '--wait=10']);
  });
});
