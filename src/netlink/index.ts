/**
 * tsnet's only way to the kernel's network configuration: typed rtnetlink operations over the
 * `netlink` package. Kind-specific encoding lives next to each kind in ./kinds.
 */
export * from './errors';
export * from './hwaddr';
export * from './ip';
export * from './link';
export * from './address';
export * from './route';
export * from './neighbour';
export * from './host-networks';
export * from './uplink-bridges';
export { closeRtnl } from './socket';
export type { BridgeSpec } from './kinds/bridge';
export type { VethSpec } from './kinds/veth';
export { MACVLAN_MODES, type MacvlanMode, type MacvlanSpec, type MacvlanInfo } from './kinds/macvlan';
export type { VlanSpec, VlanInfo, VlanProtocol } from './kinds/vlan';
export type { VxlanSpec, VxlanInfo } from './kinds/vxlan';
export {
  bridgePortRequest,
  listBridgePorts,
  setBridgePortOptions,
  setHairpin,
  IFLA_BRPORT,
  IFLA_PROTINFO,
  type BridgePort,
  type BridgePortOptions,
} from './bridge-port';
