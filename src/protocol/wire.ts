/**
 * Reply types and option keys of the libnetwork remote NetworkDriver and IpamDriver protocols, with
 * Docker's exact JSON field names (see shared/reference/libnetwork-api.md). Request types are the zod
 * schemas' inferred types (schemas.ts). Internal code converts from these once, at the edge, in the
 * driver and IPAM facades.
 */
export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export interface StaticRoute {
  Destination: string;
  RouteType: 0 | 1;
  NextHop?: string;
}

export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes?: StaticRoute[];
  DisableGatewayService?: boolean;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

export interface RequestAddressResponse {
  Address: string;
  Data: Record<string, string>;
}

export const OPTION_GENERIC = 'com.docker.network.generic';
export const OPTION_ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
export const OPTION_INTERNAL = 'com.docker.network.internal';
export const OPTION_PORTMAP = 'com.docker.network.portmap';
export const OPTION_EXPOSED_PORTS = 'com.docker.network.endpoint.exposedports';
export const OPTION_ENDPOINT_MAC = 'com.docker.network.endpoint.macaddress';
/** Docker 27+ applies these itself, for every driver; a network plugin only sees them. */
export const OPTION_ENDPOINT_SYSCTLS = 'com.docker.network.endpoint.sysctls';
/** Docker 28+: the container interface's name. Docker's remote-driver proxy does not pass it on (DstName ""). */
export const OPTION_ENDPOINT_IFNAME = 'com.docker.network.endpoint.ifname';
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway';
