import { EbtablesTools, parseEbtablesFilter, planOwnedChain } from './ebtables';
import { EGRESS_MARK, chainNames } from './rules';
import type { CommandRunner } from './runner';

/**
 * The second half of "a tsnet container reaches no other bridge network, whatever its name": iptables
 * cannot tell whether a packet's output interface is a bridge, the bridge family can. TSNET-MARK (mangle
 * FORWARD) marks packets routed out of a tsnet bridge (not DNAT'd, not to an uplink bridge); every frame
 * the host routes into *any* bridge then passes the bridge family's OUTPUT hook, where this chain drops
 * the marked ones. That covers Docker's bridges of every name, docker_gwbridge, libvirt's and LXD's,
 * another tsnet instance's, and bridges made after tsnet started, with no list of names and no window.
 * Frames the bridge itself forwards between its ports, and packets routed to non-bridge interfaces,
 * never meet it.
 */
export interface EgressFilter {
  /** Makes the chain and its hook exist (idempotent; one ebtables-save when nothing is missing). */
  ensure(): Promise<void>;
  /** Removes the chain and its hook (shutdown with no network left). */
  remove(): Promise<void>;
}

/** The chain's one rule, as ebtables-save prints it. */
export function egressRules(): string[] {
  return [`--mark ${EGRESS_MARK}/${EGRESS_MARK} -j DROP`];
}

export class EbtablesEgressFilter implements EgressFilter {
  readonly chain: string;
  private readonly tools: EbtablesTools;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: { instance: string; runner?: CommandRunner }) {
    this.chain = chainNames(opts.instance).egress;
    this.tools = new EbtablesTools(opts.runner, 'isolating tsnet networks from other bridges');
  }

  ensure(): Promise<void> {
    return this.apply(egressRules());
  }

  remove(): Promise<void> {
    return this.apply([]);
  }

  /** The chain's current rules (tests, diagnostics); undefined when the chain does not exist. */
  async rules(): Promise<string[] | undefined> {
    return parseEbtablesFilter(await this.tools.save()).chains.get(this.chain)?.rules;
  }

  private apply(rules: string[]): Promise<void> {
    const run = async () => {
      for (let attempt = 1; ; attempt++) {
        const script = planOwnedChain(parseEbtablesFilter(await this.tools.save()), this.chain, rules, ['OUTPUT']);
        if (script === undefined) return;
        try {
          await this.tools.restore(script);
          return;
        } catch (err) {
          // Another tool may have changed the table between the read and the write: read again once.
          if (attempt >= 2) throw new Error(`egress filter: ebtables-restore failed: ${(err as Error).message}\n${script}`);
        }
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
