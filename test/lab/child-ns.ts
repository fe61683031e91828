/**
 * Extra network namespaces for the netns tier, each held by a child process (`unshare --net sleep`):
 * a namespace is gone when its process is, so a crashed run leaves nothing behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { eventually } from './eventually';

/**
 * Spawns `unshare --net -- sleep 600` and resolves once it runs sleep in its new network namespace
 * (so nsenter into it finds that namespace); kills it and throws when that does not happen within 2 s.
 */
export async function spawnNetnsHolder(what: string): Promise<ChildProcess> {
  const own = readlinkSync('/proc/self/ns/net');
  const child = spawn('unshare', ['--net', '--', 'sleep', '600'], { stdio: 'ignore' });
  try {
    await eventually(
      () => {
        if (readlinkSync(`/proc/${child.pid}/ns/net`) === own) throw new Error('still in our namespace');
        if (!readlinkSync(`/proc/${child.pid}/exe`).endsWith('sleep')) throw new Error('not yet running sleep');
      },
      { timeout: 2000, interval: 10, what: `${what}: its own network namespace` },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** A namespace held by a child process (`unshare --net sleep`): gone when the process is. */
export class ChildNs {
  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(name: string): Promise<ChildNs> {
    const ns = new ChildNs(name, await spawnNetnsHolder(`namespace ${name}`));
    try {
      ns.sh('ip link set lo up');
    } catch (err) {
      ns.stop();
      throw err;
    }
    return ns;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Runs a command in the namespace; returns stdout (throws on failure). */
  exec(args: string[]): string {
    return execFileSync('nsenter', ['-t', String(this.pid), '-n', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Like exec, but returns the exit status instead of throwing. */
  status(args: string[]): number {
    try {
      this.exec(args);
      return 0;
    } catch (err) {
      return (err as { status?: number }).status ?? 1;
    }
  }

  sh(script: string): string {
    return this.exec(['sh', '-ec', script]);
  }

  /** One ping, true when answered. */
  ping(dst: string): boolean {
    return this.status(['busybox', 'ping', '-c', '1', '-W', '2', dst]) === 0;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
