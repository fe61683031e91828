import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/**
 * Prepares the plugin socket path: creates its directory, refuses a socket another process still
 * serves, and removes a stale one left by a crash.
 */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  if (!fs.existsSync(socketPath)) return;
  if (await answers(socketPath)) {
    throw new Error(`socket ${socketPath} is already served by another process; stop it or set TSNET_SOCKET`);
  }
  fs.rmSync(socketPath, { force: true });
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    const done = (ok: boolean) => {
      conn.destroy();
      resolve(ok);
    };
    conn.once('connect', () => done(true));
    conn.once('error', () => done(false));
    conn.setTimeout(1000, () => done(false));
  });
}

/** Root-only (0600) unless a group is named, then 0660 and owned by that group. */
export function restrictSocket(socketPath: string, group: string | undefined): void {
  if (group === undefined) {
    fs.chmodSync(socketPath, 0o600);
    return;
  }
  const gid = /^\d+$/.test(group) ? Number(group) : groupId(group);
  fs.chownSync(socketPath, 0, gid);
  fs.chmodSync(socketPath, 0o660);
}

function groupId(name: string): number {
  const line = fs
    .readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  if (line) return Number(line.split(':')[2]);
  // Fall back to NSS (LDAP, sssd) through getent; an unknown group is a configuration error.
  try {
    return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
  } catch {
    throw new Error(`TSNET_SOCKET_GROUP: no group named "${name}"`);
  }
}
