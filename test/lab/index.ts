// The test lab: everything the test tiers and the benchmarks share, behind this one index.
//   waiting:      eventually (poll until a check passes), eventuallyDefined, during (a check holds over a
//                 window), fakeClock (src's Clock driven by hand)
//   docker tier:  DockerHost, Underlay, the busybox image, stale-run cleanup, managed plugin and Swarm,
//                 docker-scenario (requireDocker, withTsnetHost, dk, ...), swarm-mesh (3-node Swarm checks)
//   netns tier:   requireThrowawayNetns and `ip -j` read-backs (netns), ChildNs, the VXLAN two-host lab,
//                 iptables reset, DF_PING
//   unit and api: ApiFixture, IpamFixture, capturingLogger, record builders, RecordingDataPath
export * from './eventually';
export * from './docker-host';
export * from './underlay';
export * from './image';
export * from './cleanup';
export * from './env';
export { allPids, cmdline, CommandError, kill, nsInode, pidAlive, pidsInfo, pidStartTime, run, spawnDetached, tail, terminate, waitGone } from './proc';
export type { DetachedChild, RunOptions, RunResult } from './proc';
export * from './sys';
export * from './unix-http';
export * from './swarm';
export * from './docker-scenario';
export * from './swarm-mesh';
export * from './netns';
export * from './child-ns';
export * from './vxlan-lab';
export * from './iptables';
export * from './df-ping';
export * from './api-fixture';
export * from './ipam-fixture';
export * from './capturing-logger';
export * from './records';
export * from './recording-datapath';
export * from './fake-clock';
export * from './prom-text';
