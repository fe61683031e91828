import fs from 'node:fs';
import http from 'node:http';
import type { Settings } from '../config/settings';
import type { DataPath } from '../datapath/datapath';
import { NetworkDriver } from '../driver/driver';
import { describe, kindOf } from '../model/errors';
import type { NetworkType, NodePeer } from '../model/records';
import { Ipam } from '../ipam/ipam';
import { withLinkSnapshot } from '../netlink';
import type { Logger } from '../log';
import { callNames, createApp } from '../server/app';
import { createMetricsServer } from '../server/metrics-server';
import { TsnetMetrics } from '../metrics/metrics';
import { TaskStatus } from '../model/task-status';
import { Introspection, type IntrospectionParts } from './introspection';
import { createPluginServer } from '../server/http-server';
import { StateDirLock } from '../store/lock';
import { Store } from '../store/store';
import { reportMemoryOnSignal } from './memory-report';
import { ProcessFigureSource, Watchdog, type RelayFigures } from './watchdog';
import { prepareSocketPath, restrictSocket } from './socket';

export interface DaemonParts {
  datapaths: DataPath[];
  /** CIDRs of the host's addresses and routes (auto pools must avoid them). */
  hostNetworks: () => Promise<string[]>;
  /** Called once the store is open, before reconcile: parts that keep state in it attach here. */
  onStoreOpen?: (store: Store) => void;
  /** This node's own Swarm identity (DiscoverNew Self, or the stored one at start). */
  onSelf?: (self: NodePeer) => Promise<void>;
  /** What `tsnet status` and the metrics read from the other parts (main fills it in). */
  introspection?: IntrospectionParts;
  /** The loopback relays' descriptors against their budget, for the watchdog's figures. */
  relays?: RelayFigures;
}

export interface StopResult {
  networksLeft: number;
}

/** How long SIGTERM waits for in-flight calls before closing connections anyway. */
const SHUTDOWN_GRACE_MS = 8000;

/** The running plugin: store, IPAM, driver, reconcile at start, HTTP on the unix socket. */
export class Daemon {
  private stopping: Promise<StopResult> | undefined;

  private constructor(
    readonly settings: Settings,
    readonly store: Store,
    private readonly lock: StateDirLock,
    readonly driver: NetworkDriver,
    readonly ipam: Ipam,
    /** Set when the host rebooted since the last run: endpoints from before it are dead. */
    readonly rebootedAt: Date | undefined,
    private readonly server: http.Server,
    private readonly log: Logger,
    private readonly stopMemoryReports: () => void,
    readonly metrics: TsnetMetrics,
    readonly introspection: Introspection,
    private readonly metricsServer: http.Server | undefined,
  ) {}

