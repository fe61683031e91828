import type { Logger } from '../log';
import { CommandFailed, type CommandRunner } from './runner';

/**
 * Which iptables flavour tsnet drives. Rules must live next to dockerd's: a host whose Docker writes
 * through iptables-legacy does not see rules written through nf_tables in its legacy tables (and vice
 * versa), and mixing the two makes packets traverse both rule sets in an order nobody chose.
 */
export type BackendName = 'nft' | 'legacy';

export type IpFamily = 4 | 6;

export interface IptablesBackend {
  /** 'default' = the unsuffixed tools (a system with only one flavour installed). */
  readonly name: BackendName | 'default';
  save(family: IpFamily): string;
  restore(family: IpFamily): string;
  /** Extra arguments for the restore tool (the xtables lock wait for legacy). */
  restoreArgs(): string[];
}

export function backendNamed(name: BackendName | 'default'): IptablesBackend {
  const suffix = name === 'default' ? '' : `-${name}`;
  return {
    name,
    save: (family) => `${family === 6 ? 'ip6tables' : 'iptables'}${suffix}-save`,
    restore: (family) => `${family === 6 ? 'ip6tables' : 'iptables'}${suffix}-restore`,
    // iptables-legacy-restore takes the xtables lock; wait for it rather than failing when another tool
    // (dockerd, firewalld) holds it. The nft flavour accepts the flag and ignores it.
    restoreArgs: () => ['--noflush', '--wait=10'],
  };
}

/** Parses TSNET_IPTABLES_BACKEND: '', 'auto' → undefined (detect), 'nft' | 'legacy'. */
export function parseBackendSetting(value: string | undefined): BackendName | undefined {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return undefined;
  if (v === 'nft' || v === 'legacy') return v;
  throw new Error(`TSNET_IPTABLES_BACKEND must be "nft", "legacy" or "auto", not "${value}"`);
}

/** True when an iptables-save dump declares a chain of dockerd's (DOCKER, DOCKER-USER, DOCKER-ISOLATION-…). */
export function hasDockerChains(saveOutput: string): boolean {
  return /^:DOCKER(?:-[A-Z0-9-]+)?\s/m.test(saveOutput);
}

type Probe = { present: boolean; docker: boolean };

async function probe(run: CommandRunner, file: string): Promise<Probe> {
  try {
    const { stdout } = await run(file, []);
    return { present: true, docker: hasDockerChains(stdout) };
  } catch (e) {
    if (e instanceof CommandFailed && e.errno === 'ENOENT') return { present: false, docker: false };
    // The tool exists but failed (no kernel support for that flavour, ...): it cannot be dockerd's.
    return { present: true, docker: false };
  }
}

/**
 * Chooses the flavour that matches the host's dockerd: legacy when the legacy tables hold DOCKER chains
 * and the nf_tables ones do not; nft otherwise (Debian 11+/Ubuntu 20.10+ default). An explicit setting
 * (TSNET_IPTABLES_BACKEND, passed in by the caller) wins. When only one flavour is installed, that one;
 * when neither suffixed tool exists, the plain `iptables-save`/`iptables-restore`.
 */
export async function detectBackend(
  run: CommandRunner,
  setting: BackendName | undefined,
  logger?: Logger,
): Promise<IptablesBackend> {
  if (setting) {
    logger?.info('iptables backend chosen by setting', { backend: setting });
    return backendNamed(setting);
  }
  const [legacy, nft] = await Promise.all([probe(run, 'iptables-legacy-save'), probe(run, 'iptables-nft-save')]);
  let name: BackendName | 'default';
  if (legacy.present && legacy.docker && !nft.docker) name = 'legacy';
  else if (nft.present) name = 'nft';
  else if (legacy.present) name = 'legacy';
  else name = 'default';
  logger?.info('iptables backend detected', {
    backend: name,
    legacyDockerChains: legacy.docker,
    nftDockerChains: nft.docker,
  });
  return backendNamed(name);
}
