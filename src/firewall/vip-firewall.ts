import { detectBackend, type BackendName, type IptablesBackend } from './backend';
import { Markers } from './rules';
import { parseSave } from './ruleset';
import { execCommand, type CommandRunner } from './runner';
import { planVip, vipChainNames, vipRules, type VipChainNames, type VipNetwork } from './vip';
import type { Logger } from '../log';

export interface VipFirewallOptions {
  instance: string;
  /** TSNET_IPTABLES_BACKEND; undefined: detected as the Firewall does. */
  backend?: BackendName;
  /** The flavour the Firewall uses (Firewall.backend()); wins over `backend`. */
  backendOf?: () => Promise<IptablesBackend>;
  runner?: CommandRunner;
  logger?: Logger;
}

/**
 * Applies the VIP rules of vip.ts: the whole desired set (every network's VIPs) at once, one
 * `iptables-save -t nat` to compare and, when anything differs, one `iptables-restore --noflush`. The
 * chains are tsnet's own, apart from Firewall's, so neither rewrites the other's rules. Calls are
 * serialised; an unchanged set costs one save.
 */
export class VipFirewall {
  readonly names: VipChainNames;
  private readonly markers: Markers;
  private readonly run: CommandRunner;
  private readonly logger?: Logger;
  private readonly backendSetting?: BackendName;
  private backendPromise: Promise<IptablesBackend> | undefined;
  private readonly backendOf?: () => Promise<IptablesBackend>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: VipFirewallOptions) {
    this.names = vipChainNames(opts.instance);
    this.markers = new Markers(opts.instance);
    this.run = opts.runner ?? execCommand;
    this.logger = opts.logger;
    this.backendSetting = opts.backend;
    this.backendOf = opts.backendOf;
  }

  /** Makes the VIP chains hold exactly these networks' rules (none: the chains and hooks go). Returns whether anything was written. */
  apply(networks: readonly VipNetwork[]): Promise<boolean> {
    const rules = networks.flatMap((net) => vipRules(this.names, this.markers, net));
    return this.exclusive(async () => {
      const backend = await this.backend();
      for (let attempt = 1; ; attempt++) {
        const current = parseSave((await this.run(backend.save(4), ['-t', 'nat'])).stdout);
        const batch = planVip(current, this.names, this.markers, rules);
        if (!batch) return false;
        try {
          await this.run(backend.restore(4), backend.restoreArgs(), batch.render());
          this.logger?.debug('VIP rules applied', { commands: batch.size, rules: rules.length });
          return true;
        } catch (err) {
          // Another tool changed the table between the read and the write: read again once.
          if (attempt >= 2) throw err;
          this.logger?.warn('VIP rules: restore failed; re-reading and retrying', { err: String(err) });
        }
      }
    });
  }

  private backend(): Promise<IptablesBackend> {
    if (this.backendOf) return this.backendOf();
    this.backendPromise ??= detectBackend(this.run, this.backendSetting, this.logger);
    return this.backendPromise;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
