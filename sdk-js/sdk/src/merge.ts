// The app's own merges, which the engine calls while applying a peer's delta when two versions
// of one entity meet: the root state entry, and elements tagged as `@Mergeable` records. The
// rules are the Rust twin's `Mergeable` impls, so twins still write the same bytes:
// - a register keeps the write with the greater stamp (on an exact tie, the greater hash of the
//   value's encoding);
// - a collection field is a handle to entities that merge on their own: kept as is;
// - a `@Mergeable` class merges field by field, or by its `merge` option;
// - anything else is a plain value: the greater Borsh encoding wins (deterministic, so
//   replicas agree; wrap a field in `LwwRegister` for last-writer-wins).
import { host } from "./host";
import { RECORDS, Reader, Writer, decode, encode, recordTag, resolve, rustName } from "./borsh";

function encoded(t: any, v: any): Uint8Array {
  const w = new Writer();
  encode(t, v, w, null);
  return w.finish();
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function plain(t: any, mine: any, theirs: any): any {
  return compareBytes(encoded(t, theirs), encoded(t, mine)) > 0 ? theirs : mine;
}

/** `(time, id)` of a register stamp: u64 then u128, little-endian. */
function stamp(bytes: Uint8Array): [bigint, bigint] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const time = view.getBigUint64(0, true);
  const id = (view.getBigUint64(16, true) << 64n) | view.getBigUint64(8, true);
  return [time, id];
}

function register(t: any, mine: any, theirs: any): any {
  const [a, b] = [stamp(mine._stamp), stamp(theirs._stamp)];
  if (b[0] !== a[0]) return b[0] > a[0] ? theirs : mine;
  if (b[1] !== a[1]) return b[1] > a[1] ? theirs : mine;
  const hash = (r: any) => host.hash(encoded(t.inner_type, r._value));
  return compareBytes(hash(theirs), hash(mine)) > 0 ? theirs : mine;
}

function fields(t: any, mine: any, theirs: any): any {
  const out: any = {};
  for (const f of t.fields) {
    const ft = f.nullable ? { ...f.type, nullable: true } : f.type;
    out[f.name] = mergeValue(ft, mine[f.name], theirs[f.name]);
  }
  return out;
}

/** Merges two versions of a value of type `t`. */
export function mergeValue(t: any, mine: any, theirs: any): any {
  if (t.nullable) return plain(t, mine, theirs);
  if (t.$ref !== undefined) {
    const rule = RECORDS[t.$ref];
    if (!rule) return plain(t, mine, theirs);
    return rule.merge ? rule.merge(mine, theirs) : fields(resolve(t), mine, theirs);
  }
  switch (t.crdt_type) {
    case "lww_register": return register(t, mine, theirs);
    case "unordered_map": case "unordered_set": case "sorted_map": case "sorted_set": case "vector": case "counter":
    case "frozen_storage": case "user_storage": case "rga": case "shared_storage": return mine;
  }
  return plain(t, mine, theirs);
}

/** How elements tagged `name` are stored: map entries `(key, value)` or vector elements. */
interface Layout { order: string; key: any | null; value: any }

/** Every collection type reachable from the state whose values are records tagged `name`,
 * in the order of the Rust twin's type names (its merges are tried in that order). */
function layouts(name: string, root: any): Layout[] {
  const found = new Map<string, Layout>();
  const seen = new Set<string>();
  const visit = (t: any): void => {
    if (!t) return;
    if (t.$ref !== undefined) {
      if (seen.has(t.$ref)) return;
      seen.add(t.$ref);
      visit(resolve(t));
      return;
    }
    if (t.crdt_type === "unordered_map" || t.crdt_type === "sorted_map") {
      // A sorted map registers its entries' merge under the unordered map's name, as in Rust.
      const order = rustName({ ...t, crdt_type: "unordered_map" });
      if (recordTag(t.value) === name) found.set(order, { order, key: t.key, value: t.value });
      visit(t.value);
    } else if (t.crdt_type === "vector") {
      if (recordTag(t.items) === name) found.set(rustName(t), { order: rustName(t), key: null, value: t.items });
      visit(t.items);
    } else if (t.crdt_type === "frozen_storage" || t.crdt_type === "user_storage") {
      visit(t.value);
    } else if (t.crdt_type === "shared_storage") {
      visit(t.inner_type);
    } else if (t.crdt_type === "unordered_set" || t.crdt_type === "sorted_set") {
      visit(t.items);
    } else if (t.crdt_type === "lww_register") {
      visit(t.inner_type);
    } else if (t.kind === "record") {
      for (const f of t.fields) visit(f.type);
    } else if (t.kind === "list") {
      visit(t.items);
    } else if (t.kind === "map") {
      visit(t.key);
      visit(t.value);
    }
  };
  visit(root);
  return [...found.values()].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
}

/** Decodes `value ‖ element id` with `layout`, or null if the bytes do not fit it exactly. */
function split(layout: Layout, data: Uint8Array): [any, any] | null {
  try {
    const r = new Reader(data.subarray(0, data.length - 32));
    const key = layout.key ? decode(layout.key, r) : null;
    const value = decode(layout.value, r);
    return r.at === data.length - 32 ? [key, value] : null;
  } catch {
    return null;
  }
}

/** `__calimero_merge`: the merged data of two versions of an element tagged `name`, or null. */
export function mergeElement(root: any, name: string, mine: Uint8Array, theirs: Uint8Array): Uint8Array | null {
  if (mine.length < 32 || theirs.length < 32) return null;
  for (const layout of layouts(name, root)) {
    const [a, b] = [split(layout, mine), split(layout, theirs)];
    if (!a || !b) continue;
    const w = new Writer();
    if (layout.key) encode(layout.key, a[0], w, null);
    encode(layout.value, mergeValue(layout.value, a[1], b[1]), w, null);
    w.bytes(mine.subarray(mine.length - 32));
    return w.finish();
  }
  return null;
}

/** `__calimero_merge_root`: the two versions of the root state entry merged field by field. */
export function mergeRoot(root: any, mine: Uint8Array, theirs: Uint8Array): Uint8Array | null {
  const layout: Layout = { order: "", key: null, value: root };
  const [a, b] = [split(layout, mine), split(layout, theirs)];
  if (!a || !b) return null;
  const w = new Writer();
  encode(root, fields(resolve(root), a[1], b[1]), w, null);
  w.bytes(mine.subarray(mine.length - 32));
  return w.finish();
}

