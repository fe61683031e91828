import type { Logger } from '../log';
import { parseCidr, type Cidr, type IpFamily } from './address';

/**
 * The host's address and route CIDRs of one family, as networks (host bits cleared) that an automatic
 * pool must avoid. A /0 (a default route) is left out: it would block every candidate.
 */
export function readHostNetworks(cidrs: string[], family: IpFamily, log: Logger): Cidr[] {
  const networks: Cidr[] = [];
  for (const text of cidrs) {
    const parsed = parseCidr(text);
    if (!parsed) {
      log.warn('ignoring a host network that is not a CIDR', { cidr: text });
      continue;
    }
    if (parsed.cidr.family === family && parsed.cidr.prefix > 0) networks.push(parsed.cidr);
  }
  return networks;
}
