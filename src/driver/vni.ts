import type { VniRange } from '../config/settings';
import type { Tx } from '../store/store';
import { BadRequestError } from '../model/errors';
import { NETWORK_BY_VNI_PREFIX, networkByVniKey as numKey, VNI_BY_NETWORK_PREFIX, vniByNetworkKey as netKey } from '../model/keys';
import { parseNetworkType } from '../model/options';

/**
 * VNIs of Swarm-scoped vxlan networks, allocated by the manager in AllocateNetwork and handed to every
 * node in the network's options (`vni`), which is what the nodes' CreateNetwork receives. Persisted:
 *   vni/net/<network ID> -> VNI            (this network's VNI)
 *   vni/num/<VNI>        -> network ID     (who holds a VNI)
 * Idempotent: a repeated AllocateNetwork for the same network (Docker retries, or a new leader replays
 * every allocation with the previous reply merged into the options) answers the same VNI. A VNI the
 * user gave with `-o vni=N` is kept (inside the range or not) but must not be another network's.
 * Allocation takes the lowest free VNI of the range (default 1-4095, below Docker's own overlay VNIs,
 * which start at 4096, so both share UDP 4789 on a node without clashing).
 */

export type { VniRange };

export const DEFAULT_VNI_RANGE: VniRange = { first: 1, last: 4095 };


/**
 * The options AllocateNetwork answers for `networkId`: `options` plus the network's VNI when it is a
 * vxlan network (other types pass through unchanged). Must run inside the store transaction that
 * records the allocation, so two networks cannot take the same VNI.
 */
export function allocateVni(tx: Tx, networkId: string, options: Record<string, string>, range: VniRange = DEFAULT_VNI_RANGE): Record<string, string> {
  const type = parseNetworkType(options.type);
  if (type !== 'vxlan') return options;

  const held = tx.get<number>(netKey(networkId));
  const asked = options.vni === undefined ? undefined : parseVni(options.vni);
  if (held !== undefined) {
    if (asked !== undefined && asked !== held) {
      throw new BadRequestError(`network ${networkId} already has VNI ${held}; it cannot change to ${asked}`);
    }
    return { ...options, vni: String(held) };
  }

  let vni: number;
  if (asked !== undefined) {
    const holder = tx.get<string>(numKey(asked));
    if (holder !== undefined && holder !== networkId) {
      throw new BadRequestError(`VNI ${asked} is already allocated to swarm network ${holder}`);
    }
    vni = asked;
  } else {
    const used = new Set(tx.range<string>(NETWORK_BY_VNI_PREFIX).map(([key]) => Number(key.slice(NETWORK_BY_VNI_PREFIX.length))));
    let free: number | undefined;
    for (let candidate = range.first; candidate <= range.last; candidate++) {
      if (!used.has(candidate)) {
        free = candidate;
        break;
      }
    }
    if (free === undefined) {
      throw new BadRequestError(`no free VNI left in TSNET_VNI_RANGE ${range.first}-${range.last}: remove a network or widen the range`);
    }
    vni = free;
  }
  tx.put(netKey(networkId), vni);
  tx.put(numKey(vni), networkId);
  return { ...options, vni: String(vni) };
}

/** FreeNetwork: the network's VNI becomes free again. Unknown networks: nothing to do. */
export function releaseVni(tx: Tx, networkId: string): number | undefined {
  const vni = tx.get<number>(netKey(networkId));
  if (vni === undefined) return undefined;
  tx.del(netKey(networkId));
  if (tx.get<string>(numKey(vni)) === networkId) tx.del(numKey(vni));
  return vni;
}

/** The allocated VNIs by network (diagnostics, tests). */
export function allocatedVnis(tx: Pick<Tx, 'range'>): Map<string, number> {
  return new Map(tx.range<number>(VNI_BY_NETWORK_PREFIX).map(([key, vni]) => [key.slice(VNI_BY_NETWORK_PREFIX.length), vni]));
}

function parseVni(text: string): number {
  if (!/^\d{1,8}$/.test(text) || Number(text) < 1 || Number(text) > 16777215) {
    throw new BadRequestError(`option vni: "${text}" is not a whole number in 1-16777215`);
  }
  return Number(text);
}
