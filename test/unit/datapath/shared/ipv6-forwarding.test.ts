import assert from 'node:assert/strict';
import { IPV6_FORWARDING_WARNING, warnIfNoIPv6Forwarding } from '../../../../src/datapath/shared/ipv6-forwarding';
import { bridgeOptions, capturingLogger, ipamPool, networkRecord } from '../../../lab';

describe('datapath/shared/ipv6-forwarding', () => {
  const v6only = networkRecord(bridgeOptions(), { ipv4: [], ipv6: [ipamPool('fd10:1::/64', 'fd10:1::1/64')] });

  it('warns once, with the fix, for a routed IPv6 network when net.ipv6.conf.all.forwarding is 0', () => {
    const { log, records } = capturingLogger();
    warnIfNoIPv6Forwarding(v6only, log, () => '0\n');
    assert.deepEqual(records().map((r) => [r.level, r.message, r.networkId]), [['warn', IPV6_FORWARDING_WARNING, v6only.id]]);
    assert.match(String(records()[0]!.fix), /sysctl -w net\.ipv6\.conf\.all\.forwarding=1/);
  });

  it('says nothing with forwarding on, for --internal, for IPv4-only networks, or without IPv6 in the kernel', () => {
    const { log, records } = capturingLogger();
    warnIfNoIPv6Forwarding(v6only, log, () => '1\n');
    warnIfNoIPv6Forwarding({ ...v6only, internal: true }, log, () => '0');
    warnIfNoIPv6Forwarding({ ...v6only, ipv6: [] }, log, () => '0');
    warnIfNoIPv6Forwarding(v6only, log, () => {
      throw new Error('ENOENT');
    });
    assert.deepEqual(records(), []);
  });
});
