import type { NetworkDriver } from '../driver/driver';
import { allocatedVnis } from '../driver/vni';
import type { Store } from '../store/store';

/**
 * IDs of the networks that are tsnet's as far as this node can tell: those with a VNI allocated here
 * (a manager's AllocateNetwork; Swarm IDs, 25 characters) and those created on this node (a task or an
 * attachment here). A local read of the store, no Docker call.
 */
export function knownNetworkIds(driver: Pick<NetworkDriver, 'networks'>, store: Pick<Store, 'range'>): string[] {
  return [...new Set([...allocatedVnis(store).keys(), ...driver.networks().map((net) => net.id)])];
}
