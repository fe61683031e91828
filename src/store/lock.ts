import fs from 'node:fs';
import path from 'node:path';

/**
 * An exclusive lock on a state directory, held for the life of the process. LMDB's own locking lets a
 * second process open the same environment, so tsnet keeps a lock file of its own: it holds the
 * owner's pid and process start time, and a lock whose owner is gone (kill -9) is taken over.
 */
export class StateDirLock {
  private constructor(private readonly file: string, private readonly token: string) {}

  static acquire(dir: string): StateDirLock {
    const file = path.join(dir, 'tsnet.lock');
    const token = `${process.pid} ${processStartTime(process.pid) ?? 0}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, token, { flag: 'wx', mode: 0o600 });
        return new StateDirLock(file, token);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readHolder(file);
      if (holder && holder.pid !== process.pid && isAlive(holder.pid, holder.startTime)) {
        throw new Error(
          `state directory ${dir} is in use by another tsnet daemon (pid ${holder.pid}); ` +
            'stop it first or give this one its own TSNET_STATE_DIR',
        );
      }
      fs.rmSync(file, { force: true });
    }
    throw new Error(`could not take the lock ${file}`);
  }

  release(): void {
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.token) fs.rmSync(this.file, { force: true });
    } catch {
      /* already gone */
    }
  }
}

function readHolder(file: string): { pid: number; startTime: number } | undefined {
  try {
    const [pid, start] = fs.readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (!Number.isInteger(pid) || pid! <= 0) return undefined;
    return { pid: pid!, startTime: start ?? 0 };
  } catch {
    return undefined;
  }
}

function isAlive(pid: number, startTime: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const actual = processStartTime(pid);
  return actual === undefined || startTime === 0 || actual === startTime;
}

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot; tells a reused pid apart. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}
