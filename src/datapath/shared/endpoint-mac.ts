import type { EndpointRecord } from '../../model/records';
import { MAC_PATTERN } from '../../net/address';
import { DataPathError } from '../datapath';
import { isMulticastMac } from './mac';

/** The endpoint's MAC, lower-case; throws unless it is a unicast MAC (an empty one included). */
export function unicastMacOf(ep: Pick<EndpointRecord, 'id' | 'macAddress'>): string {
  if (!MAC_PATTERN.test(ep.macAddress) || isMulticastMac(ep.macAddress)) {
    throw new DataPathError(`invalid MAC address "${ep.macAddress}" for endpoint ${ep.id}: need a unicast MAC`);
  }
  return ep.macAddress.toLowerCase();
}

/** The endpoint's MAC when it has one (checked as unicastMacOf does), else undefined (the kernel picks). */
export function optionalMacOf(ep: Pick<EndpointRecord, 'id' | 'macAddress'>): string | undefined {
  return ep.macAddress ? unicastMacOf(ep) : undefined;
}
