import assert from 'node:assert/strict';
import { AttrStream, rt } from 'netlink';
import { attr, nested, parseAttrs } from '../../../src/netlink/attributes';
import { errnoName, wrapError } from '../../../src/netlink/errors';
import { decodeLinkInfo } from '../../../src/netlink/kinds/info';
import { decodeMacvlanInfo } from '../../../src/netlink/kinds/macvlan';
import { decodeVlanInfo } from '../../../src/netlink/kinds/vlan';
import { decodeVxlanInfo } from '../../../src/netlink/kinds/vxlan';
import { decodeBridgePort } from '../../../src/netlink/bridge-port';
import { decodeLink, getLinkRequest } from '../../../src/netlink/link';
import {
  addressRequest,
  createLinkRequest,
  encodeKindInfo,
  fdbRequest,
  MACVLAN_MODES,
  neighbourRequest,
  NetlinkError,
  type MacvlanMode,
} from '../../../src/netlink';

/** Hex written with spaces between attributes for reading; the spaces are not part of the bytes. */
function hex(text: string): string {
  return text.replace(/\s+/g, '');
}

function bytes(buf: Buffer): string {
  return buf.toString('hex');
}

describe('netlink attribute encoding', () => {
  it('writes length (without padding), type, payload, then pads to 4 bytes', () => {
    assert.equal(bytes(attr(3, Buffer.from('ab'))), hex('0600 0300 6162 0000'));
    assert.equal(bytes(attr(4, Buffer.from([1, 2, 3, 4]))), hex('0800 0400 01020304'));
    assert.equal(bytes(attr(7, Buffer.alloc(0))), hex('0400 0700'));
  });

  it('nests with NLA_F_NESTED and a length covering the padded children', () => {
    const child = attr(1, Buffer.from([9])); // 5 bytes + 3 padding
    assert.equal(bytes(nested(2, [child])), hex('0c00 0280  0500 0100 09 000000'));
  });

  it('parses a run of attributes back, ignoring the nested flag', () => {
    const run = Buffer.concat([attr(1, Buffer.from('x\0')), nested(2, [attr(1, Buffer.from([7, 0, 0, 0]))])]);
    const parsed = parseAttrs(run);
    assert.deepEqual([...parsed.keys()], [1, 2]);
    assert.equal(bytes(parsed.get(1)!), '7800');
    assert.equal(bytes(parseAttrs(parsed.get(2)!).get(1)!), '07000000');
  });
});

