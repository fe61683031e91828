/** The Swarm settings of VXLAN networks (src/config/settings.ts): VNI range, peer CIDRs, data-address port. */
import assert from 'node:assert/strict';
import { parsePeerCidrs, parseVniRange, readSettings, SettingsError } from '../../../src/config/settings';

describe('vxlan (Swarm): settings', () => {
  it('TSNET_VNI_RANGE: default 1-4095 (below Docker overlay VNIs), FIRST-LAST or one VNI', () => {
    assert.deepEqual(readSettings({}).vniRange, { first: 1, last: 4095 });
    assert.deepEqual(readSettings({ TSNET_VNI_RANGE: '100-199' }).vniRange, { first: 100, last: 199 });
    assert.deepEqual(parseVniRange('42'), { first: 42, last: 42 });
    for (const bad of ['0-10', '10-5', '1-16777216', 'x', '1-2-3']) assert.throws(() => parseVniRange(bad), SettingsError, bad);
  });

  it('TSNET_PEER_CIDRS: unset means the underlay subnet; a list of CIDRs otherwise', () => {
    assert.equal(readSettings({}).peerCidrs, undefined);
    assert.deepEqual(parsePeerCidrs('10.0.0.0/24, fd00::/64'), ['10.0.0.0/24', 'fd00::/64']);
    assert.deepEqual(parsePeerCidrs('none'), [], 'none: peers only, no learning');
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.0.0.0/8', 'eth0/24']) assert.throws(() => parsePeerCidrs(bad), SettingsError, bad);
  });

  it('TSNET_DATA_ADDR_PORT: default 7947, 0 for off, a TCP port otherwise', () => {
    assert.equal(readSettings({}).dataAddrPort, 7947);
    assert.equal(readSettings({ TSNET_DATA_ADDR_PORT: '0' }).dataAddrPort, 0);
    assert.equal(readSettings({ TSNET_DATA_ADDR_PORT: '8000' }).dataAddrPort, 8000);
    for (const bad of ['65536', '-1', 'x', '80 80']) assert.throws(() => readSettings({ TSNET_DATA_ADDR_PORT: bad }), /TSNET_DATA_ADDR_PORT must be a TCP port/, bad);
  });
});
