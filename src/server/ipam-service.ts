import type {
  RequestAddressRequest,
  RequestAddressResponse,
  RequestPoolRequest,
  RequestPoolResponse,
} from '../protocol';

/** What the server needs of the IPAM; src/ipam/ipam.ts implements it. */
export interface IpamService {
  getDefaultAddressSpaces(): { LocalDefaultAddressSpace: string; GlobalDefaultAddressSpace: string };
  requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse>;
  releasePool(poolId: string): { released: boolean };
  requestAddress(req: RequestAddressRequest): RequestAddressResponse;
  releaseAddress(poolId: string, address: string): { released: boolean };
}
