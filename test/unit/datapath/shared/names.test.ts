/** Interface names and ownership markers of the data paths (src/datapath/shared/names.ts). */
import assert from 'node:assert/strict';
import {
  bridgeName,
  containerVethName,
  hostVethName,
  isValidIfname,
  ownerMarker,
  parseOwnerMarker,
} from '../../../../src/datapath/shared/names';

const NET = '8e89a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890abcdef12';
const EP = '54ecba32aa01bb02cc03dd04ee05ff0611223344556677889900aabbccddeeff';

describe('data-path interface names', () => {
  it('derives recognisable names within 15 characters', () => {
    assert.equal(bridgeName(NET), 'ts-8e89a1b2c3');
    assert.equal(hostVethName(EP), 'tsv54ecba32aa01');
    assert.equal(containerVethName(EP), 'tsc54ecba32aa01');
    for (const name of [bridgeName(NET), hostVethName(EP), containerVethName(EP)]) assert.ok(isValidIfname(name), name);
  });

  it('validates names like the kernel', () => {
    assert.ok(isValidIfname('br-custom'));
    assert.ok(!isValidIfname(''));
    assert.ok(!isValidIfname('a-name-that-is-too-long'));
    assert.ok(!isValidIfname('a/b'));
    assert.ok(!isValidIfname('a b'));
    assert.ok(!isValidIfname('a:b'));
    assert.ok(!isValidIfname('..'));
    assert.ok(!isValidIfname('.'));
  });

  it('writes and reads ownership markers', () => {
    const marker = ownerMarker({ instance: 'tsnet', type: 'bridge', object: 'net', id: NET });
    assert.equal(marker, `tsnet:tsnet:bridge:net:${NET}`);
    assert.deepEqual(parseOwnerMarker(marker), { instance: 'tsnet', type: 'bridge', object: 'net', id: NET });
    assert.deepEqual(parseOwnerMarker(`tsnet:host-2:vxlan:ep:${EP}`), { instance: 'host-2', type: 'vxlan', object: 'ep', id: EP });
    assert.ok(Buffer.byteLength(marker) < 256, 'fits IFLA_IFALIAS');
    for (const alias of [undefined, '', 'my bridge', 'tsnet:x:net:abc', 'tsnet:x:ipvlan:net:abc', 'tsnet::bridge:net:abc']) {
      assert.equal(parseOwnerMarker(alias), undefined, String(alias));
    }
  });
});
