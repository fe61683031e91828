import { attr, u8 } from '../attributes';
import { encodeLinkInfo } from './info';

/** IFLA_BR_* (linux/if_link.h). */
const IFLA_BR = {
  NF_CALL_IPTABLES: 36,
  NF_CALL_IP6TABLES: 37,
} as const;

/**
 * A Linux bridge. STP off and the defaults are what Docker uses; the one option tsnet sets is
 * `nfCall`: frames bridged between two ports pass iptables/ip6tables FORWARD (br_netfilter) whatever
 * the host's net.bridge.bridge-nf-call-ip(6)tables say, so that an admin's DOCKER-USER rules and
 * icc=false (`-i br -o br DROP`) apply between containers of one network, IPv6 link-local included.
 */
export interface BridgeSpec {
  kind: 'bridge';
  nfCall?: boolean;
}

export interface BridgeInfo {
  nfCallIptables?: boolean;
  nfCallIp6tables?: boolean;
}

export function bridgeInfoData(spec: Omit<BridgeSpec, 'kind'>): Buffer[] {
  if (spec.nfCall === undefined) return [];
  const v = u8(spec.nfCall ? 1 : 0);
  return [attr(IFLA_BR.NF_CALL_IPTABLES, v), attr(IFLA_BR.NF_CALL_IP6TABLES, v)];
}

export function encodeBridgeInfo(spec: BridgeSpec): Buffer {
  const data = bridgeInfoData(spec);
  return encodeLinkInfo('bridge', data.length > 0 ? data : undefined);
}

export function decodeBridgeInfo(data: Map<number, Buffer>): BridgeInfo {
  const flag = (type: number) => {
    const b = data.get(type);
    return b && b.length >= 1 ? b[0] !== 0 : undefined;
  };
  return { nfCallIptables: flag(IFLA_BR.NF_CALL_IPTABLES), nfCallIp6tables: flag(IFLA_BR.NF_CALL_IP6TABLES) };
}
