// Docker-tier test harness (root only): see docker-host.ts.
export { DockerHost, stopAllHosts, TSNET_SOCKET } from './docker-host';
export type { HostOptions, ExecOptions } from './docker-host';
export { Underlay } from './underlay';
export { ensureBusyboxImage, busyboxTarball } from './image';
export { cleanupStale } from './cleanup';
export { canRunDocker, TEST_ROOT, NETNS_PREFIX } from './env';
export { CommandError, run } from './proc';
export type { RunResult } from './proc';
export { unixRequest } from './unix-http';
export type { UnixHttpResponse } from './unix-http';
export { buildPluginDir, installManagedPlugin, formSwarm, swarmJoin, pluginLines, waitFor } from './swarm';
export type { SwarmAddresses, PluginLine } from './swarm';