describe('netlink link kinds (IFLA_LINKINFO payload)', () => {
  it('bridge: IFLA_INFO_KIND "bridge\\0" only', () => {
    assert.equal(bytes(encodeKindInfo({ kind: 'bridge' })), hex('0b00 0100 627269646765 00 00'));
  });

  it('veth: VETH_INFO_PEER with a zeroed ifinfomsg, then peer IFLA_IFNAME, IFLA_MTU, IFLA_ADDRESS', () => {
    const info = encodeKindInfo({ kind: 'veth', peer: { name: 'tsc0', mtu: 1400, mac: '02:42:0a:00:00:02' } });
    assert.equal(
      bytes(info),
      hex(`
        0900 0100 76657468 00 000000
        3800 0280
          3400 0100
            00000000 00000000 00000000 00000000
            0900 0300 74736330 00 000000
            0800 0400 78050000
            0a00 0100 02420a000002 0000`),
    );
  });

  it('veth: a peer with only a name', () => {
    const info = encodeKindInfo({ kind: 'veth', peer: { name: 'p' } });
    assert.equal(
      bytes(info),
      hex(`
        0900 0100 76657468 00 000000
        2000 0280
          1c00 0100
            00000000 00000000 00000000 00000000
            0600 0300 7000 0000`),
    );
  });

  const macvlanModes: [MacvlanMode, string][] = [
    ['private', '01000000'],
    ['vepa', '02000000'],
    ['bridge', '04000000'],
    ['passthru', '08000000'],
  ];
  for (const [mode, value] of macvlanModes) {
    it(`macvlan mode ${mode}: IFLA_MACVLAN_MODE = ${MACVLAN_MODES[mode]}`, () => {
      const info = encodeKindInfo({ kind: 'macvlan', parentIndex: 7, mode });
      assert.equal(bytes(info), hex(`0c00 0100 6d6163766c616e00  0c00 0280 0800 0100 ${value}`));
    });
  }

  it('macvlan: an unknown mode is refused', () => {
    assert.throws(() => encodeKindInfo({ kind: 'macvlan', parentIndex: 7, mode: 'source' as MacvlanMode }), /unknown macvlan mode/);
  });

  it('vlan: IFLA_VLAN_ID u16 and IFLA_VLAN_PROTOCOL 802.1Q big-endian', () => {
    const info = encodeKindInfo({ kind: 'vlan', parentIndex: 2, vlanId: 100 });
    assert.equal(
      bytes(info),
      hex(`
        0900 0100 766c616e 00 000000
        1400 0280
          0600 0100 6400 0000
          0600 0500 8100 0000`),
    );
  });

  it('vlan: 802.1ad and the largest ID', () => {
    const info = encodeKindInfo({ kind: 'vlan', parentIndex: 2, vlanId: 4094, protocol: '802.1ad' });
    assert.equal(bytes(info), hex('0900 0100 766c616e 00 000000  1400 0280  0600 0100 fe0f 0000  0600 0500 88a8 0000'));
  });

  it('vlan: IDs outside 1-4094 are refused', () => {
    for (const vlanId of [0, 4095, 1.5]) {
      assert.throws(() => encodeKindInfo({ kind: 'vlan', parentIndex: 2, vlanId }), /invalid VLAN ID/);
    }
  });

  it('vxlan: ID u32, LINK u32, LOCAL, LEARNING u8, PORT u16 big-endian', () => {
    const info = encodeKindInfo({ kind: 'vxlan', vni: 42, underlayIndex: 3, local: '10.0.0.1', learning: false, port: 4789 });
    assert.equal(
      bytes(info),
      hex(`
        0a00 0100 76786c616e00 0000
        2c00 0280
          0800 0100 2a000000
          0800 0300 03000000
          0800 0400 0a000001
          0500 0700 00 000000
          0600 0f00 12b5 0000`),
    );
  });

  it('vxlan: an IPv6 local address goes in LOCAL6; unset fields are left out', () => {
    const info = encodeKindInfo({ kind: 'vxlan', vni: 0xabcdef, local: 'fd00::1', learning: true });
    assert.equal(
      bytes(info),
      hex(`
        0a00 0100 76786c616e00 0000
        2800 0280
          0800 0100 efcdab00
          1400 1100 fd000000000000000000000000000001
          0500 0700 01 000000`),
    );
  });

  it('vxlan: VNIs outside 24 bits are refused', () => {
    assert.throws(() => encodeKindInfo({ kind: 'vxlan', vni: 0x1000000 }), /invalid VXLAN VNI/);
    assert.throws(() => encodeKindInfo({ kind: 'vxlan', vni: -1 }), /invalid VXLAN VNI/);
  });
});

describe('netlink link decoding', () => {
  it('reads kind and kind data back from what the encoders produce', () => {
    const vx = decodeLinkInfo(encodeKindInfo({ kind: 'vxlan', vni: 42, underlayIndex: 3, local: '10.0.0.1', learning: false, port: 4789 }));
    assert.equal(vx.kind, 'vxlan');
    assert.deepEqual(decodeVxlanInfo(vx.data!), { vni: 42, underlayIndex: 3, local: '10.0.0.1', learning: false, port: 4789 });
    const mv = decodeLinkInfo(encodeKindInfo({ kind: 'macvlan', parentIndex: 1, mode: 'vepa' }));
    assert.deepEqual(decodeMacvlanInfo(mv.data!), { mode: 'vepa' });
    const vl = decodeLinkInfo(encodeKindInfo({ kind: 'vlan', parentIndex: 1, vlanId: 12, protocol: '802.1ad' }));
    assert.deepEqual(decodeVlanInfo(vl.data!), { vlanId: 12, protocol: '802.1ad' });
    assert.deepEqual(decodeLinkInfo(encodeKindInfo({ kind: 'bridge' })), { kind: 'bridge', slaveKind: undefined, data: undefined });
  });

  it('reads the kind the kernel reports without a trailing NUL, and the slave kind', () => {
    // iproute2-created links and some kernels: "bridge" without NUL; a port reports its master's kind.
    const dumped = Buffer.concat([attr(1, Buffer.from('veth')), attr(4, Buffer.from('bridge\0'))]);
    assert.deepEqual(decodeLinkInfo(dumped), { kind: 'veth', slaveKind: 'bridge', data: undefined });
  });
});

