// Transition shim: moved to test/lab/swarm-mesh.ts; delete once the files of another branch import '../lab'.
export * from '../lab/swarm-mesh';
