// What the global setup provides to every test through vitest's inject().
declare module 'vitest' {
  export interface ProvidedContext {
    /** `host:port` of the memcached every real-service test shares. */
    memcachedAddress: string;
    /** `host:port` of the shared Cloud Datastore emulator (Firestore-in-Datastore mode). */
    datastoreEmulatorAddress: string;
    /** Project id the shared emulator serves. */
    datastoreProjectId: string;
    /** `redis://host:port` of the standalone Valkey (or Redis 7) server every test shares. */
    valkeyUrl: string;
    /** `host:port,host:port,host:port` of the shared three-primary Valkey cluster. */
    valkeyClusterAddresses: string;
  }
}

export {};
