import type { EndpointView, NetworkView, PeerView, StatusView } from '../../protocol';
import type { FdbEntry, LinkFacts, SavedRuleset } from './kernel';

/**
 * What the doctor's checks (host-checks, firewall-checks, kernel-checks) read and say: the facts
 * gathered from the daemon, Docker and the host (doctor.ts), and findings, each ok, warn or fail with
 * what was seen and, when not ok, the fix. The checks are pure functions of these facts.
 */
export type Level = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  level: Level;
  message: string;
  fix?: string;
}

export interface EngineFacts {
  version?: string;
  apiVersion?: string;
  firewallBackend?: string;
  error?: string;
}

export interface DoctorFacts {
  status: StatusView;
  networks: NetworkView[];
  endpoints: EndpointView[];
  peers: PeerView[];
  /** Docker's names: network ID -> name, endpoint ID -> container name. */
  networkNames: Map<string, string>;
  containerNames: Map<string, string>;
  engine: EngineFacts;
  ipForward?: string;
  /** net.bridge.bridge-nf-call-iptables; undefined when br_netfilter is not loaded. */
  brNetfilter?: string;
  /** iptables-save of tsnet's backend; undefined when it could not run. */
  ruleset?: SavedRuleset;
  /** ebtables-save of the bridge family's filter table (nft); undefined when it could not run. */
  ebtables?: string;
  /** The iptables backends whose tables hold Docker's chains (DOCKER-USER or DOCKER). */
  dockerBackends: string[];
  links: LinkFacts[];
  /** FDB of each VXLAN device, by device name. */
  fdb: Map<string, FdbEntry[]>;
  localAddresses: string[];
}

export const DISK_FAIL_BYTES = 16 * 1024 * 1024;
export const DISK_WARN_BYTES = 64 * 1024 * 1024;
export const SILENT_SECONDS = 300;

export const RESTART_FIX =
  'restart tsnet; its start-up converges the kernel and the firewall to the store: `systemctl restart tsnet` (socket install) or `docker plugin disable -f tsnet && docker plugin enable tsnet` (managed plugin)';

export function netLabel(f: DoctorFacts, id: string): string {
  const name = f.networkNames.get(id);
  return name ? `${name} (${id.slice(0, 12)})` : id.slice(0, 12);
}

export function oneOk(check: string, findings: Finding[], message: string): Finding[] {
  return findings.length > 0 ? findings : [{ check, level: 'ok', message }];
}
