#!/usr/bin/env node
/** tsnetd: the plugin daemon. Settings come from TSNET_* variables (README.md, "Settings"). */
import { readSettings } from './config/settings';
import { Daemon } from './daemon/daemon';
import { BridgeDataPath } from './datapath/bridge';
import { Firewall } from './firewall/firewall';
import { createLogger } from './log';
import { listHostNetworks } from './netlink';

/** How often the firewall hooks are re-checked (dockerd restarts and firewall reloads drop them). */
const FIREWALL_CHECK_MS = 10_000;

async function main(): Promise<void> {
  let settings;
  try {
    settings = readSettings();
  } catch (err) {
    console.error(`tsnet: ${(err as Error).message}`);
    process.exit(2);
  }
  const log = createLogger(settings.logLevel);
  const firewall = new Firewall({ instance: settings.instance, backend: settings.iptablesBackend, logger: log });
  const bridge = new BridgeDataPath({ log, instance: settings.instance, firewall });

  let daemon: Daemon;
  try {
    daemon = await Daemon.start(settings, log, { datapaths: [bridge], hostNetworks: listHostNetworks });
  } catch (err) {
    log.error('tsnet could not start', { err: (err as Error).message });
    process.exitCode = 1;
    return;
  }
  const stopWatching = firewall.watch(FIREWALL_CHECK_MS);

  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    log.info('signal received', { signal });
    stopWatching();
    daemon.stop().then(
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
