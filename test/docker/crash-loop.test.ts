// Real-Docker tier: containers start in parallel while tsnet is killed with -9 at random moments and
// restarted. No address is ever held by two running containers, and once every container and network
// is gone, no tsnet link, no per-network rule and no stored object is left.
import assert from 'node:assert/strict';
import path from 'node:path';
import { open } from 'lmdb';
import fc from 'fast-check';
import { dk, IMAGE, withTsnetHost } from '../lab';

const ROUNDS = 4;
const PER_ROUND = 6;

describe('docker: crash loop (kill -9 during parallel starts)', function () {
  const { host } = withTsnetHost('crash');

  it(`${ROUNDS} rounds of ${PER_ROUND} parallel starts with a kill -9 each: state converges`, async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.61.0.0/24', 'cl');
    const linksBefore = (await h.exec(['ip', '-o', 'link', 'show'])).stdout.split('\n').filter((l) => / ts[cv]/.test(l)).length;
    assert.equal(linksBefore, 0);
    // Fixed seed: the kill moments are random but repeatable.
    const delays = fc.sample(fc.integer({ min: 0, max: 600 }), { seed: 0x6b696c6c, numRuns: ROUNDS });
    let started = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const names = Array.from({ length: PER_ROUND }, (_, i) => `r${round}c${i}`);
      const runs = names.map((n) => h.docker(['run', '-d', '--name', n, '--network', 'cl', IMAGE, 'sleep', '3600'], { allowFail: true, timeoutMs: 60_000 }));
      await new Promise((r) => setTimeout(r, delays[round])); // the point: kill -9 at a chosen moment of the starts
      await h.stopTsnet('SIGKILL');
      await new Promise((r) => setTimeout(r, 300)); // the point: calls hit a dead plugin for a while before it is back
      await h.startTsnet();
      const results = await Promise.all(runs);
      started += results.filter((r) => r.code === 0).length;
      // Running containers never share an address.
      const running = (await dk(h, 'ps', '-q', '--filter', 'network=cl')).split(/\s+/).filter(Boolean);
      const ips = await Promise.all(running.map((c) => dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.cl.IPAddress}}', c)));
      assert.equal(new Set(ips).size, ips.length, `round ${round}: duplicate address among ${ips.join(',')}`);
      // The survivors still reach each other.
      if (running.length > 1) {
        const r = await h.docker(['exec', running[0]!, 'ping', '-c', '1', '-W', '2', ips[ips.length - 1]!], { allowFail: true });
        assert.equal(r.code, 0, `round ${round}: ping between survivors failed`);
      }
    }
    console.log(`      ${started}/${ROUNDS * PER_ROUND} containers started across ${ROUNDS} kills`);
    const all = (await dk(h, 'ps', '-aq')).split(/\s+/).filter(Boolean);
    if (all.length) await dk(h, 'rm', '-f', ...all);
    await dk(h, 'network', 'rm', 'cl');
    // A restart reconciles: whatever a kill left half-made is gone afterwards.
    await h.stopTsnet('SIGTERM');
    await h.startTsnet();
    const links = (await h.exec(['ip', '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /: ts[a-z]?-?[0-9a-f]/.test(l));
    assert.deepEqual(links, [], 'tsnet links left');
    const rules = (await h.exec(['iptables-save'])).stdout.split('\n').filter((l) => l.includes(':net:'));
    assert.deepEqual(rules, [], 'per-network rules left');
    const db = open({ path: path.join(h.tsnetStateDir, 'tsnet.mdb'), readOnly: true, compression: false, noSubdir: false });
    try {
      const keys = [...db.getKeys({})].map(String).filter((k) => !k.startsWith('meta/'));
      assert.deepEqual(keys, [], 'objects left in the store');
    } finally {
      await db.close();
    }
  });
});
