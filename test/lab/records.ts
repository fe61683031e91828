/**
 * NetworkRecord / EndpointRecord builders for tests that drive a data path directly: the fields every
 * test fills the same way are set here, what a test cares about is passed as overrides (an override
 * given as undefined clears the default, as `-o underlay=` left out would).
 */
import { randomBytes } from 'node:crypto';
import type { BridgeOptions, EndpointRecord, IpamConfig, MacvlanOptions, NetworkOptions, NetworkRecord, VxlanOptions } from '../../src/model/records';

/** A Docker-style 64-hex-digit id. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** An IPAM pool as tsnet's IPAM returns it: `pool` a CIDR, `gateway` "ip/len" (none when undefined). */
export function ipamPool(pool: string, gateway?: string): IpamConfig {
  return { addressSpace: 'LocalDefault', pool, gateway, auxAddresses: {} };
}

export function bridgeOptions(over: Partial<BridgeOptions> = {}): BridgeOptions {
  return { type: 'bridge', interfacePrefix: 'eth', enableIcc: true, enableIpMasquerade: true, hostBindingIpv4: '0.0.0.0', ...over };
}

export function macvlanOptions(over: Partial<MacvlanOptions> = {}): MacvlanOptions {
  return { type: 'macvlan', mode: 'bridge', interfacePrefix: 'eth', ...over };
}

export function vxlanOptions(over: Partial<VxlanOptions> = {}): VxlanOptions {
  return { type: 'vxlan', interfacePrefix: 'eth', port: 4789, peers: [], enableIpMasquerade: true, hostBindingIpv4: '0.0.0.0', ...over };
}

/** A network of `options.type` with no pools, not internal, IPv4 only, unless `over` says otherwise. */
export function networkRecord(options: NetworkOptions, over: Partial<NetworkRecord> = {}): NetworkRecord {
  return {
    id: newId(),
    type: options.type,
    options,
    generic: {},
    ipv4: [],
    ipv6: [],
    internal: false,
    enableIPv6: false,
    createdAt: new Date().toISOString(),
    datapath: {},
    ...over,
  };
}

/** An endpoint of `net` with the MAC tsnet chose, no ports, not joined, unless `over` says otherwise. */
export function endpointRecord(net: NetworkRecord, over: Pick<EndpointRecord, 'macAddress'> & Partial<EndpointRecord>): EndpointRecord {
  return {
    networkId: net.id,
    id: newId(),
    macFromDriver: true,
    portBindings: [],
    exposedPorts: [],
    externalConnectivity: false,
    createdAt: new Date().toISOString(),
    datapath: {},
    ...over,
  };
}
