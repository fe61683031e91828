import { execCommand } from '../../src/firewall/runner';

/** Empties every table of both iptables flavours and families in this (throwaway) namespace. */
export async function resetIptables(): Promise<void> {
  for (const tool of ['iptables-nft', 'ip6tables-nft', 'iptables-legacy', 'ip6tables-legacy']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      await execCommand(tool, ['-t', table, '-F']).catch(() => undefined);
      await execCommand(tool, ['-t', table, '-X']).catch(() => undefined);
    }
    await execCommand(tool, ['-P', 'FORWARD', 'ACCEPT']).catch(() => undefined);
  }
  // The bridge family (tsnet's egress filter and anycast gateway filter).
  await execCommand('ebtables-nft', ['-F']).catch(() => undefined);
  await execCommand('ebtables-nft', ['-X']).catch(() => undefined);
}
