// Process helpers for the root-only test harness: spawn with argument arrays (never a shell), collect output,
// time out, start long-running daemons detached in their own process group, and inspect /proc.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export interface RunOptions {
  /** Return the result instead of throwing when the exit code is not 0 (or the command timed out). */
  allowFail?: boolean;
  /** Kill the command (SIGKILL) after this many milliseconds. Default 60 s. */
  timeoutMs?: number;
  /** Environment; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin (then closed). */
  input?: string | Buffer;
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when killed by a signal or by the timeout. */
  code: number;
  signal?: NodeJS.Signals | null;
  timedOut?: boolean;
}

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly result: RunResult) {
    super(
      `command failed (${result.timedOut ? 'timed out' : result.signal ? `signal ${result.signal}` : `exit ${result.code}`}): ` +
        `${argv.map(quote).join(' ')}\n${tail(result.stderr || result.stdout, 2000)}`,
    );
    this.name = 'CommandError';
  }
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a);
}

export function tail(s: string, max: number): string {
  return s.length <= max ? s : '…' + s.slice(s.length - max);
}

const debug = !!process.env.TSNET_HARNESS_DEBUG;

/** Run a command to completion. Throws CommandError on failure unless allowFail. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = [cmd, ...args];
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (debug) process.stderr.write(`[harness] ${argv.map(quote).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(cmd, args, {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      reject(e);
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    child.on('error', (e) => {
      clearTimeout(timer);
      const r: RunResult = { stdout: '', stderr: String(e), code: -1 };
      if (opts.allowFail) resolve(r);
      else reject(new CommandError(argv, r));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r: RunResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? -1,
        signal,
        timedOut,
      };
      if (r.code !== 0 && !opts.allowFail) reject(new CommandError(argv, r));
      else resolve(r);
    });
  });
}

export interface DetachedChild {
  pid: number;
  /** Resolves with the exit code (or -1 for a signal) when the process ends. */
  exited: Promise<number>;
  hasExited(): boolean;
}

/**
 * Start a long-running process in its own session/process group (setsid), stdout+stderr appended to logFile,
 * stdin from /dev/null. The harness keeps no reference that would hold the event loop open.
 */
export function spawnDetached(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): DetachedChild {
  if (debug) process.stderr.write(`[harness] (detached) ${[cmd, ...args].map(quote).join(' ')}\n`);
  const fd = fs.openSync(logFile, 'a');
  let done = false;
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    const exited = new Promise<number>((resolve) => {
      child.on('exit', (code) => {
        done = true;
        resolve(code ?? -1);
      });
      child.on('error', (e) => {
        done = true;
        fs.appendFileSync(logFile, `[harness] spawn failed: ${e}\n`);
        resolve(-1);
      });
    });
    child.unref();
    if (child.pid === undefined) {
      done = true;
      return { pid: -1, exited, hasExited: () => true };
    }
    return { pid: child.pid, exited, hasExited: () => done };
  } finally {
    fs.closeSync(fd);
  }
}

/** True if the process exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Process start time (clock ticks since boot, /proc/PID/stat field 22), or undefined. */
export function pidStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** argv of a process, [] if it is gone. */
export function cmdline(pid: number): string[] {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s, i, a) => !(s === '' && i === a.length - 1));
  } catch {
    return [];
  }
}

export function allPids(): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) if (/^\d+$/.test(e)) pids.push(Number(e));
  return pids;
}

/** Namespace inode of a process ('net', 'mnt', 'uts', ...), e.g. 4026532281, or undefined. */
export function nsInode(pid: number | 'self', kind: string): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${pid}/ns/${kind}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll until every pid is gone or the deadline passes. Returns the pids still alive. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(pidAlive);
  while (left.length && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(pidAlive);
  }
  return left;
}

export function kill(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signal a process group we started (negative pid) and, if that fails, the process itself; wait up to
 * graceMs; SIGKILL the group/process after that. Resolves when gone (or after a last 5 s wait).
 */
export async function terminate(pid: number, signal: NodeJS.Signals, graceMs: number, group = true): Promise<void> {
  if (!pidAlive(pid)) return;
  if (!(group && kill(-pid, signal))) kill(pid, signal);
  if ((await waitGone([pid], graceMs)).length === 0) {
    if (group) kill(-pid, 'SIGKILL'); // stragglers in the group
    return;
  }
  if (!(group && kill(-pid, 'SIGKILL'))) kill(pid, 'SIGKILL');
  await waitGone([pid], 5000);
}

/** "pid (argv…)" list for messages. */
export function pidsInfo(pids: number[]): string {
  return pids.map((p) => `${p} (${cmdline(p).join(' ').slice(0, 100)})`).join(', ');
}
