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
  /** What the data path created and must find again (e.g. the bridge's name): its type's state. */
  datapath: NetworkState;
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
  datapath: EndpointState;
}

/** A node announced by DiscoverNew (Swarm). */
export interface NodePeer {
  address: string;
  bindAddress: string;
  self: boolean;
}

// ---- What each data path stores in `net.datapath` and `ep.datapath` ----------------------------------

/** A bridge network: the Linux bridge it made (or adopted by name). */
export interface BridgeNetworkState {
  bridgeName: string;
}

/** What a macvlan network's parent is. */
export type ParentKind =
  /** An interface that existed before (the user's): used, never changed, never removed. */
  | 'existing'
  /** An 802.1Q sub-interface tsnet created for `-o parent=IFACE.VLAN`. */
  | 'vlan'
  /** No `-o parent`: tsnet's own veth pair, an internal-only network. */
  | 'internal';

/** `-o parent=IFACE.VLAN`: the 802.1Q sub-interface VLAN of IFACE. */
export interface VlanParent {
  base: string;
  vlanId: number;
}

export interface MacvlanNetworkState {
  /** The resolved parent's name (`-o parent`, or tsnet's internal parent). */
  parent: string;
  /** The parent's ifindex when the network was created (for people reading the state). */
  parentIndex: number;
  parentKind: ParentKind;
  /** tsnet created the parent and removes it with the network (an 802.1Q sub-interface or its internal parent). */
  createdParent: boolean;
  /** 802.1Q sub-interface: the interface and VLAN it sits on. */
  vlan?: VlanParent;
  /**
   * No `-o parent`: the parent is a veth pair that leads nowhere, so the network reaches only its own
   * containers (Docker's built-in driver forces --internal for such a network).
   */
  internalOnly: boolean;
  mode: MacvlanMode;
}

/** A VXLAN network: what was created; reconcile re-derives the rest. */
export interface VxlanNetworkState {
  bridgeName: string;
  vxlanName: string;
  vni: number;
  port: number;
  /** Local underlay address (IFLA_VXLAN_LOCAL). */
  local: string;
  /** The interface `local` lives on (IFLA_VXLAN_LINK, MTU source). */
  underlay: string;
  /** Overlay MTU: VXLAN device, bridge, veths, container eth0. */
  mtu: number;
  gatewayMac: string;
}

/** The two ends of an endpoint's veth pair (bridge and VXLAN endpoints). */
export interface VethNames {
  hostIfname: string;
  containerIfname: string;
}

/** An endpoint on a Linux bridge (bridge and VXLAN types): its veth pair and published ports. */
export type BridgedEndpointState = VethNames & Partial<PublishedPortsState>;

/** A macvlan endpoint: the macvlan link in the host namespace, handed to Docker in Join. */
export interface MacvlanEndpointState {
  ifname: string;
}

/**
 * What ProgramExternalConnectivity adds to a bridge or VXLAN endpoint: the mappings made, with the host
 * port that was chosen for `-P`/ranges. EndpointOperInfo reports it as `tsnet.published-ports`;
 * reconcile republishes exactly these after a restart.
 */
export interface PublishedPortsState {
  publishedPorts: PortBinding[];
}

/**
 * `net.datapath` as read back from the store: the state of the network's type, each field optional
 * (empty before its data path made it; written by an older version). Data paths write their own type's
 * state whole (`DataPath<NetState, EpState>`).
 */
export type NetworkState = Partial<BridgeNetworkState & MacvlanNetworkState & VxlanNetworkState>;

/** `ep.datapath` as read back from the store (see NetworkState). */
export type EndpointState = Partial<VethNames & MacvlanEndpointState & PublishedPortsState>;
