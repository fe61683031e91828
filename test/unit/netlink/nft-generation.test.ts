import assert from 'node:assert/strict';
import { generationId } from '../../../src/netlink/nft-generation';

/** A netlink attribute: length and type (little endian), the value, padding to 4 bytes. */
function attr(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(4 + value.length, 0);
  head.writeUInt16LE(type, 2);
  return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}
const u32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

describe('nftables generation: NFT_MSG_NEWGEN payload', () => {
  it('reads NFTA_GEN_ID after nfgenmsg, past other attributes', () => {
    const nfgenmsg = Buffer.from([0, 0, 0, 0]);
    assert.equal(generationId(Buffer.concat([nfgenmsg, attr(1, u32be(4242))])), 4242);
    assert.equal(generationId(Buffer.concat([nfgenmsg, attr(3, Buffer.from('iptables-nft\0')), attr(2, u32be(77)), attr(1, u32be(0xfffffffe))])), 0xfffffffe);
  });

  it('gives undefined for a payload without it, a short one or a malformed attribute length', () => {
    assert.equal(generationId(Buffer.from([0, 0, 0, 0])), undefined);
    assert.equal(generationId(Buffer.alloc(2)), undefined);
    assert.equal(generationId(Buffer.from([0, 0, 0, 0, 2, 0, 1, 0])), undefined);
    assert.equal(generationId(Buffer.from([0, 0, 0, 0, 64, 0, 1, 0, 0, 0, 0, 1])), undefined);
  });
});
