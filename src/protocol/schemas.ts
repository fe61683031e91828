import { z } from 'zod';
import { isCidr, isIPv4, isIPv6, MAC_PATTERN } from '../net/address';

/**
 * One schema per endpoint. Docker's own field names; unknown extra keys are ignored (newer engines add
 * some). Messages name the field and say what was expected.
 */

/** A type error's message, or "is required" when the field is missing altogether. */
function required(message: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message);
}

const LOCAL_NETWORK_ID = /^[0-9a-f]{64}$/;
const SWARM_NETWORK_ID = /^[0-9a-z]{25}$/;

export const networkId = z
  .string({ error: required('must be a string') })
  .refine((v) => LOCAL_NETWORK_ID.test(v) || SWARM_NETWORK_ID.test(v), {
    message: 'must be 64 hex characters (local network) or a 25-character Swarm network ID',
  });

export const endpointId = z
  .string({ error: required('must be a string') })
  .regex(/^[0-9a-f]{64}$/, 'must be 64 hex characters');

const cidr = z.string({ error: required('must be a string') }).refine(isCidr, { message: 'must be an address in CIDR form (ip/len)' });
const optionalCidr = z
  .string({ error: required('must be a string') })
  .refine((v) => v === '' || isCidr(v), { message: 'must be empty or an address in CIDR form (ip/len)' });
const optionalIp = z
  .string({ error: required('must be a string') })
  .refine((v) => v === '' || isIPv4(v) || isIPv6(v), { message: 'must be empty or an IP address' });
const ip = z.string({ error: required('must be a string') }).refine((v) => isIPv4(v) || isIPv6(v), { message: 'must be an IP address' });
const mac = z
  .string({ error: required('must be a string') })
  .refine((v) => v === '' || MAC_PATTERN.test(v), { message: 'must be empty or a MAC address aa:bb:cc:dd:ee:ff' });

const options = z.record(z.string(), z.unknown(), { error: required('must be an object') }).nullish();
const stringOptions = z.record(z.string(), z.string({ error: required('must be a string') }), { error: required('must be an object of strings') }).nullish();

const ipamData = z.object({
  AddressSpace: z.string({ error: required('must be a string') }).optional(),
  Pool: cidr,
  Gateway: cidr.optional(),
  AuxAddresses: z.record(z.string(), cidr, { error: required('must be an object of ip/len strings') }).nullish(),
});
const ipamDataList = z.array(ipamData, { error: required('must be an array') }).nullish();

export const createNetwork = z.object({
  NetworkID: networkId,
  Options: options,
  IPv4Data: ipamDataList,
  IPv6Data: ipamDataList,
});

export const allocateNetwork = z.object({
  NetworkID: networkId,
  Options: stringOptions,
  IPv4Data: ipamDataList,
  IPv6Data: ipamDataList,
});

export const networkOnly = z.object({ NetworkID: networkId });

export const endpointOnly = z.object({ NetworkID: networkId, EndpointID: endpointId });

export const createEndpoint = z.object({
  NetworkID: networkId,
  EndpointID: endpointId,
  Interface: z
    .object({ Address: optionalCidr.optional(), AddressIPv6: optionalCidr.optional(), MacAddress: mac.optional() }, { error: required('must be an object') })
    .nullish(),
  Options: options,
});

export const join = z.object({
  NetworkID: networkId,
  EndpointID: endpointId,
  SandboxKey: z.string({ error: required('must be a string') }).min(1, 'must not be empty').max(4096, 'is too long'),
  Options: options,
});

export const externalConnectivity = z.object({ NetworkID: networkId, EndpointID: endpointId, Options: options });

export const discovery = z.object({
  DiscoveryType: z.number({ error: required('must be a number') }).int('must be an integer'),
  DiscoveryData: z
    .object({ Address: ip, BindAddress: optionalIp.optional(), Self: z.boolean({ error: required('must be a boolean') }).optional() })
    .nullish(),
});

export const requestPool = z.object({
  AddressSpace: z.string({ error: required('must be a string') }).min(1, 'must not be empty'),
  Pool: optionalCidr.optional(),
  SubPool: optionalCidr.optional(),
  Options: stringOptions,
  V6: z.boolean({ error: required('must be a boolean') }).optional(),
});

const poolId = z.string({ error: required('must be a string') }).min(1, 'must not be empty').max(512, 'is too long');

export const releasePool = z.object({ PoolID: poolId });

export const requestAddress = z.object({ PoolID: poolId, Address: optionalIp.optional(), Options: stringOptions });

export const releaseAddress = z.object({ PoolID: poolId, Address: ip });

/** A com.docker.network.portmap entry. Proto: 6 tcp, 17 udp, 132 sctp. */
const portBinding = z.object({
  Proto: z.number().int(),
  IP: z.string().optional().default(''),
  Port: z.number().int().min(0).max(65535),
  HostIP: z.string().optional().default(''),
  HostPort: z.number().int().min(0).max(65535),
  HostPortEnd: z.number().int().min(0).max(65535),
});
export const portBindings = z.array(portBinding);

const exposedPort = z.object({ Proto: z.number().int(), Port: z.number().int().min(0).max(65535) });
export const exposedPorts = z.array(exposedPort);

export const empty = z.object({}).passthrough();

// The request types: what each schema accepts, after parsing.
export type IPAMData = z.infer<typeof ipamData>;
export type CreateNetworkRequest = z.infer<typeof createNetwork>;
export type AllocateNetworkRequest = z.infer<typeof allocateNetwork>;
export type NetworkIdRequest = z.infer<typeof networkOnly>;
export type EndpointIdRequest = z.infer<typeof endpointOnly>;
export type CreateEndpointRequest = z.infer<typeof createEndpoint>;
export type JoinRequest = z.infer<typeof join>;
export type ExternalConnectivityRequest = z.infer<typeof externalConnectivity>;
export type DiscoveryRequest = z.infer<typeof discovery>;
export type RequestPoolRequest = z.infer<typeof requestPool>;
export type ReleasePoolRequest = z.infer<typeof releasePool>;
export type RequestAddressRequest = z.infer<typeof requestAddress>;
export type ReleaseAddressRequest = z.infer<typeof releaseAddress>;
export type PortBinding = z.infer<typeof portBinding>;
export type ExposedPort = z.infer<typeof exposedPort>;

/** Turns zod issues into one line: "NetworkID: must be ...; Interface.Address: must be ...". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
      const message = issue.code === 'invalid_type' && /received undefined/.test(issue.message) ? 'is required' : issue.message;
      return `${where}: ${message}`;
    })
    .join('; ');
}
