// Transition shim: moved to test/lab/netns.ts (where `run` is `runSync`); delete once test/netns/vxlan*.test.ts import '../lab'.
export * from '../lab/netns';
export { runSync as run } from '../lab/netns';