describe('netlink link messages (lean decoder)', () => {
  /** struct ifinfomsg: family, pad, type, index, flags, change. */
  function ifinfomsg(family: number, index: number, flags: number): Buffer {
    const b = Buffer.alloc(16);
    b.writeUInt8(family, 0);
    b.writeInt32LE(index, 4);
    b.writeUInt32LE(flags, 8);
    return b;
  }
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };

  it('reads index, up, name, MTU, MAC, master, alias, peer, kind and kind data; skips what it does not know', () => {
    const payload = Buffer.concat([
      ifinfomsg(0, 7, 0x1 | 0x1000),
      attr(3, Buffer.from('tsv0\0')),
      attr(4, u32(1450)),
      attr(26, Buffer.alloc(40, 0xee)), // IFLA_AF_SPEC and the like: skipped
      attr(1, Buffer.from([0x02, 0x42, 0x0a, 0x00, 0x00, 0xff])),
      attr(10, u32(3)),
      attr(20, Buffer.from('tsnet:x:vxlan:net:abc\0')),
      attr(5, u32(9)),
      attr(18, Buffer.concat([encodeKindInfo({ kind: 'vxlan', vni: 7, port: 4789 }), attr(4, Buffer.from('bridge'))])),
    ]);
    assert.deepEqual(decodeLink(payload), {
      index: 7,
      name: 'tsv0',
      mtu: 1450,
      up: true,
      mac: '02:42:0a:00:00:ff',
      masterIndex: 3,
      alias: 'tsnet:x:vxlan:net:abc',
      parentIndex: 9,
      kind: 'vxlan',
      slaveKind: 'bridge',
      vxlan: { vni: 7, port: 4789, underlayIndex: undefined, local: undefined, learning: undefined },
    });
  });

  it('leaves out a master of 0, an empty alias, a MAC that is not 6 bytes; stops at a truncated attribute', () => {
    const payload = Buffer.concat([
      ifinfomsg(0, 2, 0),
      attr(3, Buffer.from('lo\0')),
      attr(10, u32(0)),
      attr(20, Buffer.from('\0')),
      attr(1, Buffer.alloc(0)),
      Buffer.from([0x40, 0x00, 0x04, 0x00]), // claims 64 bytes, has none
    ]);
    assert.deepEqual(decodeLink(payload), { index: 2, name: 'lo', mtu: 0, up: false });
    assert.throws(() => decodeLink(Buffer.alloc(8)), RangeError);
  });

  it('asks for a link by name or index, without statistics (IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS)', () => {
    const mask = '08001d0008000000';
    assert.equal(bytes(getLinkRequest('ab')), hex(`00 00 0000 00000000 00000000 00000000  0700 0300 616200 00  ${mask}`));
    assert.equal(bytes(getLinkRequest(5)), hex(`00 00 0000 05000000 00000000 00000000  ${mask}`));
    assert.equal(bytes(getLinkRequest()), hex(`00 00 0000 00000000 00000000 00000000  ${mask}`));
  });

  it('bridge port dump: flags from IFLA_PROTINFO, master; a bridge itself (no PROTINFO) and other families are not ports', () => {
    const port = Buffer.concat([
      ifinfomsg(7, 12, 0),
      attr(3, Buffer.from('tsv1\0')),
      attr(10, u32(4)),
      nested(12, [attr(1, Buffer.from([3])), attr(4, Buffer.from([1])), attr(8, Buffer.from([0])), attr(9, Buffer.from([1]))]),
    ]);
    assert.deepEqual(decodeBridgePort(port), {
      index: 12,
      name: 'tsv1',
      masterIndex: 4,
      state: 3,
      hairpin: true,
      learning: false,
      unicastFlood: true,
      neighSuppress: false,
      isolated: false,
    });
    assert.equal(decodeBridgePort(Buffer.concat([ifinfomsg(7, 4, 0), attr(3, Buffer.from('br0\0'))])), undefined);
    assert.equal(decodeBridgePort(Buffer.concat([ifinfomsg(0, 12, 0), port.subarray(16)])), undefined);
  });
});

