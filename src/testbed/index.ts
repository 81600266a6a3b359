/** The testbed: declarative netns topologies for integration tests, the demo and benchmarks. */
export * from './exec.js';
export * from './topology.js';
export * from './kernel-vtep.js';
export * from './cleanup.js';
export * from './privilege.js';
export * from './mixed-pods.js';
export * from './etcd.js';
