// The environment of a call.
import { host } from "./host";

/** Writes a line to the node's log for this call. */
export function log(...parts: unknown[]): void {
  host.log(parts.map((p) => (typeof p === "string" ? p : String(p))).join(" "));
}

/** Unix time in nanoseconds. */
export function timeNow(): bigint {
  return BigInt(host.timeNow());
}

/** `n` random bytes from the host. */
export function randomBytes(n: number): Uint8Array {
  return host.randomBytes(n);
}

/** The 32-byte id of the context this call runs in. */
export function contextId(): Uint8Array {
  return host.contextId();
}

/** The 32-byte public key of the member who made this call. */
export function executorId(): Uint8Array {
  return host.executorId();
}
