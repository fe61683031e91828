import type { PortBinding, ExposedPort } from '../protocol';

/** Internal (camelCase) model of what tsnet persists about networks and endpoints. */
export type NetworkType = 'bridge' | 'macvlan' | 'vxlan';

export interface IpamConfig {
  addressSpace: string;
  /** Subnet, CIDR. */
  pool: string;
  /** Gateway as "ip/len", as IPAM returned it; absent when none was allocated. */
  gateway?: string;
  /** name -> "ip/len" */
  auxAddresses: Record<string, string>;
}

/** Options every type understands; each type adds its own fields. */
export interface CommonOptions {
  mtu?: number;
  /** DstPrefix handed to Docker in Join ("eth" unless com.docker.network.container_iface_prefix). */
  interfacePrefix: string;
}

export interface BridgeOptions extends CommonOptions {
  type: 'bridge';
  bridgeName?: string;
  enableIcc: boolean;
  enableIpMasquerade: boolean;
  hostBindingIpv4: string;
}

export type MacvlanMode = 'bridge' | 'private' | 'vepa' | 'passthru';

export interface MacvlanOptions extends CommonOptions {
  type: 'macvlan';
  parent?: string;
  mode: MacvlanMode;
}

export interface VxlanOptions extends CommonOptions {
  type: 'vxlan';
  bridgeName?: string;
  vni?: number;
  port: number;
  peers: string[];
  underlay?: string;
  enableIpMasquerade: boolean;
  hostBindingIpv4: string;
}

export type NetworkOptions = BridgeOptions | MacvlanOptions | VxlanOptions;

export interface NetworkRecord {
  id: string;
  type: NetworkType;
  options: NetworkOptions;
  /** The user's -o options exactly as Docker sent them (for comparing repeated creates). */
  generic: Record<string, string>;
  ipv4: IpamConfig[];
  ipv6: IpamConfig[];
  internal: boolean;
  enableIPv6: boolean;
  createdAt: string;
  /** What the data path created and must find again (e.g. the bridge's name). */
  datapath: Record<string, unknown>;
}

export interface EndpointRecord {
  networkId: string;
  id: string;
  /** "ip/len" or undefined */
  address?: string;
  addressIPv6?: string;
  macAddress: string;
  /** True when tsnet chose the MAC (and returned it to Docker). */
  macFromDriver: boolean;
  portBindings: PortBinding[];
  exposedPorts: ExposedPort[];
  /** Set between Join and Leave. */
  sandboxKey?: string;
  /** Set between ProgramExternalConnectivity and Revoke. */
  externalConnectivity: boolean;
  createdAt: string;
  datapath: Record<string, unknown>;
}

/** A node announced by DiscoverNew (Swarm). */
export interface NodePeer {
  address: string;
  bindAddress: string;
  self: boolean;
}
