/**
 * Wire types of the libnetwork remote NetworkDriver and IpamDriver protocols, with Docker's exact JSON
 * field names (see shared/reference/libnetwork-api.md). Internal code converts from these once, at the
 * edge, in the driver and IPAM facades.
 */
export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export interface IPAMData {
  AddressSpace?: string;
  Pool: string;
  Gateway?: string;
  AuxAddresses?: Record<string, string> | null;
}

export interface CreateNetworkRequest {
  NetworkID: string;
  Options?: Record<string, unknown> | null;
  IPv4Data?: IPAMData[] | null;
  IPv6Data?: IPAMData[] | null;
}

export interface AllocateNetworkRequest {
  NetworkID: string;
  Options?: Record<string, string> | null;
  IPv4Data?: IPAMData[] | null;
  IPv6Data?: IPAMData[] | null;
}

export interface NetworkIdRequest {
  NetworkID: string;
}

export interface EndpointInterface {
  Address?: string;
  AddressIPv6?: string;
  MacAddress?: string;
}

export interface CreateEndpointRequest {
  NetworkID: string;
  EndpointID: string;
  Interface?: EndpointInterface | null;
  Options?: Record<string, unknown> | null;
}

export interface EndpointIdRequest {
  NetworkID: string;
  EndpointID: string;
}

export interface JoinRequest extends EndpointIdRequest {
  SandboxKey: string;
  Options?: Record<string, unknown> | null;
}

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

export interface ExternalConnectivityRequest extends EndpointIdRequest {
  Options?: Record<string, unknown> | null;
}

export interface DiscoveryRequest {
  DiscoveryType: number;
  DiscoveryData: { Address: string; BindAddress?: string; Self?: boolean } | null;
}

export interface RequestPoolRequest {
  AddressSpace: string;
  Pool?: string;
  SubPool?: string;
  Options?: Record<string, string> | null;
  V6?: boolean;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

export interface ReleasePoolRequest {
  PoolID: string;
}

export interface RequestAddressRequest {
  PoolID: string;
  Address?: string;
  Options?: Record<string, string> | null;
}

export interface RequestAddressResponse {
  Address: string;
  Data: Record<string, string>;
}

export interface ReleaseAddressRequest {
  PoolID: string;
  Address: string;
}

/** A `com.docker.network.portmap` entry. Proto: 6 tcp, 17 udp, 132 sctp. */
export interface PortBinding {
  Proto: number;
  IP: string;
  Port: number;
  HostIP: string;
  HostPort: number;
  HostPortEnd: number;
}

export interface ExposedPort {
  Proto: number;
  Port: number;
}

export const OPTION_GENERIC = 'com.docker.network.generic';
export const OPTION_ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
export const OPTION_INTERNAL = 'com.docker.network.internal';
export const OPTION_PORTMAP = 'com.docker.network.portmap';
export const OPTION_EXPOSED_PORTS = 'com.docker.network.endpoint.exposedports';
export const OPTION_ENDPOINT_MAC = 'com.docker.network.endpoint.macaddress';
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway';
