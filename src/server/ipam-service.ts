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
  /** Settle once the change is on disk (group commit with the other calls in flight). */
  requestAddressGrouped(req: RequestAddressRequest): Promise<RequestAddressResponse>;
  releaseAddressGrouped(poolId: string, address: string): Promise<{ released: boolean }>;
}
