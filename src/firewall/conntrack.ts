import { isIPv4 } from 'node:net';
import { CommandFailed, execCommand, type CommandRunner } from './runner';

/**
 * Deletes connection-tracking entries with the `conntrack` tool (Debian package conntrack). Used when a
 * VIP's task goes away: its connections lose their NAT state, so the client's next packet is tracked
 * anew, balanced to a running task and answered with a reset (TCP) instead of hanging on a dead
 * address.
 */
export class Conntrack {
  private missing = false;

  constructor(private readonly run: CommandRunner = execCommand) {}

  /** True once the tool turned out not to be installed. */
  get unavailable(): boolean {
    return this.missing;
  }

  /**
   * Deletes the connections made to `vip` that were DNAT'd to `task` (all protocols). Returns how many
   * went; 0 when there were none. Throws when the tool is missing or fails otherwise.
   */
  async deleteVipTask(vip: string, task: string): Promise<number> {
    if (!isIPv4(vip) || !isIPv4(task)) throw new Error(`conntrack: "${vip}" / "${task}" are not IPv4 addresses`);
    try {
      const { stderr } = await this.run('conntrack', ['-D', '-f', 'ipv4', '--orig-dst', vip, '--reply-src', task]);
      return deletedCount(stderr);
    } catch (err) {
      if (err instanceof CommandFailed && err.errno === 'ENOENT') {
        this.missing = true;
        throw new Error('the conntrack tool is not installed (Debian package conntrack)');
      }
      // "0 flow entries have been deleted" exits 1.
      if (err instanceof CommandFailed && err.code === 1 && /\b0 flow entries have been deleted/.test(err.stderr)) return 0;
      throw err;
    }
  }
}

/** The count in conntrack's "N flow entries have been deleted." */
export function deletedCount(stderr: string): number {
  const m = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(stderr);
  return m ? Number(m[1]) : 0;
}
