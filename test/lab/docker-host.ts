// A Docker "host" for the docker test tier: a fresh network namespace plus persistent mount + UTS namespaces
// (pinned to files, entered with nsenter) with private /run/docker, /run/containerd and /etc/docker, a sysfs of
// its own netns, and a private dockerd (data-root, exec-root, socket, pidfile all under a scratch dir). Optionally
// a veth to an underlay bridge namespace (multi-host tests) and the tsnet daemon as a socket plugin.
//
// Everything a host creates is named after its id "<name>-<random>": netns tsnt-<id>, scratch dir
// TEST_ROOT/<id> (with owner.json naming the creating process), cgroup parent /tsnet-test/<id>. stop() removes
// all of it; cleanupStale() (cleanup.ts) removes the same for hosts whose creating process died.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binaries, CGROUP_ROOT, engine, makeOwnedDir, NETNS_PREFIX, randomId, readJson, TEST_ROOT, writeJson } from './env';
import {
  cmdline,
  CommandError,
  DetachedChild,
  kill,
  pidAlive,
  pidsInfo,
  run,
  RunOptions,
  RunResult,
  sleep,
  spawnDetached,
  tail,
  terminate,
  waitGone,
} from './proc';
import {
  cgroupDirs,
  netnsAdd,
  netnsDel,
  netnsPath,
  pidsInCgroups,
  pidsInNs,
  pidsWithCmdline,
  pinnedNsInode,
  removeCgroups,
  removeEmptyCgroupRoots,
  umountAllUnder,
} from './sys';
import { unixRequest, UnixHttpResponse } from './unix-http';

export interface HostOptions {
  /** Short name, [a-z0-9-], at most 12 characters: hostname inside the host, prefix of its id. */
  name: string;
  /** Connect the host to an underlay bridge: veth "p-<name>" in bridgeNs (on `bridge`, default br0) ↔ eth0 here. */
  underlay?: { bridgeNs: string; address: string; bridge?: string };
  /**
   * More underlay links, e.g. a separate data network: the i-th (from 1) is veth "p<i>-<name>" in its
   * bridgeNs ↔ eth<i> here. Another Underlay's attach() fits.
   */
  extraUnderlays?: { bridgeNs: string; address: string; bridge?: string }[];
  /** The tsnet daemon for startTsnet(): node <entry>, with extra environment. */
  tsnet?: { entry: string; env?: Record<string, string> };
  /** Extra dockerd flags. */
  dockerdArgs?: string[];
  /** Default: overlay2, falling back to vfs if dockerd cannot use overlay2 here. */
  storageDriver?: 'overlay2' | 'vfs';
  /** Mount a sysfs of the host's netns on /sys inside the host (keeping the cgroup mounts). Default true. */
  sysfs?: boolean;
}

export interface ExecOptions extends Omit<RunOptions, 'env'> {
  env?: Record<string, string>;
}

/** What teardown needs; persisted as host.json so cleanupStale() can tear down a crashed run's hosts. */
export interface HostRecord {
  kind: 'host';
  id: string;
  name: string;
  dir: string;
  netns: string;
  underlayPeer?: { netns: string; link: string };
  /** The links of HostOptions.extraUnderlays in their bridge namespaces. */
  extraUnderlayPeers?: { netns: string; link: string }[];
}

/** Socket name of tsnet under the host's private /run/docker/plugins (so Docker knows the driver as "tsnet"). */
export const TSNET_SOCKET = '/run/docker/plugins/tsnet.sock';

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,11}$/;

/** Hosts of this process not yet stopped (for stopAllHosts()). */
const liveHosts = new Set<DockerHost>();

/** Stop every host this process started and has not stopped yet (a safety net for a root after-hook). */
export async function stopAllHosts(): Promise<void> {
  await Promise.all([...liveHosts].map((h) => h.stop()));
}

/** Storage driver that worked in this process (so later hosts do not retry overlay2 when it failed once). */
let workingStorageDriver: 'overlay2' | 'vfs' | undefined;

