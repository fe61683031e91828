// Transition shim: moved to test/lab/docker-scenario.ts; delete once the files of another branch import '../lab'.
export * from '../lab/docker-scenario';
