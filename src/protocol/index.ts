/** The wire format: request schemas with their inferred types, reply types and option keys. */
export * from './schemas';
export * from './wire';
export * from './inspect';
