// Transition shim: moved to test/lab/iptables.ts; delete once the files of another branch import '../lab'.
export * from '../lab/iptables';
