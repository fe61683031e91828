import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * An exclusive lock on a state directory, held for the life of the process. LMDB's own locking lets a
 * second process open the same environment, and pid files cannot tell two managed plugins apart
 * (each is pid 1 in its own pid namespace), so the lock is a unix socket in the directory that the
 * holder listens on: the kernel closes it when the holder dies, however it dies, and a second daemon
 * that can still connect to it knows the holder is alive. The holder answers each connection with its
 * pid, for the error message.
 */
export class StateDirLock {
  private constructor(private readonly server: net.Server, readonly file: string) {}

  static async acquire(dir: string): Promise<StateDirLock> {
    const file = path.join(dir, 'tsnet.lock');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return new StateDirLock(await listen(file), file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
      const holder = await askHolder(file);
      if (holder !== undefined) {
        throw new Error(
          `state directory ${dir} is in use by another tsnet daemon (${holder}); ` +
            'stop it first or give this one its own TSNET_STATE_DIR',
        );
      }
      fs.rmSync(file, { force: true }); // left by a holder that died
    }
    throw new Error(`could not take the lock ${file}`);
  }

  async release(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.file, { force: true });
  }
}

function listen(file: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((conn) => conn.end(`pid ${process.pid}\n`));
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      server.unref();
      resolve(server);
    });
  });
}

/** "pid N" from a live holder, or undefined when nobody listens on the file any more. */
function askHolder(file: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let text = '';
    let settled = false;
    const done = (value: string | undefined) => {
      if (settled) return;
      settled = true;
      conn.destroy();
      resolve(value);
    };
    const conn = net.connect(file);
    conn.on('data', (chunk: Buffer) => (text += chunk.toString()));
    conn.on('end', () => done(text.trim() || 'unknown pid'));
    conn.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? undefined : `unreachable: ${err.code}`));
    conn.setTimeout(2000, () => done('not answering'));
  });
}
