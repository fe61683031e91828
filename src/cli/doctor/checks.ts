import { firewallChecks } from './firewall-checks';
import { diskChecks, engineChecks, hostChecks } from './host-checks';
import { fdbChecks, linkChecks, mtuChecks, peerChecks } from './kernel-checks';
import type { DoctorFacts, Finding } from './facts';

export * from './facts';
export { diskChecks, engineChecks, fdbChecks, firewallChecks, hostChecks, linkChecks, mtuChecks, peerChecks };

/** Every check of `tsnet doctor`, in the order they are printed. */
export function runChecks(f: DoctorFacts): Finding[] {
  return [...hostChecks(f), ...firewallChecks(f), ...engineChecks(f), ...mtuChecks(f), ...linkChecks(f), ...fdbChecks(f), ...diskChecks(f), ...peerChecks(f)];
}