/** process.env without DOCKER_* (so nothing points a CLI at another daemon), plus `extra`. */
function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('DOCKER_')) delete env[k];
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export class DockerHost {
  readonly name: string;
  readonly id: string;
  /** Scratch dir (data-root, exec-root, socket, logs, ns pins, tsnet state). */
  readonly dir: string;
  /** Network namespace name (ip netns). */
  readonly netns: string;
  /** Underlay address (without prefix length), if the host has an underlay link. */
  readonly underlayIp?: string;
  /** Addresses (without prefix length) of HostOptions.extraUnderlays, on eth1, eth2, … in that order. */
  readonly extraUnderlayIps: string[];
  readonly socket: string;
  readonly opts: HostOptions;
  private dockerdChild?: DetachedChild;
  private tsnetChild?: DetachedChild;
  /** Further tsnet instances (startTsnetInstance), stopped with the host. */
  private readonly extraTsnets: DetachedChild[] = [];
  private stopping?: Promise<void>;
  private readonly record: HostRecord;

  private constructor(opts: HostOptions, id: string, dir: string) {
    this.opts = opts;
    this.name = opts.name;
    this.id = id;
    this.dir = dir;
    this.netns = NETNS_PREFIX + id;
    this.socket = path.join(dir, 'docker.sock');
    this.underlayIp = opts.underlay?.address.split('/')[0];
    this.extraUnderlayIps = (opts.extraUnderlays ?? []).map((u) => u.address.split('/')[0]!);
    this.record = { kind: 'host', id, name: opts.name, dir, netns: this.netns };
  }

  /** Create the host and start its dockerd (answering within 30 s). On failure tears down what it made. */
  static async start(opts: HostOptions): Promise<DockerHost> {
    if (!NAME_RE.test(opts.name)) throw new Error(`host name must match ${NAME_RE}: ${JSON.stringify(opts.name)}`);
    if ((opts.extraUnderlays?.length ?? 0) > 9) throw new Error('at most 9 extra underlays (veth names p1-… to p9-…)');
    binaries(); // throws early if something is missing
    const id = randomId(opts.name);
    const dir = makeOwnedDir(id);
    const host = new DockerHost(opts, id, dir);
    liveHosts.add(host);
    try {
      await host.setup();
    } catch (e) {
      await host.stop();
      throw e;
    }
    return host;
  }

  // ---- paths --------------------------------------------------------------------------------------------

  get dataRoot(): string {
    return path.join(this.dir, 'data');
  }
  get execRoot(): string {
    return path.join(this.dir, 'exec');
  }
  get pidFile(): string {
    return path.join(this.dir, 'dockerd.pid');
  }
  get dockerdLogFile(): string {
    return path.join(this.dir, 'dockerd.log');
  }
  get tsnetLogFile(): string {
    return path.join(this.dir, 'tsnet.log');
  }
  get tsnetStateDir(): string {
    return path.join(this.dir, 'tsnet-state');
  }
  private get mntPin(): string {
    return path.join(this.dir, 'ns', 'mnt');
  }
  private get utsPin(): string {
    return path.join(this.dir, 'ns', 'uts');
  }
  /** nsenter arguments entering this host's net + mount + uts namespaces, ending with "--". */
  get nsenterArgs(): string[] {
    return [`--net=${netnsPath(this.netns)}`, `--mount=${this.mntPin}`, `--uts=${this.utsPin}`, '--'];
  }

  // ---- setup --------------------------------------------------------------------------------------------

  private async setup(): Promise<void> {
    const b = binaries();
    writeJson(path.join(this.dir, 'host.json'), this.record);

    // 1. network namespace (+ underlay link), starting from a real host's defaults: a new namespace
    //    copies ip_forward from the namespace that made it, and a dockerd that finds forwarding already on
    //    leaves the FORWARD policy at ACCEPT.
    await netnsAdd(this.netns);
    await run(b.nsenter, [`--net=${netnsPath(this.netns)}`, '--', 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward && echo 0 > /proc/sys/net/ipv6/conf/all/forwarding']);
    const u = this.opts.underlay;
    if (u) {
      const link = `p-${this.name}`;
      this.record.underlayPeer = { netns: u.bridgeNs, link };
      writeJson(path.join(this.dir, 'host.json'), this.record);
      await run(b.ip, ['-n', u.bridgeNs, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.netns]);
      await run(b.ip, ['-n', u.bridgeNs, 'link', 'set', link, 'master', u.bridge ?? 'br0', 'up']);
      await run(b.ip, ['-n', this.netns, 'addr', 'add', u.address, 'dev', 'eth0']);
      await run(b.ip, ['-n', this.netns, 'link', 'set', 'eth0', 'up']);
    }
    for (const [i, extra] of (this.opts.extraUnderlays ?? []).entries()) {
      const link = `p${i + 1}-${this.name}`;
      const ifname = `eth${i + 1}`;
      // Recorded before it exists: teardown deletes it (or finds nothing) either way.
      this.record.extraUnderlayPeers = [...(this.record.extraUnderlayPeers ?? []), { netns: extra.bridgeNs, link }];
      writeJson(path.join(this.dir, 'host.json'), this.record);
      await run(b.ip, ['-n', extra.bridgeNs, 'link', 'add', link, 'type', 'veth', 'peer', 'name', ifname, 'netns', this.netns]);
      await run(b.ip, ['-n', extra.bridgeNs, 'link', 'set', link, 'master', extra.bridge ?? 'br0', 'up']);
      await run(b.ip, ['-n', this.netns, 'addr', 'add', extra.address, 'dev', ifname]);
      await run(b.ip, ['-n', this.netns, 'link', 'set', ifname, 'up']);
    }

    // 2. persistent mount + uts namespaces, pinned to files on a private bind mount
    const nsDir = path.join(this.dir, 'ns');
    fs.mkdirSync(nsDir);
    await run(b.mount, ['--bind', nsDir, nsDir]);
    await run(b.mount, ['--make-private', nsDir]);
    fs.writeFileSync(this.mntPin, '');
    fs.writeFileSync(this.utsPin, '');
    await run(b.nsenter, [
      `--net=${netnsPath(this.netns)}`,
      '--',
      b.unshare,
      `--mount=${this.mntPin}`,
      `--uts=${this.utsPin}`,
      '--propagation',
      'private',
      '/bin/true',
    ]);

    // 3. private /run/docker (plugin sockets), /run/containerd, /etc/docker (engine key) inside the namespace.
    //    The mount points must exist on the shared root fs: create them (empty dirs) if missing.
    for (const d of ['/run/docker', '/run/containerd', '/etc/docker']) fs.mkdirSync(d, { recursive: true });
    const inNs = (args: string[]) => run(b.nsenter, [...this.nsenterArgs, ...args]);
    await inNs([b.hostname, this.name]);
    await inNs([b.mount, '-t', 'tmpfs', '-o', 'mode=755', 'tsnt-run-docker', '/run/docker']);
    await inNs([b.mkdir, '-p', '/run/docker/plugins']);
    await inNs([b.mount, '-t', 'tmpfs', '-o', 'mode=711', 'tsnt-run-containerd', '/run/containerd']);
    await inNs([b.mount, '-t', 'tmpfs', '-o', 'mode=755', 'tsnt-etc-docker', '/etc/docker']);
    if (this.opts.sysfs !== false) {
      // a sysfs of this netns (/sys/class/net shows the host's own links), keeping the cgroup mounts
      await inNs([b.mkdir, '-p', '/run/docker/.cg']);
      await inNs([b.mount, '--rbind', '/sys/fs/cgroup', '/run/docker/.cg']);
      await inNs([b.mount, '-t', 'sysfs', 'sysfs', '/sys']);
      await inNs([b.mount, '--move', '/run/docker/.cg', '/sys/fs/cgroup']);
      await inNs([b.rmdir, '/run/docker/.cg']);
    }

    // 4. dockerd
    await this.startDockerd();
  }

  // ---- dockerd ------------------------------------------------------------------------------------------

  /** Is our dockerd answering /_ping? */
  async dockerdAlive(): Promise<boolean> {
    try {
      return (await unixRequest(this.socket, 'GET', '/_ping', undefined, 2000)).status === 200;
    } catch {
      return false;
    }
  }

  /**
   * Start (or restart after stopDockerd) this host's dockerd; resolves when it answers (within
   * `answerWithinMs`, default 30 s: more for a restore that waits on an absent plugin, ~15 s per lookup).
   */
  async startDockerd(answerWithinMs = 30_000): Promise<void> {
    if (this.dockerdChild && !this.dockerdChild.hasExited()) throw new Error(`${this.name}: dockerd already running`);
    const drivers: Array<'overlay2' | 'vfs'> = this.opts.storageDriver
      ? [this.opts.storageDriver]
      : workingStorageDriver
        ? [workingStorageDriver]
        : ['overlay2', 'vfs'];
    let lastErr: Error | undefined;
    for (const drv of drivers) {
      try {
        await this.tryDockerd(drv, answerWithinMs);
        if (!this.opts.storageDriver) workingStorageDriver = drv;
        return;
      } catch (e) {
        lastErr = e as Error;
        const log = this.dockerdLog();
        if (drv === 'overlay2' && drivers.length > 1 && /overlay/i.test(log)) {
          fs.appendFileSync(this.dockerdLogFile, `[harness] overlay2 failed; retrying with vfs\n`);
          fs.rmSync(this.dataRoot, { recursive: true, force: true });
          continue;
        }
        throw e;
      }
    }
    throw lastErr ?? new Error('no storage driver');
  }

  private async tryDockerd(storageDriver: string, answerWithinMs: number): Promise<void> {
    const b = binaries();
    const args = [
      ...this.nsenterArgs,
      b.dockerd,
      '--data-root',
      this.dataRoot,
      '--exec-root',
      this.execRoot,
      '-H',
      `unix://${this.socket}`,
      '--pidfile',
      this.pidFile,
      '--storage-driver',
      storageDriver,
      '--cgroup-parent',
      `/${CGROUP_ROOT}/${this.id}`,
      ...(this.opts.dockerdArgs ?? []),
    ];
    const prefix = engine().pathPrefix;
    const PATH = [...prefix, process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':');
    const child = spawnDetached(b.nsenter, args, this.dockerdLogFile, cleanEnv({ DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1', PATH }));
    this.dockerdChild = child;
    const deadline = Date.now() + answerWithinMs;
    for (;;) {
      if (child.hasExited()) {
        throw new Error(`${this.name}: dockerd exited during start; log ${this.dockerdLogFile}:\n${tail(this.dockerdLog(), 3000)}`);
      }
      if (await this.dockerdAlive()) return;
      if (Date.now() > deadline) {
        await terminate(child.pid, 'SIGKILL', 0, false);
        throw new Error(`${this.name}: dockerd did not answer within ${answerWithinMs / 1000} s; log:\n${tail(this.dockerdLog(), 3000)}`);
      }
      await sleep(100);
    }
  }

  /** pid of our dockerd (from the pidfile, or the spawned child), only if its cmdline names our exec-root. */
  dockerdPid(): number | undefined {
    const candidates: number[] = [];
    try {
      candidates.push(Number(fs.readFileSync(this.pidFile, 'utf8').trim()));
    } catch {
      // no pidfile
    }
    if (this.dockerdChild && !this.dockerdChild.hasExited()) candidates.push(this.dockerdChild.pid);
    for (const pid of candidates) if (pidAlive(pid) && isOurDockerd(pid, this.execRoot)) return pid;
    return undefined;
  }

  /**
   * Stop our dockerd: SIGTERM (only after checking its cmdline names our exec-root), SIGKILL after graceMs.
   * dockerd stops its containers (with their stop timeouts), plugins and containerd itself.
   */
  async stopDockerd(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', graceMs = 30_000): Promise<void> {
    const pid = this.dockerdPid();
    if (pid !== undefined) {
      kill(pid, signal);
      if ((await waitGone([pid], graceMs)).length) {
        fs.appendFileSync(this.dockerdLogFile, `[harness] dockerd ${pid} still running after ${graceMs} ms: SIGKILL\n`);
        kill(pid, 'SIGKILL');
        await waitGone([pid], 5000);
      }
    }
    this.dockerdChild = undefined;
  }

  dockerdLog(): string {
    try {
      return fs.readFileSync(this.dockerdLogFile, 'utf8');
    } catch {
      return '';
    }
  }

  // ---- commands ------------------------------------------------------------------------------------------

  /** The docker CLI against this host's dockerd. Throws on a non-zero exit unless allowFail. */
  docker(args: string[], opts: ExecOptions = {}): Promise<RunResult> {
    const env = cleanEnv({ DOCKER_CONFIG: path.join(this.dir, 'cli'), ...opts.env });
    return run(binaries().docker, ['-H', `unix://${this.socket}`, ...args], { ...opts, env });
  }

  /** Run a command inside this host's net + mount + uts namespaces (DOCKER_HOST points at its dockerd). */
  exec(cmd: string[], opts: ExecOptions = {}): Promise<RunResult> {
    const env = cleanEnv({ DOCKER_HOST: `unix://${this.socket}`, DOCKER_CONFIG: path.join(this.dir, 'cli'), ...opts.env });
    return run(binaries().nsenter, [...this.nsenterArgs, ...cmd], { ...opts, env });
  }

  /** Host pid of a running container's init process. */
  async containerPid(name: string): Promise<number> {
    const r = await this.docker(['inspect', '-f', '{{.State.Pid}}', name]);
    const pid = Number(r.stdout.trim());
    if (!(pid > 0)) throw new Error(`${this.name}: container ${name} is not running (pid ${r.stdout.trim()})`);
    return pid;
  }

  /** Run a host binary in a container's network namespace (nsenter -t PID -n). Uses the host's resolv.conf. */
  async inContainerNs(name: string, cmd: string[], opts: ExecOptions = {}): Promise<RunResult> {
    const pid = await this.containerPid(name);
    return run(binaries().nsenter, ['-t', String(pid), '-n', '--', ...cmd], { ...opts, env: cleanEnv(opts.env ?? {}) });
  }

  // ---- tsnet ---------------------------------------------------------------------------------------------

  /** pid of the running tsnet daemon, if any. */
  tsnetPid(): number | undefined {
    return this.tsnetChild && !this.tsnetChild.hasExited() ? this.tsnetChild.pid : undefined;
  }

  /**
   * Start tsnet (node <entry>) inside the host's namespaces with TSNET_SOCKET=/run/docker/plugins/tsnet.sock
   * (the host's private /run/docker) and TSNET_STATE_DIR=<dir>/tsnet-state, output appended to <dir>/tsnet.log;
   * resolves when the socket answers POST /Plugin.Activate with 200 (≤ 20 s). `fdLimit`: tsnet starts with
   * RLIMIT_NOFILE soft = hard = fdLimit (prlimit execs it: the pid is still tsnet's).
   */
  async startTsnet(env: Record<string, string> = {}, opts: { fdLimit?: number } = {}): Promise<void> {
    const entry = this.opts.tsnet?.entry;
    if (!entry) throw new Error(`${this.name}: HostOptions.tsnet.entry not set`);
    if (this.tsnetPid() !== undefined) throw new Error(`${this.name}: tsnet already running`);
    fs.mkdirSync(this.tsnetStateDir, { recursive: true });
    const childEnv = cleanEnv({
      TSNET_SOCKET,
      TSNET_STATE_DIR: this.tsnetStateDir,
      // This host's dockerd, for tsnet's background tasks (leak collector).
      TSNET_DOCKER_SOCKET: this.socket,
      ...this.opts.tsnet?.env,
      ...env,
    });
    const limit = opts.fdLimit === undefined ? [] : [fs.existsSync('/usr/bin/prlimit') ? '/usr/bin/prlimit' : 'prlimit', `--nofile=${opts.fdLimit}:${opts.fdLimit}`];
    const child = spawnDetached(binaries().nsenter, [...this.nsenterArgs, ...limit, process.execPath, path.resolve(entry)], this.tsnetLogFile, childEnv);
    this.tsnetChild = child;
    const sock = `/proc/${child.pid}/root${childEnv.TSNET_SOCKET}`;
    const deadline = Date.now() + 20_000;
    let last = '';
    for (;;) {
      if (child.hasExited()) {
        this.tsnetChild = undefined;
        throw new Error(`${this.name}: tsnet exited during start; log ${this.tsnetLogFile}:\n${tail(this.tsnetLog(), 3000)}`);
      }
      try {
        const r = await unixRequest(sock, 'POST', '/Plugin.Activate', '', 2000);
        if (r.status === 200) return;
        last = `HTTP ${r.status} ${r.body}`;
      } catch (e) {
        last = String(e);
      }
      if (Date.now() > deadline) {
        await this.stopTsnet('SIGKILL');
        throw new Error(`${this.name}: tsnet did not answer Plugin.Activate within 20 s (${last}); log:\n${tail(this.tsnetLog(), 3000)}`);
      }
      await sleep(50);
    }
  }

  /**
   * A further tsnet instance on this host (README, "Several instances"): TSNET_INSTANCE=instance, its
   * socket /run/docker/plugins/<instance>.sock (the driver name `instance`), its own state directory and
   * log <dir>/tsnet-<instance>.log. Resolves when it answers Plugin.Activate; returns the stop function.
   */
  async startTsnetInstance(instance: string, env: Record<string, string> = {}): Promise<{ stop: () => Promise<void>; log: () => string }> {
    const entry = this.opts.tsnet?.entry;
    if (!entry) throw new Error(`${this.name}: HostOptions.tsnet.entry not set`);
    const stateDir = path.join(this.dir, `tsnet-${instance}-state`);
    const logFile = path.join(this.dir, `tsnet-${instance}.log`);
    fs.mkdirSync(stateDir, { recursive: true });
    const socket = `/run/docker/plugins/${instance}.sock`;
    const childEnv = cleanEnv({ ...this.opts.tsnet?.env, TSNET_SOCKET: socket, TSNET_STATE_DIR: stateDir, TSNET_DOCKER_SOCKET: this.socket, TSNET_INSTANCE: instance, ...env });
    const child = spawnDetached(binaries().nsenter, [...this.nsenterArgs, process.execPath, path.resolve(entry)], logFile, childEnv);
    this.extraTsnets.push(child);
    const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
    const stop = async () => {
      if (child.hasExited()) return;
      await terminate(child.pid, 'SIGTERM', 10_000, true);
      await Promise.race([child.exited, sleep(1000)]);
    };
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.hasExited()) throw new Error(`${this.name}: tsnet instance ${instance} exited during start:\n${tail(log(), 3000)}`);
      const r = await unixRequest(`/proc/${child.pid}/root${socket}`, 'POST', '/Plugin.Activate', '', 2000).catch(() => undefined);
      if (r?.status === 200) return { stop, log };
      if (Date.now() > deadline) {
        await terminate(child.pid, 'SIGKILL', 0, true);
        throw new Error(`${this.name}: tsnet instance ${instance} did not answer within 20 s:\n${tail(log(), 3000)}`);
      }
      await sleep(50);
    }
  }

  /** Stop tsnet: the signal to its process group, SIGKILL after 10 s. Resolves when it is gone. */
  async stopTsnet(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.tsnetChild;
    this.tsnetChild = undefined;
    if (!child || child.hasExited()) return;
    await terminate(child.pid, signal, signal === 'SIGKILL' ? 0 : 10_000, true);
    await Promise.race([child.exited, sleep(1000)]);
  }

  tsnetLog(): string {
    try {
      return fs.readFileSync(this.tsnetLogFile, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Path, usable from the test process, of a socket under the host's private /run/docker/plugins
   * (through /proc/PID/root of a process living in the host's mount namespace).
   */
  pluginSocketPath(sockName = 'tsnet.sock'): string {
    const pid = this.tsnetPid() ?? this.dockerdPid();
    if (pid === undefined) throw new Error(`${this.name}: neither tsnet nor dockerd runs; no way into the mount namespace`);
    return `/proc/${pid}/root/run/docker/plugins/${sockName}`;
  }

  /** POST a plugin-protocol call (e.g. '/NetworkDriver.GetCapabilities') straight to a plugin socket. */
  pluginCall(urlPath: string, body: unknown = {}, sockName = 'tsnet.sock'): Promise<UnixHttpResponse> {
    return unixRequest(this.pluginSocketPath(sockName), 'POST', urlPath, body, 10_000);
  }

  // ---- teardown ------------------------------------------------------------------------------------------

  /**
   * Remove everything: containers (rm -f), dockerd (SIGTERM, SIGKILL after 30 s), tsnet, any process left in
   * the host's namespaces or cgroups, the pins and mounts, the netns, the underlay link, the cgroup dirs and the
   * scratch dir. Idempotent; never throws (problems are printed).
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop().finally(() => liveHosts.delete(this));
    return this.stopping;
  }

  /** With TSNET_TEST_KEEP_LOGS=<dir>: copy dockerd.log and tsnet.log to <dir>/<id>/ before the scratch dir goes. */
  private keepLogs(): void {
    const keep = process.env.TSNET_TEST_KEEP_LOGS;
    if (!keep) return;
    const to = path.join(keep, this.id);
    fs.mkdirSync(to, { recursive: true });
    for (const f of [this.dockerdLogFile, this.tsnetLogFile]) if (fs.existsSync(f)) fs.copyFileSync(f, path.join(to, path.basename(f)));
  }

  private async doStop(): Promise<void> {
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
      try {
        await fn();
      } catch (e) {
        problems.push(`${what}: ${e instanceof CommandError ? e.message : String(e)}`);
      }
    };
    await step('remove containers', async () => {
      if (!(await this.dockerdAlive())) return;
      const ids = (await this.docker(['ps', '-aq'], { timeoutMs: 15_000 })).stdout.split(/\s+/).filter(Boolean);
      if (ids.length) await this.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 30_000 });
    });
    await step('stop dockerd', () => this.stopDockerd());
    await step('stop tsnet', () => this.stopTsnet());
    await step('stop further tsnet instances', () =>
      Promise.all(this.extraTsnets.filter((c) => !c.hasExited()).map((c) => terminate(c.pid, 'SIGTERM', 10_000, true))),
    );
    await step('keep logs', () => this.keepLogs());
    problems.push(...(await teardownRecord(this.record)));
    if (problems.length) process.stderr.write(`[harness] ${this.name} (${this.id}) teardown problems:\n  ${problems.join('\n  ')}\n`);
  }
}

function isOurDockerd(pid: number, execRoot: string): boolean {
  const argv = cmdline(pid);
  const i = argv.indexOf('--exec-root');
  return i >= 0 && argv[i + 1] === execRoot;
}

/**
 * Tear down what a host record names, whether its creator is this process (after the graceful steps) or a dead
 * run (cleanupStale). Returns the problems met; never throws.
 */
export async function teardownRecord(rec: HostRecord, dockerdGraceMs = 30_000): Promise<string[]> {
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${String(e)}`);
    }
  };
  const execRoot = path.join(rec.dir, 'exec');

  // A dockerd still running (e.g. stop() could not stop it): SIGTERM, SIGKILL after dockerdGraceMs.
  await step('stale dockerd', async () => {
    const pids = pidsWithCmdline(execRoot).filter((p) => isOurDockerd(p, execRoot));
    for (const p of pids) kill(p, 'SIGTERM');
    const left = await waitGone(pids, dockerdGraceMs);
    for (const p of left) kill(p, 'SIGKILL');
    await waitGone(left, 5000);
  });

  // Everything else that belongs to the host: in its netns or mount ns, in its cgroups, or naming its dir.
  await step('left-over processes', async () => {
    const pids = new Set<number>();
    const netIno = pinnedNsInode(netnsPath(rec.netns));
    if (netIno !== undefined) for (const p of pidsInNs('net', netIno)) pids.add(p);
    const mntIno = pinnedNsInode(path.join(rec.dir, 'ns', 'mnt'));
    if (mntIno !== undefined) for (const p of pidsInNs('mnt', mntIno)) pids.add(p);
    for (const p of pidsInCgroups(cgroupDirs(rec.id))) pids.add(p);
    for (const p of pidsWithCmdline(rec.dir + '/')) pids.add(p);
    pids.delete(process.pid);
    const list = [...pids];
    for (const p of list) kill(p, 'SIGKILL');
    const left = await waitGone(list, 5000);
    if (left.length) problems.push(`processes still alive: ${pidsInfo(left)}`);
  });

  await step('unmount', () => umountAllUnder(rec.dir));
  await step('underlay links', async () => {
    for (const u of [...(rec.underlayPeer ? [rec.underlayPeer] : []), ...(rec.extraUnderlayPeers ?? [])]) {
      if (fs.existsSync(netnsPath(u.netns))) await run(binaries().ip, ['-n', u.netns, 'link', 'del', u.link], { allowFail: true, timeoutMs: 10_000 });
    }
  });
  await step('netns', () => netnsDel(rec.netns));
  await step('cgroups', async () => {
    await removeCgroups(cgroupDirs(rec.id));
    removeEmptyCgroupRoots();
  });
  await step('scratch dir', async () => {
    if (!rec.dir.startsWith(TEST_ROOT + '/')) throw new Error(`refusing to remove ${rec.dir}: not under ${TEST_ROOT}`);
    for (let i = 0; i < 3; i++) {
      try {
        fs.rmSync(rec.dir, { recursive: true, force: true });
        return;
      } catch (e) {
        if (i === 2) throw e;
        await umountAllUnder(rec.dir);
        await sleep(200);
      }
    }
  });
  return problems;
}

/** Read a host record from a scratch dir (cleanup). */
export function readHostRecord(dir: string): HostRecord | undefined {
  const r = readJson<HostRecord>(path.join(dir, 'host.json'));
  return r && r.kind === 'host' ? r : undefined;
}
