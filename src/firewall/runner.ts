import { spawn } from 'node:child_process';

/**
 * How the firewall runs iptables tools: a program and an argument array (never a shell), optional stdin.
 * Resolves with the output when the exit code is 0, rejects with a CommandFailed otherwise. Unit tests
 * substitute a recording fake.
 */
export type CommandRunner = (file: string, args: string[], input?: string) => Promise<CommandOutput>;

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

export class CommandFailed extends Error {
  constructor(
    readonly file: string,
    readonly args: string[],
    /** Exit code, or undefined when the program could not be started (see `errno`). */
    readonly code: number | undefined,
    readonly stderr: string,
    /** e.g. 'ENOENT' when the program does not exist. */
    readonly errno?: string,
  ) {
    super(
      `${[file, ...args].join(' ')} failed` +
        (errno ? ` (${errno})` : ` (exit ${code})`) +
        (stderr.trim() ? `: ${stderr.trim().slice(0, 2000)}` : ''),
    );
    this.name = 'CommandFailed';
  }
}

const TIMEOUT_MS = 30_000;

/** The real runner: spawns the program directly, with a timeout so a stuck xtables lock cannot hang tsnet. */
export const execCommand: CommandRunner = (file, args, input) =>
  new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(file, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(new CommandFailed(file, args, undefined, String(e), (e as NodeJS.ErrnoException).code));
      return;
    }
    // The 'error' listener comes first: a spawn that fails (EMFILE, EAGAIN under a pids limit, ENOENT)
    // emits it asynchronously, and an 'error' event without a listener ends the process.
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CommandFailed(file, args, undefined, e.message, e.code));
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandFailed(file, args, code ?? undefined, stderr || (signal ? `killed by ${signal}` : '')));
    });
  });
