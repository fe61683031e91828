import { IpamError } from './ipam-error';

/** The two address spaces: node-local networks, and Swarm's manager-side (global) allocations. */
export const LOCAL_ADDRESS_SPACE = 'tsnet-local';
export const GLOBAL_ADDRESS_SPACE = 'tsnet-global';

export function checkAddressSpace(name: string): void {
  if (name !== LOCAL_ADDRESS_SPACE && name !== GLOBAL_ADDRESS_SPACE) {
    throw new IpamError(`unknown address space "${name}": tsnet serves ${LOCAL_ADDRESS_SPACE} and ${GLOBAL_ADDRESS_SPACE}`);
  }
}
