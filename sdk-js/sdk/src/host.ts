// The engine's native bindings (installed by the engine as `__calimero_host`).
export const host: any = (globalThis as any).__calimero_host;

/** The id of the root state entry (`Id::ROOT_ENTRY`). */
export const ROOT_ENTRY = new Uint8Array(32).fill(0x76);
