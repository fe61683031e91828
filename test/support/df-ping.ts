// Transition shim: moved to test/lab/df-ping.ts; delete once the files of another branch import '../lab'.
export * from '../lab/df-ping';
