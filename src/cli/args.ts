/** The command line of `tsnet`: a subcommand, its positional arguments and the global flags. */
export interface CliArgs {
  command: string;
  positional: string[];
  json: boolean;
  socket?: string;
  dockerHost?: string;
  help: boolean;
}

export const COMMANDS = ['status', 'networks', 'endpoints', 'ports', 'peers', 'doctor'] as const;

export const USAGE = `Usage: tsnet [--socket PATH] [--docker-host unix:///PATH] [--json] COMMAND [ARG]

Commands:
  status               version, instance, scope, engine, store, counts and background tasks
  networks             tsnet's networks: type, subnet, bridge or parent, VNI, MTU
  endpoints [NETWORK]  endpoints: container, address, MAC, host-side interface
  ports [CONTAINER]    published ports (-p and -P), as \`docker port\` prints them
  peers [NETWORK]      VXLAN peers, where each came from, data address, last heard from
  doctor               checks the host, the firewall and the kernel against tsnet's store

Options:
  --json               machine-readable output (every command)
  --socket PATH        tsnet's plugin socket (default: /run/docker/plugins/tsnet.sock, else the one
                       managed plugin's /run/docker/plugins/<id>/tsnet.sock; env TSNET_SOCKET)
  --docker-host URL    Docker API socket, unix:// only (default: DOCKER_HOST, else /var/run/docker.sock)
`;

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = { command: '', positional: [], json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (flag: string) => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    if (a === '--json') out.json = true;
    else if (a === '-h' || a === '--help' || a === 'help') out.help = true;
    else if (a === '--socket' || a.startsWith('--socket=')) out.socket = value('--socket');
    else if (a === '--docker-host' || a.startsWith('--docker-host=') || a === '-H') out.dockerHost = value('--docker-host');
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (out.command === '') out.command = a;
    else out.positional.push(a);
  }
  if (out.help) return out;
  if (out.command === '') throw new UsageError('no command given');
  if (!(COMMANDS as readonly string[]).includes(out.command)) throw new UsageError(`unknown command "${out.command}"`);
  const maxArgs = out.command === 'endpoints' || out.command === 'ports' || out.command === 'peers' ? 1 : 0;
  if (out.positional.length > maxArgs) throw new UsageError(`${out.command} takes ${maxArgs === 0 ? 'no argument' : 'at most one argument'}`);
  return out;
}

/** The Docker API socket path of --docker-host / DOCKER_HOST (unix:// only). */
export function dockerSocketOf(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = flag ?? env.DOCKER_HOST;
  if (!url) return '/var/run/docker.sock';
  if (url.startsWith('unix://')) return url.slice('unix://'.length);
  if (url.startsWith('/')) return url;
  throw new UsageError(`only unix:// Docker hosts are supported, not ${url}`);
}
