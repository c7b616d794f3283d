// The environment of a call.

/** Writes a line to the node's log for this call. */
export declare function log(...parts: unknown[]): void;
/** Unix time in nanoseconds. */
export declare function timeNow(): bigint;
/** `n` random bytes from the host. */
export declare function randomBytes(n: number): Uint8Array;
/** Fills `buffer` with random bytes and returns it (upstream's form). */
export declare function randomBytes(buffer: Uint8Array): Uint8Array;
/** Bytes in base58 (the Bitcoin alphabet), as `meroctl` prints keys and ids. */
export declare function toBase58(bytes: Uint8Array): string;
/** Bytes in lowercase hex. */
export declare function toHex(bytes: Uint8Array): string;
/** Asks the node to call `functionName` in context `contextId` (32 bytes) once this call has
 * committed, as this node's member there; `params` are the JSON arguments (bytes, a string, or
 * a value to serialise). Nothing runs if this call fails. */
export declare function xcall(contextId: Uint8Array, functionName: string, params?: Uint8Array | string | object): void;
/** The context whose xcall started this call, or null for a call from a client. */
export declare function xcallOrigin(): Uint8Array | null;
/** The 32-byte id of the context this call runs in. */
export declare function contextId(): Uint8Array;
/** The 32-byte public key of the member who made this call. */
export declare function executorId(): Uint8Array;
/** `executorId()` in hex. */
export declare function executorIdHex(): string;
/** `executorId()` in base58. */
export declare function executorIdBase58(): string;
/** `contextId()` in base58, as `meroctl` prints it. */
export declare function contextIdBase58(): string;
