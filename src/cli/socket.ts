import fs from 'node:fs';
import path from 'node:path';

export const PLUGIN_DIR = '/run/docker/plugins';
export const SOCKET_NAME = 'tsnet.sock';

export class SocketNotFoundError extends Error {}

/**
 * The daemon's socket: --socket, else TSNET_SOCKET, else the socket install's
 * /run/docker/plugins/tsnet.sock, else the one managed plugin's /run/docker/plugins/<id>/tsnet.sock
 * (Docker puts each managed plugin's sockets in a directory named after its ID). Several managed
 * plugins with a tsnet.sock: the caller must choose with --socket.
 */
export function findSocket(flag: string | undefined, env: NodeJS.ProcessEnv, dir = PLUGIN_DIR): string {
  if (flag) return flag;
  if (env.TSNET_SOCKET) return env.TSNET_SOCKET;
  const direct = path.join(dir, SOCKET_NAME);
  if (isSocket(direct)) return direct;
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    // no plugin directory at all
  }
  // Bounded: one stat per entry of the plugin directory (one per installed plugin).
  const managed = entries.map((e) => path.join(dir, e, SOCKET_NAME)).filter(isSocket);
  if (managed.length === 1) return managed[0]!;
  if (managed.length > 1) throw new SocketNotFoundError(`several tsnet plugins: choose one with --socket (${managed.join(', ')})`);
  throw new SocketNotFoundError(`no tsnet socket found (${direct}, or ${dir}/<plugin id>/${SOCKET_NAME}); is tsnet running? Give one with --socket`);
}

function isSocket(p: string): boolean {
  try {
    return fs.statSync(p).isSocket();
  } catch {
    return false;
  }
}
