import { isValidMtu, MTU_RANGE } from '../../model/options';
import type { NetworkRecord } from '../../model/records';
import { DataPathError } from '../datapath';

/** The MTU of a link when the network sets none (the kernel's Ethernet default). */
export const DEFAULT_MTU = 1500;

/**
 * The network's `com.docker.network.driver.mtu`, if set; refused when out of range (a record that did
 * not come through the option parser). `what` names the link kind in the message ("a bridge").
 */
export function mtuOption(net: NetworkRecord, what: string): number | undefined {
  const mtu = net.options.mtu;
  if (mtu === undefined) return undefined;
  if (!isValidMtu(mtu)) throw new DataPathError(`invalid MTU ${mtu}: ${what} takes ${MTU_RANGE.min}-${MTU_RANGE.max}`);
  return mtu;
}
