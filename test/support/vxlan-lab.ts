// Transition shim: moved to test/lab/vxlan-lab.ts; delete once the files of another branch import '../lab'.
export * from '../lab/vxlan-lab';
