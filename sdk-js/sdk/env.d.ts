// The environment of a call.

/** Writes a line to the node's log for this call. */
export declare function log(...parts: unknown[]): void;
/** Unix time in nanoseconds. */
export declare function timeNow(): bigint;
/** `n` random bytes from the host. */
export declare function randomBytes(n: number): Uint8Array;
/** The 32-byte id of the context this call runs in. */
export declare function contextId(): Uint8Array;
/** The 32-byte public key of the member who made this call. */
export declare function executorId(): Uint8Array;
