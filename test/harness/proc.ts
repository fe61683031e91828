// Transition shim: moved to test/lab/proc.ts; delete once test/docker/swarm*.test.ts import '../lab'.
export * from '../lab/proc';
