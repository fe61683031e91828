import { attr, u16be, u32, u8 } from '../attributes';
import { formatIp, parseIp } from '../ip';
import { encodeLinkInfo } from './info';

/** IFLA_VXLAN_* (linux/if_link.h). */
const IFLA_VXLAN = {
  ID: 1,
  LINK: 3,
  LOCAL: 4,
  LEARNING: 7,
  PORT: 15,
  LOCAL6: 17,
} as const;

/** A VXLAN device. `underlayIndex` is IFLA_VXLAN_LINK (inside the kind data, not IFLA_LINK). */
export interface VxlanSpec {
  kind: 'vxlan';
  vni: number;
  /** Source address for the outer header (IPv4 -> LOCAL, IPv6 -> LOCAL6). */
  local?: string;
  /** UDP destination port; the kernel default is 8472, IANA's is 4789. */
  port?: number;
  learning?: boolean;
  underlayIndex?: number;
}

export interface VxlanInfo {
  vni?: number;
  local?: string;
  port?: number;
  learning?: boolean;
  underlayIndex?: number;
}

export function encodeVxlanInfo(spec: VxlanSpec): Buffer {
  if (!Number.isInteger(spec.vni) || spec.vni < 0 || spec.vni > 0xffffff) {
    throw new RangeError(`invalid VXLAN VNI ${spec.vni} (0-16777215)`);
  }
  const data: Buffer[] = [attr(IFLA_VXLAN.ID, u32(spec.vni))];
  if (spec.underlayIndex !== undefined) data.push(attr(IFLA_VXLAN.LINK, u32(spec.underlayIndex)));
  if (spec.local !== undefined) {
    const local = parseIp(spec.local);
    data.push(attr(local.length === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, local));
  }
  if (spec.learning !== undefined) data.push(attr(IFLA_VXLAN.LEARNING, u8(spec.learning ? 1 : 0)));
  if (spec.port !== undefined) data.push(attr(IFLA_VXLAN.PORT, u16be(spec.port)));
  return encodeLinkInfo('vxlan', data);
}

export function decodeVxlanInfo(data: Map<number, Buffer>): VxlanInfo {
  const id = data.get(IFLA_VXLAN.ID);
  const link = data.get(IFLA_VXLAN.LINK);
  const local = data.get(IFLA_VXLAN.LOCAL) ?? data.get(IFLA_VXLAN.LOCAL6);
  const learning = data.get(IFLA_VXLAN.LEARNING);
  const port = data.get(IFLA_VXLAN.PORT);
  return {
    vni: id && id.length >= 4 ? id.readUInt32LE(0) : undefined,
    underlayIndex: link && link.length >= 4 ? link.readUInt32LE(0) || undefined : undefined,
    local: local && (local.length === 4 || local.length === 16) && local.some((b) => b !== 0) ? formatIp(local) : undefined,
    learning: learning && learning.length >= 1 ? learning[0] !== 0 : undefined,
    port: port && port.length >= 2 ? port.readUInt16BE(0) : undefined,
  };
}
