import assert from 'node:assert/strict';
import { parseMetricsAddr, readSettings, SettingsError } from '../../../src/config/settings';
import { poolCapacity } from '../../../src/daemon/introspection';

describe('TSNET_METRICS_ADDR and pool capacity', () => {
  it('HOST:PORT, [IPv6]:PORT and :PORT; anything else is refused', () => {
    assert.deepEqual(parseMetricsAddr('127.0.0.1:9917'), { host: '127.0.0.1', port: 9917 });
    assert.deepEqual(parseMetricsAddr('[::1]:9917'), { host: '::1', port: 9917 });
    assert.deepEqual(parseMetricsAddr(':9100'), { host: '0.0.0.0', port: 9100 });
    for (const bad of ['9917', 'host:', 'host:0', 'host:70000', '::1:9917', 'a b:1']) assert.throws(() => parseMetricsAddr(bad), SettingsError, bad);
    assert.equal(readSettings({}).metricsAddr, undefined);
    assert.equal(readSettings({ TSNET_METRICS_ADDR: '' }).metricsAddr, undefined);
    assert.deepEqual(readSettings({ TSNET_METRICS_ADDR: 'localhost:1234' }).metricsAddr, { host: 'localhost', port: 1234 });
  });

  it('addresses a pool can hand out', () => {
    assert.equal(poolCapacity('10.0.0.0/24'), 254);
    assert.equal(poolCapacity('10.0.0.0/31'), 2);
    assert.equal(poolCapacity('10.0.0.1/32'), 1);
    assert.equal(poolCapacity('fd00::/120'), 256);
  });
});
