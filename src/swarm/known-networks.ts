import type { NetworkDriver } from '../driver/driver';

/**
 * IDs of the networks that are tsnet's as far as this node can tell: those a manager's AllocateNetwork
 * gave it (Swarm IDs, 25 characters; any network type) and those created on this node (a task or an
 * attachment here). A local read of the store, no Docker call.
 */
export function knownNetworkIds(driver: Pick<NetworkDriver, 'networks' | 'allocatedNetworkIds'>): string[] {
  return [...new Set([...driver.allocatedNetworkIds(), ...driver.networks().map((net) => net.id)])];
}
