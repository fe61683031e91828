import path from 'node:path';
import { open } from 'lmdb';
import { cleanupStale } from './cleanup';
import { DockerHost } from './docker-host';
import { canRunDocker } from './env';
import { ensureBusyboxImage } from './image';

export const TSNET_ENTRY = path.resolve(__dirname, '../../src/main.js');
export const IMAGE = 'bb:latest';

/**
 * For a docker-tier suite's `before`: skips the suite, loudly, when no dockerd can run here; otherwise
 * removes what crashed earlier runs left behind.
 */
export async function requireDocker(ctx: Mocha.Context, what?: string): Promise<void> {
  const can = canRunDocker();
  if (!can.ok) {
    console.warn(`*** SKIPPING docker tier${what ? ` (${what})` : ''}: ${can.reason} ***`);
    ctx.skip();
  }
  await cleanupStale();
}

/**
 * One docker-tier host with tsnet running, for a mocha `describe`: skips the suite loudly when no
 * dockerd can run here, and always tears the host down.
 */
export function withTsnetHost(name: string, env: Record<string, string> = {}): { host: () => DockerHost } {
  let host: DockerHost | undefined;
  before(async function () {
    await requireDocker(this);
    host = await DockerHost.start({ name, tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'debug', ...env } } });
    await ensureBusyboxImage(host, IMAGE);
    await host.startTsnet();
  });
  after(async function () {
    if (host && this.currentTest?.state === 'failed') console.error(`--- tsnet log (${host.name}) ---\n${host.tsnetLog().slice(-6000)}`);
    await host?.stop();
  });
  return {
    host: () => {
      if (!host) throw new Error('host not started');
      return host;
    },
  };
}

/** docker CLI on the host; throws with stderr on failure. */
export async function dk(host: DockerHost, ...args: string[]): Promise<string> {
  const r = await host.docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** docker CLI expected to fail; returns stderr. */
export async function dkFails(host: DockerHost, ...args: string[]): Promise<string> {
  const r = await host.docker(args, { allowFail: true });
  if (r.code === 0) throw new Error(`docker ${args.join(' ')} unexpectedly succeeded: ${r.stdout.trim()}`);
  return r.stderr.trim();
}

export async function runSleeper(host: DockerHost, name: string, network: string, ...extra: string[]): Promise<string> {
  return dk(host, 'run', '-d', '--name', name, '--network', network, ...extra, IMAGE, 'sleep', '3600');
}

/** `ip` output inside the host's network namespace (JSON). */
export async function hostIpJson<T = any>(host: DockerHost, ...args: string[]): Promise<T> {
  const r = await host.exec(['ip', '-j', ...args]);
  return JSON.parse(r.stdout || '[]') as T;
}

/** Addresses tsnet's IPAM holds, read straight from its LMDB store (read-only, beside the daemon). */
export function tsnetAllocations(host: DockerHost): string[] {
  const db = open({ path: path.join(host.tsnetStateDir, 'tsnet.mdb'), readOnly: true, compression: false, noSubdir: false });
  try {
    const out: string[] = [];
    for (const { key } of db.getRange({ start: 'ipam/addr/', end: 'ipam/addr/\uffff' })) {
      const hex = String(key).slice(String(key).lastIndexOf('/') + 1);
      if (hex.length === 8) out.push([0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.'));
      else out.push(hex.match(/.{4}/g)!.join(':'));
    }
    return out;
  } finally {
    void db.close();
  }
}
