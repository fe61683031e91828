#!/usr/bin/env node
/**
 * tsnet: the operator's command (README.md, "Troubleshooting"). It reads a running tsnet over its plugin
 * socket (the read-only /tsnet/v1 paths), Docker's names over the Docker API, and, for `peers` and
 * `doctor`, the host's kernel and firewall with ip, bridge and iptables-save. It changes nothing.
 */
import { DockerApiClient } from '../docker/api-client';
import { dockerSocketOf, parseArgs, UsageError, USAGE } from './args';
import type { CommandContext, Output } from './commands/context';
import { endpoints } from './commands/endpoints';
import { networks } from './commands/networks';
import { peers } from './commands/peers';
import { ports } from './commands/ports';
import { status } from './commands/status';
import { DaemonClient } from './daemon-client';
import { doctor } from './doctor/doctor';
import { findSocket } from './socket';

export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; code: number }> {
  let args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) return { stdout: '', stderr: `tsnet: ${err.message}\n\n${USAGE}`, code: 2 };
    throw err;
  }
  if (args.help) return { stdout: USAGE, stderr: '', code: 0 };
  try {
    const ctx: CommandContext = {
      daemon: new DaemonClient(findSocket(args.socket, env)),
      docker: new DockerApiClient(dockerSocketOf(args.dockerHost, env)),
      now: () => new Date(),
    };
    const arg = args.positional[0];
    const commands: Record<string, () => Promise<Output>> = {
      status: () => status(ctx),
      networks: () => networks(ctx),
      endpoints: () => endpoints(ctx, arg),
      ports: () => ports(ctx, arg),
      peers: () => peers(ctx, arg),
      doctor: () => doctor(ctx),
    };
    const out = await commands[args.command]!();
    const stdout = args.json ? `${JSON.stringify(out.json, null, 2)}\n` : out.text;
    const stderr = (out.warnings ?? []).map((w) => `tsnet: warning: ${w}\n`).join('');
    return { stdout, stderr, code: out.exitCode ?? 0 };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { stdout: '', stderr: `tsnet: ${message}\n`, code: 1 };
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2), process.env).then(({ stdout, stderr, code }) => {
    process.stdout.write(stdout);
    process.stderr.write(stderr);
    process.exitCode = code;
  });
}
