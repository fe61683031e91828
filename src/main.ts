#!/usr/bin/env node
/** tsnetd: the plugin daemon. Settings come from TSNET_* variables (README.md, "Settings"). */
import { NftGeneration } from './netlink/nft-generation';
import path from 'node:path';
import { IpamRelease } from './collector/ipam-release';
import { LeakCollector } from './collector/leak-collector';
import { readSettings } from './config/settings';
import { Daemon } from './daemon/daemon';
import type { IntrospectionParts } from './daemon/introspection';
import { BridgeDataPath } from './datapath/bridge/bridge';
import { MacvlanDataPath } from './datapath/macvlan/macvlan';
import { VxlanDataPath } from './datapath/vxlan/vxlan';
import { DataAddressMap, importLegacyFile, StoreDataAddresses } from './swarm/data-addresses';
import { Firewall } from './firewall/firewall';
import { firewalledNetworks } from './datapath/shared/firewall-network';
import { PortPublisher } from './firewall/ports';
import { RelayBudget } from './firewall/relay-budget';
import { fdSoftLimit } from './daemon/watchdog';
import { DockerApiClient } from './docker/api-client';
import { FirewallBackendCheck } from './docker/firewall-backend-check';
import { createLogger } from './log';
import { listHostNetworks, listUplinkBridges } from './netlink';
import type { Store } from './store/store';
import { DockerNetworkPeers } from './swarm/network-peers';
import { VipBalancer } from './swarm/vip-balancer';
import { VipFirewall } from './firewall/vip-firewall';
import { Conntrack } from './firewall/conntrack';
import { ensureVipHost } from './datapath/vxlan/vip-host';

/** How often the firewall hooks are re-checked (dockerd restarts and firewall reloads drop them). */
const FIREWALL_CHECK_MS = 10_000;
/**
 * Swarm: how often the VIPs of services on tsnet networks are read and programmed (README.md, "Swarm"). A task
 * that goes leaves the rotation within this much of Docker's gossip; each read of a verbose network view makes
 * dockerd log one "Inconsistent driver and libnetwork state" error per endpoint, so not much more often.
 */
const VIP_PASS_MS = 2_000;