  static async start(settings: Settings, log: Logger, parts: DaemonParts): Promise<Daemon> {
    fs.mkdirSync(settings.stateDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(settings.stateDir, 0o700);
    const lock = await StateDirLock.acquire(settings.stateDir);
    let store: Store | undefined;
    let server: http.Server | undefined;
    let metricsServer: http.Server | undefined;
    const metrics = new TsnetMetrics(callNames());
    // The watchdog samples fds, event-loop delay and the store's size, and warns when one nears its
    // limit (watchdog.ts); SIGUSR2 logs what the memory is made of (memory-report.ts) with its figures.
    let watchdog: Watchdog | undefined;
    const stopReports = reportMemoryOnSignal(log, 'SIGUSR2', () => watchdog?.figures() ?? {});
    const stopMemoryReports = () => {
      stopReports();
      watchdog?.stop();
    };
    try {
      store = Store.open(settings.stateDir);
      watchdog = new Watchdog({ log, source: new ProcessFigureSource(store, parts.relays) });
      watchdog.start();
      parts.onStoreOpen?.(store);
      const rebootedAt = recordBootId(store, log);
      if (rebootedAt) log.info('the host rebooted since the last run: endpoints from before are checked against Docker first');
      const ipam = new Ipam(store, { defaultPools: settings.defaultPools, hostNetworks: parts.hostNetworks, log });
      const datapaths = new Map<NetworkType, DataPath>(parts.datapaths.map((d) => [d.type, d]));
      const driver = new NetworkDriver(store, datapaths, log, { scope: settings.scope, vniRange: settings.vniRange, onSelf: parts.onSelf });
      const introspectionParts = parts.introspection ?? { tasks: [] };
      const introspection = new Introspection(settings, store, driver, ipam, introspectionParts);
      const reconcileTask = new TaskStatus('reconcile');
      introspectionParts.tasks.unshift(reconcileTask);
      const started = Date.now();
      const cpuBefore = process.cpuUsage();
      // One link dump serves every data path's reconcile until one of them changes a link.
      await reconcileTask.track(() => withLinkSnapshot(() => driver.reconcile()), () => `${driver.networkCount()} networks, ${driver.endpointCount()} endpoints`);
      metrics.setReconcileDuration((Date.now() - started) / 1000);
      metrics.attach(introspection.metricSources());
      const cpu = process.cpuUsage(cpuBefore);
      // ms is wall time; cpuMs this process's CPU in it (user + system, the kernel's netlink work
      // included), which a busy host inflates far less than the wall time.
      log.info('reconciled kernel state with the store', {
        ms: Date.now() - started,
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        networks: driver.networkCount(),
        endpoints: driver.endpointCount(),
      });

      await prepareSocketPath(settings.socketPath);
      const inspect = { driver, instance: settings.instance, status: () => introspection.status(), peers: () => introspection.peers() };
      server = createPluginServer(createApp({ driver, ipam, log, inspect, metrics }), log);
      await listen(server, settings.socketPath);
      restrictSocket(settings.socketPath, settings.socketGroup);
      if (settings.metricsAddr) {
        // A port taken or an address not on this host must not keep Docker's networks from their plugin:
        // logged, and /metrics stays on the plugin socket.
        const address = `${settings.metricsAddr.host}:${settings.metricsAddr.port}`;
        const tcp = createMetricsServer(metrics, log);
        try {
          await listenTcp(tcp, settings.metricsAddr.host, settings.metricsAddr.port);
          metricsServer = tcp;
          log.info('metrics served over TCP', { address, path: '/metrics' });
        } catch (err) {
          tcp.close();
          log.error('TSNET_METRICS_ADDR: cannot listen; /metrics is served on the plugin socket only', { address, err: describe(err) });
        }
      }
      log.info('tsnet listening', { socket: settings.socketPath, stateDir: settings.stateDir, instance: settings.instance, scope: settings.scope });
      return new Daemon(settings, store, lock, driver, ipam, rebootedAt, server, log, stopMemoryReports, metrics, introspection, metricsServer);
    } catch (err) {
      stopMemoryReports();
      server?.close();
      metricsServer?.close();
      await store?.close();
      await lock.release();
      throw err;
    }
  }

  /**
   * Stops accepting, lets in-flight calls finish, closes the store, removes the socket. Kernel objects stay.
   * Resolves with the number of networks the store still held (0: the caller may remove host-wide rules).
   */
  stop(): Promise<StopResult> {
    this.stopping ??= (async () => {
      this.log.info('shutting down');
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      this.metricsServer?.close();
      this.metricsServer?.closeAllConnections();
      const force = setTimeout(() => this.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(force);
      await this.driver.settle(); // link deletions queued after their answer
      const networksLeft = this.driver.networks().length;
      this.stopMemoryReports();
      await this.store.close();
      await this.lock.release();
      fs.rmSync(this.settings.socketPath, { force: true });
      this.log.info('stopped', { networksLeft });
      return { networksLeft };
    })();
    return this.stopping;
  }
}

function listen(server: http.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // No window in which the socket exists with a wider mode than 0600.
    const previous = process.umask(0o177);
    server.once('error', reject);
    server.listen(socketPath, () => {
      process.umask(previous);
      server.off('error', reject);
      resolve();
    });
  });
}

function listenTcp(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stores the kernel's boot ID; returns now when it differs from the stored one (a reboot since). */
function recordBootId(store: Store, log: Logger): Date | undefined {
  let bootId: string;
  try {
    bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
  const previous = store.get<string>('meta/boot-id');
  if (previous !== bootId) {
    try {
      store.transact((tx) => tx.put('meta/boot-id', bootId));
    } catch (err) {
      // A full state directory must not keep the daemon from serving reads; the next start retries.
      if (kindOf(err) !== 'unavailable') throw err;
      log.warn('could not record the boot ID', { error: describe(err) });
    }
  }
  return previous !== undefined && previous !== bootId ? new Date() : undefined;
}
