import type { VxlanInputFilter } from '../../firewall/vxlan-input';
import type { Logger } from '../../log';
import { allowedSources } from './flood';

/** The firewall's part for VXLAN networks: who may send a network's VNI to this host. */
export interface VxlanInputFirewall {
  setVxlanInput(networkId: string, filter: VxlanInputFilter): Promise<void>;
  removeVxlanInput(networkId: string): Promise<void>;
}

/** What the filter of one network is made from. */
export interface InputFilterSpec {
  family: 4 | 6;
  vni: number;
  port: number;
  learnScope: string[];
}

/**
 * The VXLAN port's input filter of each network (firewall/vxlan-input.ts): the network's VNI only from
 * its flood peers and the learning scope. Remembers what it last applied, so a peer refresh that changes
 * nothing runs no iptables. Without a firewall it does nothing (the port takes every sender).
 */
export class VxlanInputFilters {
  /** The input filter last applied, by network. */
  private readonly applied = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly firewall?: VxlanInputFirewall,
  ) {}

  /**
   * Makes the network's filter admit `peers` and the learning scope; skipped when that is what was
   * last applied, unless `force` (create, reconcile, repair: the kernel may have lost it).
   */
  async ensure(networkId: string, spec: InputFilterSpec, peers: string[], force = false): Promise<void> {
    if (!this.firewall) return;
    const filter: VxlanInputFilter = {
      family: spec.family,
      vni: spec.vni,
      port: spec.port,
      sources: allowedSources(peers, spec.learnScope, spec.family),
    };
    const key = JSON.stringify(filter);
    if (!force && this.applied.get(networkId) === key) return;
    this.applied.delete(networkId);
    await this.firewall.setVxlanInput(networkId, filter);
    this.applied.set(networkId, key);
    this.log.info('vxlan input filter set', { networkId, vni: filter.vni, port: filter.port, sources: filter.sources });
  }

  async remove(networkId: string): Promise<void> {
    this.applied.delete(networkId);
    await this.firewall?.removeVxlanInput(networkId);
  }
}
