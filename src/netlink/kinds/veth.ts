import { attr, cstring, u32 } from '../attributes';
import { parseMac } from '../hwaddr';
import { encodeLinkInfo, IFINFOMSG_LENGTH, IFLA } from './info';

const VETH_INFO_PEER = 1;

/** A veth pair; the spec's name/mtu/mac are the first end's, `peer` describes the other end. */
export interface VethSpec {
  kind: 'veth';
  peer: {
    name: string;
    mtu?: number;
    mac?: string;
  };
}

/**
 * VETH_INFO_PEER holds a whole (zeroed) struct ifinfomsg followed by the peer's own IFLA_*
 * attributes, so it is not flagged as nested.
 */
export function encodeVethInfo(spec: VethSpec): Buffer {
  const peer: Buffer[] = [Buffer.alloc(IFINFOMSG_LENGTH), attr(IFLA.IFNAME, cstring(spec.peer.name))];
  if (spec.peer.mtu !== undefined) peer.push(attr(IFLA.MTU, u32(spec.peer.mtu)));
  if (spec.peer.mac !== undefined) peer.push(attr(IFLA.ADDRESS, parseMac(spec.peer.mac)));
  return encodeLinkInfo('veth', [attr(VETH_INFO_PEER, Buffer.concat(peer))]);
}
