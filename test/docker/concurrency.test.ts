// Real-Docker tier: Docker sends calls in parallel; tsnet serialises per network and never hands out
// an address or a pool twice.
import assert from 'node:assert/strict';
import { createCIDR } from 'ip6addr';
import { dk, IMAGE, tsnetAllocations, withTsnetHost } from '../lab';

const CONTAINERS = 50;
const NETWORKS = 20;

describe('docker: parallel calls', function () {
  const { host } = withTsnetHost('conc');

  it(`${CONTAINERS} containers started in parallel on one network get distinct addresses and reach each other`, async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.60.0.0/24', 'par');
    const names = Array.from({ length: CONTAINERS }, (_, i) => `p${i}`);
    const started = Date.now();
    await Promise.all(names.map((n) => dk(h, 'run', '-d', '--name', n, '--network', 'par', IMAGE, 'sleep', '3600')));
    console.log(`      ${CONTAINERS} parallel docker run: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const ips = await Promise.all(names.map((n) => dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.par.IPAddress}}', n)));
    assert.equal(new Set(ips).size, CONTAINERS, `duplicates among ${ips.join(',')}`);
    const held = tsnetAllocations(h);
    for (const ip of ips) assert.ok(held.includes(ip), `${ip} not held by tsnet`);
    // Every container reaches the first and the last; the first reaches everyone (bounded: one ping each).
    const pings = [
      ...names.map((n) => h.docker(['exec', n, 'ping', '-c', '1', '-W', '2', ips[0]!], { allowFail: true })),
      ...ips.map((ip) => h.docker(['exec', names[CONTAINERS - 1]!, 'ping', '-c', '1', '-W', '2', ip], { allowFail: true })),
    ];
    const failed = (await Promise.all(pings)).filter((r) => r.code !== 0);
    assert.equal(failed.length, 0, `${failed.length} pings failed`);
    await Promise.all(names.map((n) => h.docker(['rm', '-f', n], { allowFail: true })));
    await dk(h, 'network', 'rm', 'par');
    assert.deepEqual(tsnetAllocations(h), []);
  });

  it(`${NETWORKS} networks created in parallel without --subnet get non-overlapping pools`, async () => {
    const h = host();
    const names = Array.from({ length: NETWORKS }, (_, i) => `auto${i}`);
    try {
      await Promise.all(names.map((n) => dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', n)));
      const subnets = await Promise.all(names.map(async (n) => JSON.parse(await dk(h, 'network', 'inspect', n))[0].IPAM.Config[0].Subnet as string));
      for (let i = 0; i < subnets.length; i++) {
        for (let j = i + 1; j < subnets.length; j++) {
          const a = createCIDR(subnets[i]!);
          const b = createCIDR(subnets[j]!);
          assert.ok(!a.contains(b.address().toString()) && !b.contains(a.address().toString()), `${subnets[i]} overlaps ${subnets[j]}`);
        }
      }
      assert.ok(!subnets.includes('172.17.0.0/16'), 'docker0 subnet avoided');
    } finally {
      await Promise.all(names.map((n) => h.docker(['network', 'rm', n], { allowFail: true })));
    }
  });
});
