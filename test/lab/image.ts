// The test image: busybox-static (/bin/busybox + a symlink per applet in /bin), imported with `docker import`
// (no registry here). The tarball is built once per process and removed when the process exits.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binaries, makeOwnedDir, randomId } from './env';
import { run } from './proc';

/** The subset of DockerHost this module needs. */
interface ImageTarget {
  docker(args: string[], opts?: { allowFail?: boolean; timeoutMs?: number }): Promise<{ code: number }>;
}

let tarball: Promise<string> | undefined;

async function buildTarball(): Promise<string> {
  const b = binaries();
  const dir = makeOwnedDir(randomId('img'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'root', 'var', 'run']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.copyFileSync(b.busybox, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = (await run(b.busybox, ['--list'])).stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a));
  for (const a of applets) {
    const p = path.join(root, 'bin', a);
    if (!fs.existsSync(p)) fs.symlinkSync('busybox', p);
  }
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  const tar = path.join(dir, 'busybox.tar');
  await run(b.tar, ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tar, '.']);
  return tar;
}

/** Path of the busybox rootfs tarball (built on first use). */
export function busyboxTarball(): Promise<string> {
  tarball ??= buildTarball().catch((e) => {
    tarball = undefined;
    throw e;
  });
  return tarball;
}

/** Make `tag` (default bb:latest) exist on the host: `docker import` of the busybox tarball, CMD /bin/sh. */
export async function ensureBusyboxImage(host: ImageTarget, tag = 'bb:latest'): Promise<void> {
  if ((await host.docker(['image', 'inspect', tag], { allowFail: true })).code === 0) return;
  const tar = await busyboxTarball();
  await host.docker(['import', '--change', 'CMD ["/bin/sh"]', tar, tag], { timeoutMs: 120_000 });
}
