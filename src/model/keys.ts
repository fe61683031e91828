/**
 * The store's key layout, all of it in one place (one LMDB database, keys ordered as strings):
 *
 *   net/<network ID>                      -> NetworkRecord          (driver)
 *   ep/<network ID>/<endpoint ID>         -> EndpointRecord         (driver)
 *   alloc/<network ID>                    -> { options }            (driver: Swarm manager's AllocateNetwork)
 *   peer/<address>                        -> NodePeer               (driver: DiscoverNew)
 *   vni/net/<network ID>                  -> VNI                    (driver/vni.ts)
 *   vni/num/<VNI>                         -> network ID             (driver/vni.ts)
 *   ipam/pool/<pool ID>                   -> StoredPool             (ipam/keys.ts)
 *   ipam/addr/<pool ID>/<fixed-width hex> -> StoredAddress          (ipam/keys.ts)
 *   vxlan-addr/<control address>          -> StoredDataAddress      (swarm/data-addresses.ts)
 */
export const NETWORK_PREFIX = 'net/';
export const ENDPOINT_PREFIX = 'ep/';
export const ALLOCATION_PREFIX = 'alloc/';
export const PEER_PREFIX = 'peer/';
export const VNI_BY_NETWORK_PREFIX = 'vni/net/';
export const NETWORK_BY_VNI_PREFIX = 'vni/num/';
export const IPAM_POOL_PREFIX = 'ipam/pool/';
export const IPAM_ADDRESS_PREFIX = 'ipam/addr/';
export const DATA_ADDRESS_PREFIX = 'vxlan-addr/';

export const networkKey = (networkId: string) => NETWORK_PREFIX + networkId;
export const endpointPrefix = (networkId: string) => `${ENDPOINT_PREFIX}${networkId}/`;
export const endpointKey = (networkId: string, endpointId: string) => endpointPrefix(networkId) + endpointId;
export const allocationKey = (networkId: string) => ALLOCATION_PREFIX + networkId;
export const peerKey = (address: string) => PEER_PREFIX + address;
export const vniByNetworkKey = (networkId: string) => VNI_BY_NETWORK_PREFIX + networkId;
export const networkByVniKey = (vni: number) => NETWORK_BY_VNI_PREFIX + vni;
