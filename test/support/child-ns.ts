// Transition shim: moved to test/lab/child-ns.ts; delete once the files of another branch import '../lab'.
export * from '../lab/child-ns';
