import { attr, u16, u16be } from '../attributes';
import { encodeLinkInfo } from './info';

const IFLA_VLAN_ID = 1;
const IFLA_VLAN_PROTOCOL = 5;

export type VlanProtocol = '802.1q' | '802.1ad';

/** Ethertypes, sent big-endian (__be16). */
const VLAN_PROTOCOLS: Record<VlanProtocol, number> = {
  '802.1q': 0x8100,
  '802.1ad': 0x88a8,
};

/** An 802.1Q sub-interface of `parentIndex` (IFLA_LINK). Not available on every kernel. */
export interface VlanSpec {
  kind: 'vlan';
  parentIndex: number;
  vlanId: number;
  protocol?: VlanProtocol;
}

export interface VlanInfo {
  vlanId?: number;
  protocol?: VlanProtocol;
}

export function encodeVlanInfo(spec: VlanSpec): Buffer {
  if (!Number.isInteger(spec.vlanId) || spec.vlanId < 1 || spec.vlanId > 4094) {
    throw new RangeError(`invalid VLAN ID ${spec.vlanId} (1-4094)`);
  }
  const protocol = VLAN_PROTOCOLS[spec.protocol ?? '802.1q'];
  return encodeLinkInfo('vlan', [attr(IFLA_VLAN_ID, u16(spec.vlanId)), attr(IFLA_VLAN_PROTOCOL, u16be(protocol))]);
}

export function decodeVlanInfo(data: Map<number, Buffer>): VlanInfo {
  const id = data.get(IFLA_VLAN_ID);
  const proto = data.get(IFLA_VLAN_PROTOCOL);
  const protoValue = proto && proto.length >= 2 ? proto.readUInt16BE(0) : undefined;
  return {
    vlanId: id && id.length >= 2 ? id.readUInt16LE(0) : undefined,
    protocol: (Object.keys(VLAN_PROTOCOLS) as VlanProtocol[]).find((p) => VLAN_PROTOCOLS[p] === protoValue),
  };
}
