// The environment of a call.
import { host } from "./host";

/** Writes a line to the node's log for this call. */
export function log(...parts: unknown[]): void {
  host.log(parts.length === 1 && typeof parts[0] === "string"
    ? parts[0]
    : parts.map((p) => (typeof p === "string" ? p : String(p))).join(" "));
}

/** Unix time in nanoseconds. */
export function timeNow(): bigint {
  return BigInt(host.timeNow());
}

/** `n` random bytes from the host, or fills `buffer` with random bytes (upstream's form). */
export function randomBytes(n: number): Uint8Array;
export function randomBytes(buffer: Uint8Array): Uint8Array;
export function randomBytes(arg: number | Uint8Array): Uint8Array {
  if (arg instanceof Uint8Array) {
    arg.set(host.randomBytes(arg.length));
    return arg;
  }
  return host.randomBytes(arg);
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** Bytes in base58 (the Bitcoin alphabet), as `meroctl` prints keys and ids. */
export function toBase58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = "";
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

/** Bytes in lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

/** Asks the node to call `functionName` in context `contextId` (32 bytes) once this call has
 * committed, as this node's member there; `params` are the JSON arguments (bytes, a string, or
 * a value to serialise). Nothing runs if this call fails. */
export function xcall(contextId: Uint8Array, functionName: string, params: Uint8Array | string | object = {}): void {
  if (!(contextId instanceof Uint8Array) || contextId.length !== 32) {
    throw new TypeError("xcall: the context id is 32 bytes");
  }
  const bytes = params instanceof Uint8Array ? params
    : host.utf8Encode(typeof params === "string" ? params : JSON.stringify(params));
  host.xcall(contextId, functionName, bytes);
}

/** The context whose xcall started this call, or null for a call from a client. */
export function xcallOrigin(): Uint8Array | null {
  return host.xcallOrigin();
}

/** The 32-byte id of the context this call runs in. */
export function contextId(): Uint8Array {
  return host.contextId();
}

/** The 32-byte public key of the member who made this call. */
export function executorId(): Uint8Array {
  return host.executorId();
}

/** {@link executorId} in hex. */
export function executorIdHex(): string {
  return toHex(executorId());
}

/** {@link executorId} in base58. */
export function executorIdBase58(): string {
  return toBase58(executorId());
}

/** {@link contextId} in base58, as `meroctl` prints it. */
export function contextIdBase58(): string {
  return toBase58(contextId());
}