describe('netlink requests', () => {
  it('createLink: common attributes, IFLA_LINK as a raw u32 for macvlan, IFF_UP when asked', () => {
    const { data, attrs } = createLinkRequest({
      kind: 'macvlan',
      name: 'tsm1',
      parentIndex: 7,
      mode: 'bridge',
      mtu: 1400,
      mac: '02:42:0a:00:00:09',
      up: true,
    });
    assert.deepEqual(data, { flags: { up: true }, change: { up: true } });
    assert.equal(attrs.ifname, 'tsm1');
    assert.equal(attrs.mtu, 1400);
    assert.equal(bytes(attrs.address!), '02420a000009');
    assert.equal(bytes(attrs.link!), '07000000');
    assert.equal(attrs.master, undefined);
    assert.equal(bytes(attrs.linkinfo!), bytes(encodeKindInfo({ kind: 'macvlan', parentIndex: 7, mode: 'bridge' })));
  });

  it('createLink: a veth enslaved at creation carries IFLA_MASTER and no IFLA_LINK', () => {
    const { data, attrs } = createLinkRequest({ kind: 'veth', name: 'tsv1', masterIndex: 4, peer: { name: 'tsc1' } });
    assert.deepEqual(data, {});
    assert.equal(attrs.master, 4);
    assert.equal(attrs.link, undefined);
    assert.equal(attrs.mtu, undefined);
  });

  it('address: ifaddrmsg with family, prefix, index; IFA_LOCAL and IFA_ADDRESS; NODAD on request', () => {
    const v4 = addressRequest(3, '10.9.0.1/24');
    assert.deepEqual(v4.data, { family: 2, prefixlen: 24, index: 3 });
    assert.equal(bytes(v4.attrs.local!), '0a090001');
    assert.equal(bytes(v4.attrs.address!), '0a090001');
    const v6 = addressRequest(3, 'fd00:9::1/64', { nodad: true });
    assert.deepEqual(v6.data, { family: 10, prefixlen: 64, index: 3, flags: { nodad: true } });
    assert.equal(bytes(v6.attrs.local!), 'fd000009000000000000000000000001');
    assert.throws(() => addressRequest(3, '10.9.0.1'), /no prefix length/);
    assert.throws(() => addressRequest(3, '10.9.0.1/33'), /bad prefix length/);
  });

  it('fdb: VXLAN flood entry is AF_BRIDGE, NUD_PERMANENT, NTF_SELF, zero lladdr, NDA_DST (whole message)', () => {
    const { data, attrs } = fdbRequest({ linkIndex: 5, mac: '00:00:00:00:00:00', dst: '10.0.0.7' });
    const out = new AttrStream();
    rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, out);
    assert.equal(
      bytes(Buffer.concat(out.bufs)),
      hex(`
        07 00 0000 05000000 8000 02 00
        0a00 0200 000000000000 0000
        0800 0100 0a000007`),
    );
  });

  it('fdb: port (big-endian), VNI and NTF_MASTER', () => {
    const { data, attrs } = fdbRequest({ linkIndex: 5, mac: '02:42:0a:00:00:02', dst: '10.0.0.7', port: 4789, vni: 42, master: true });
    assert.deepEqual(data.flags, { master: true });
    assert.equal(bytes(attrs.port!), '12b5');
    assert.equal(bytes(attrs.vni!), '2a000000');
  });

  it('neighbour: permanent ARP/NDP entries by family', () => {
    const v4 = neighbourRequest({ linkIndex: 2, ip: '10.0.0.2', mac: '02:42:0a:00:00:02' });
    assert.deepEqual(v4.data, { family: 2, ifindex: 2, state: { permanent: true } });
    assert.equal(bytes(v4.attrs.dst!), '0a000002');
    assert.equal(neighbourRequest({ linkIndex: 2, ip: 'fd00::2', mac: '02:42:0a:00:00:02' }).data.family, 10);
  });
});

describe('netlink errors', () => {
  it('turns the package\'s "Request rejected: CODE" into operation + code', () => {
    const err = wrapError('create bridge tsn-abc', new Error('Request rejected: EEXIST'));
    assert.ok(err instanceof NetlinkError);
    assert.equal(err.message, 'create bridge tsn-abc: EEXIST');
    assert.equal(err.code, 'EEXIST');
    assert.equal(errnoName(err), 'EEXIST');
  });

  it('names errnos that Node cannot name (EXFULL from a full bridge)', () => {
    assert.equal(wrapError('create veth x', new Error('Request rejected: Unknown system error -54')).message, 'create veth x: EXFULL');
    assert.equal(errnoName(new Error('Request rejected: -61')), 'ENODATA');
    assert.equal(errnoName(new Error('Request rejected: Unknown system error -200')), 'ERRNO200');
  });

  it('keeps other failures\' text, with code EUNKNOWN', () => {
    const err = wrapError('list links', new Error('Multipart message not terminated properly'));
    assert.equal(err.message, 'list links: Multipart message not terminated properly');
    assert.equal(err.code, 'EUNKNOWN');
  });
});