async function main(): Promise<void> {
  let settings;
  try {
    settings = readSettings();
  } catch (err) {
    console.error(`tsnet: ${(err as Error).message}`);
    process.exit(2);
  }
  const log = createLogger(settings.logLevel);
  // Swarm: tsnet answers other nodes on this port (swarm/data-addresses.ts); no container may reach it.
  const servesDataAddresses = settings.scope === 'global' && settings.dataAddrPort > 0;
  const rulesetGeneration = new NftGeneration();
  const firewall = new Firewall({
    instance: settings.instance,
    backend: settings.iptablesBackend,
    logger: log,
    uplinkBridges: async () => [...settings.uplinkBridges, ...(await listUplinkBridges())],
    closedHostPorts: servesDataAddresses ? [settings.dataAddrPort] : [],
    rulesetGeneration: () => rulesetGeneration.read(),
  });
  // Published ports: DNAT rules plus a socket holding each host port (reconciled from the store at start).
  // The loopback relays of all published ports share a descriptor budget under the fd limit, so the plugin
  // socket, the store and spawns keep their headroom under any flood (firewall/relay-budget.ts).
  const softLimit = fdSoftLimit();
  const relayBudget = RelayBudget.forSoftLimit(softLimit, log);
  log.info('loopback relay descriptor budget', {
    budget: Number.isFinite(relayBudget.limit) ? relayBudget.limit : 'unlimited',
    fdSoftLimit: softLimit ?? 'unlimited',
  });
  const ports = new PortPublisher(firewall, { logger: log, relayBudget });
  const bridge = new BridgeDataPath({ log, instance: settings.instance, firewall, ports });
  // In Swarm, VXLAN also reads each network's peers from Docker (in the background only).
  const dockerForPeers = settings.scope === 'global' ? new DockerApiClient(settings.dockerSocket) : undefined;
  // In Swarm, nodes tell each other their data-path addresses (--data-path-addr); see swarm/data-addresses.ts.
  const dataAddresses =
    servesDataAddresses
      ? new DataAddressMap({ log, port: settings.dataAddrPort })
      : undefined;
  // The map is persisted in the store (opened by Daemon.start); versions before kept it in this file.
  const attachDataAddresses = (store: Store) => {
    if (!dataAddresses) return;
    const persistence = new StoreDataAddresses(store);
    importLegacyFile(path.join(settings.stateDir, 'vxlan-data-addresses.json'), persistence, log);
    dataAddresses.attach(persistence);
  };
  const vxlan = new VxlanDataPath({
    log,
    instance: settings.instance,
    firewall,
    inputFirewall: firewall,
    ports,
    peerCidrs: settings.peerCidrs,
    dataAddresses,
    peerLists: dockerForPeers ? new DockerNetworkPeers({ docker: dockerForPeers, log }) : undefined,
  });

  // What `tsnet status` and the metrics read; the leak collector's part is added once it exists.
  const introspection: IntrospectionParts = {
    tasks: [firewall.checkTask, vxlan.peerTask],
    firewallBackend: async () => (await firewall.backend()).name,
    peers: () => vxlan.peerReport(),
    firewallRepairs: () => firewall.repairs,
  };

  let daemon: Daemon;
  try {
    daemon = await Daemon.start(settings, log, {
      datapaths: [bridge, new MacvlanDataPath({ log, instance: settings.instance, firewall }), vxlan],
      hostNetworks: listHostNetworks,
      onStoreOpen: attachDataAddresses,
      introspection,
      relays: relayBudget,
      // The answers are given on this node's own Swarm addresses only, once Docker has named them.
      onSelf: dataAddresses ? (self) => dataAddresses.serveSelf(self) : undefined,
    });
  } catch (err) {
    log.error('tsnet could not start', { err: (err as Error).message });
    await ports.close().catch(() => undefined);
    process.exitCode = 1;
    return;
  }
  // Each data path re-asserted its own networks' rules; rules of networks removed while tsnet was down
  // belong to none of them. The rebuild keeps exactly the stored networks' rules (and their ports).
  await firewall.rebuild(firewalledNetworks(daemon.driver.networks())).catch((err) =>
    log.error('firewall rebuild at start failed', { err: String(err) }),
  );
  const stopWatching = firewall.watch(FIREWALL_CHECK_MS);
  const collector = new LeakCollector(daemon.driver, new DockerApiClient(settings.dockerSocket), new IpamRelease(daemon.ipam), log, {
    intervalMs: settings.gcIntervalMs,
    graceMs: settings.gcGraceMs,
    bootedAt: daemon.rebootedAt,
  });
  introspection.tasks.push(collector.task);
  introspection.leakReleases = () => collector.released;
  if (settings.gcIntervalMs > 0) {
    collector.start();
    // After a reboot the dead endpoints are looked for as soon as Docker answers, not a period later.
    if (daemon.rebootedAt) void collector.runOnce();
  }
  // A dockerd on the nftables firewall backend (Docker 29, opt-in) is warned about, in the background.
  const backendCheck = new FirewallBackendCheck(new DockerApiClient(settings.dockerSocket), log);
  backendCheck.start();
  // Swarm: every node balances the VIPs of services on tsnet VXLAN networks for its own containers.
  const vipRules = new VipFirewall({ instance: settings.instance, backendOf: () => firewall.backend(), logger: log });
  const vipBalancer = dockerForPeers
    ? new VipBalancer({
        docker: dockerForPeers,
        networks: () =>
          daemon.driver
            .networks()
            .flatMap((net) => (net.options.type === 'vxlan' && net.datapath.bridgeName ? [{ id: net.id, bridge: net.datapath.bridgeName }] : [])),
        rules: vipRules,
        host: ensureVipHost,
        conntrack: new Conntrack(),
        log,
        dockerSocket: settings.dockerSocket,
        intervalMs: VIP_PASS_MS,
      })
    : undefined;
  vipBalancer?.start();

  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    log.info('signal received', { signal });
    stopWatching();
    void collector.stop();
    void backendCheck.stop();
    const vipStopped = vipBalancer?.stop();
    // Published ports' rules stay (kernel objects outlive tsnet; the next start reconciles them); only
    // the held sockets and their loopback proxies are closed, after the last in-flight call.
    daemon
      .stop()
      .then(async ({ networksLeft }) => {
        await vipStopped;
        await ports.close();
        // No network left (e.g. before `docker plugin rm`): tsnet's chains and hooks go too; the next
        // network brings them back.
        if (networksLeft === 0) {
          if (vipBalancer) {
            await vipRules.apply([]).catch((err) => log.warn('could not remove the VIP chains and hooks', { err: String(err) }));
          }
          await firewall.removeAll().then(
            () => log.info('no network left: firewall chains and hooks removed'),
            (err) => log.warn('could not remove the firewall chains and hooks', { err: String(err) }),
          );
        }
      })
      .then(
        () => process.exit(0),
        (err) => {
          log.error('shutdown failed', { err: String(err) });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
